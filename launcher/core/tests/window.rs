//! The real launcher window under Xvfb with the real daemon and the tiny model, in its
//! screenshot mode: it shows the welcome, generates an image through the Generate page,
//! then photographs every page in zh-CN and en-US. The test fails on any QML warning or
//! error in the log; the screenshots stay in `<target>/debug/screenshots/` to look at.

mod common;

use std::path::Path;
use std::process::Command;

use common::{binary, put_tiny_model};

const PAGES: [&str; 6] = ["welcome", "generate", "img2img", "gallery", "pnginfo", "settings"];

#[test]
fn the_launcher_generates_and_shows_every_page_in_both_languages_without_qml_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("xdg-data/ra");
    put_tiny_model(&data);
    let launcher = binary("ra-launcher");
    let shots = launcher.parent().unwrap().join("screenshots");
    let runtime = dir.path().join("run");
    let _ = std::fs::remove_dir_all(&shots);
    for d in [&shots, &runtime] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::set_permissions(&runtime, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    assert!(
        Path::new("/usr/bin/xvfb-run").is_file(),
        "xvfb-run is missing: run scripts/test.sh, which installs it"
    );
    let out = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x800x24"])
        .arg(&launcher)
        .env("QT_QPA_PLATFORM", "xcb")
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LANGUAGE")
        .env("HOME", dir.path())
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("XDG_DATA_HOME", dir.path().join("xdg-data"))
        .env("XDG_CONFIG_HOME", dir.path().join("xdg-config"))
        .env("RA_DAEMON", binary("ra-daemon"))
        .env("RA_DAEMON_ARGS", "--no-session-bus --listen 127.0.0.1:0")
        .env("RA_SCREENSHOT_DIR", &shots)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    for bad in ["qml", "QML", "ReferenceError", "TypeError", "Binding loop", "Polish loop"] {
        assert!(!log.contains(bad), "the launcher logged a QML problem:\n{log}");
    }

    for page in PAGES {
        let read = |locale: &str| {
            let file = shots.join(format!("{page}-{locale}.png"));
            let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            ra_wire::png_text::decode_rgb(&bytes).unwrap()
        };
        let (zh, en) = (read("zh-CN"), read("en-US"));
        assert_eq!((zh.width, zh.height), (1100, 720), "{page}");
        // Same page, other language: the text pixels differ.
        assert_ne!(zh.rgb, en.rgb, "{page}");
    }

    // The image was generated through the window, with its parameters in the file.
    let outputs: Vec<_> = std::fs::read_dir(data.join("outputs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    let text = ra_wire::png_text::read_parameters(&std::fs::read(&outputs[0]).unwrap())
        .unwrap()
        .unwrap();
    assert!(text.starts_with("a lighthouse at dusk\nNegative prompt: blurry\nSteps: 4"), "{text}");
    // The daemon is stopped with the window, and the settings remember the welcome.
    assert!(!runtime.join("ra/daemon.sock").exists());
    let settings = std::fs::read_to_string(dir.path().join("xdg-config/ra/launcher.toml")).unwrap();
    assert!(settings.contains("welcomed = true"), "{settings}");
}
