//! The real launcher window under Xvfb with the real daemon and the tiny model, in its
//! screenshot mode: it shows the welcome, generates an image through the Generate page,
//! then starts installing the model pack its settings offer (served slowly by a loopback
//! server, so the Downloads page shows it under way), then photographs every page in
//! zh-CN and en-US. The test fails on any QML warning or error in the log; the
//! screenshots stay in `<target>/debug/screenshots/` to look at.

mod common;
#[path = "../../../library/tests/support/http_server.rs"]
mod http_server;
#[path = "../../../library/tests/support/safetensors.rs"]
mod support;

use std::path::Path;
use std::process::Command;

use common::{binary, put_tiny_model};

const PAGES: [&str; 10] = [
    "welcome", "generate", "img2img", "gallery", "pnginfo", "models", "packs", "downloads", "updates", "settings",
];

/// A pack with the tiny model (already here, found by its sha256) and a LoRA that the
/// server sends slowly; its manifest is at `dir/pack.toml`.
fn offer_pack(dir: &Path, tiny: &Path, server: &http_server::Server) -> std::path::PathBuf {
    let lora = support::lora(1 << 19, 7);
    let sha = |bytes: &[u8]| ra_library::hash::sha256_reader(bytes).unwrap();
    server.serve(
        "/ink.safetensors",
        http_server::Served::new(std::sync::Arc::new(lora.clone())).throttle(8 << 10, std::time::Duration::from_millis(500)),
    );
    let tiny_bytes = std::fs::read(tiny).unwrap();
    let manifest = format!(
        r#"id = "starter"
version = "1.0.0"
[name]
zh-CN = "入门包"
en-US = "Starter pack"
[description]
zh-CN = "一个小模型和一个水墨 LoRA。"
en-US = "A tiny model and an ink LoRA."

[[models]]
name = "Tiny"
file = "tiny.safetensors"
kind = "checkpoint"
categories = ["测试"]
tier = "official"
urls = ["http://127.0.0.1:9/tiny.safetensors"]
size = {}
sha256 = "{}"
license = "MIT"

[[models]]
name = "Ink"
file = "ink.safetensors"
kind = "lora"
categories = ["国风"]
tier = "community"
urls = ["{}"]
size = {}
sha256 = "{}"
license = "MIT"
"#,
        tiny_bytes.len(),
        sha(&tiny_bytes),
        server.url("/ink.safetensors"),
        lora.len(),
        sha(&lora)
    );
    let path = dir.join("pack.toml");
    std::fs::write(&path, manifest).unwrap();
    path
}

#[test]
fn the_launcher_generates_and_shows_every_page_in_both_languages_without_qml_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("xdg-data/ra");
    put_tiny_model(&data);
    let server = http_server::Server::start();
    let pack = offer_pack(dir.path(), &data.join("models/Stable-diffusion/tiny.safetensors"), &server);
    let config = dir.path().join("xdg-config/ra");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("launcher.toml"), format!("pack_sources = [{:?}]\n", pack.display().to_string())).unwrap();
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
    // The Models page listed the library: the tiny model is in it, hashed.
    let lib = ra_library::store::Library::open(&data.join("library.sqlite")).unwrap();
    let models = lib.search(&Default::default()).unwrap();
    assert!(models.iter().any(|m| m.name == "tiny" && m.sha256.len() == 64), "{models:?}");
    // The pack install started from the window: the LoRA was on its way, as a `.part`
    // (nothing unverified under its final name), and the pack is not recorded yet.
    assert!(!server.seen_for("/ink.safetensors").is_empty(), "the window never asked for the LoRA");
    assert!(!data.join("models/Lora/ink.safetensors").exists());
    assert!(lib.packs().unwrap().is_empty());

    // The daemon is stopped with the window, and the settings remember the welcome.
    assert!(!runtime.join("ra/daemon.sock").exists());
    let settings = std::fs::read_to_string(dir.path().join("xdg-config/ra/launcher.toml")).unwrap();
    assert!(settings.contains("welcomed = true"), "{settings}");
}
