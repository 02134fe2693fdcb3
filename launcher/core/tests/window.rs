//! The real launcher window with the real daemon and the tiny model, rendered on Qt's
//! offscreen platform: it starts the daemon, shows that it runs, renders Chinese and
//! English, and logs no QML warning or error.

mod common;

use std::process::Command;

use common::{binary, put_tiny_model};

#[test]
fn the_window_starts_the_daemon_and_renders_both_languages_without_qml_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = binary("ra-daemon");
    put_tiny_model(&dir.path().join("data"));
    let shots = dir.path().join("shots");
    let runtime = dir.path().join("run");
    for d in [&shots, &runtime] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::set_permissions(
        &runtime,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let out = Command::new(binary("ra-launcher"))
        .env("QT_QPA_PLATFORM", "offscreen")
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LANGUAGE")
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("XDG_DATA_HOME", dir.path().join("xdg-data"))
        .env("RA_DAEMON", &daemon)
        .env(
            "RA_DAEMON_ARGS",
            format!(
                "--data-dir {} --no-session-bus --listen 127.0.0.1:0",
                dir.path().join("data").display()
            ),
        )
        .env("RA_SCREENSHOT_DIR", &shots)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    for bad in ["qml", "QML", "ReferenceError", "TypeError", "Binding loop"] {
        assert!(
            !log.contains(bad),
            "the launcher logged a QML problem:\n{log}"
        );
    }
    let zh = std::fs::read(shots.join("main-zh-CN.png")).unwrap();
    let en = std::fs::read(shots.join("main-en-US.png")).unwrap();
    let zh = ra_wire::png_text::decode_rgb(&zh).unwrap();
    let en = ra_wire::png_text::decode_rgb(&en).unwrap();
    assert_eq!((zh.width, zh.height), (1100, 720));
    // Same window, different language: the text pixels differ.
    assert_ne!(zh.rgb, en.rgb);
    // The daemon is stopped with the window.
    assert!(!runtime.join("ra/daemon.sock").exists());
}
