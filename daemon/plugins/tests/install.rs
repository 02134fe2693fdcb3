//! Installing, packing, enabling and removing plugins; bad packages leave nothing behind.

mod common;

use std::io::Write;
use std::path::Path;

use ra_plugins::{package, Limits, Source};

/// Names in the user plugins folder other than state.json: no staging leftovers.
fn user_folder(host: &common::Host) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(host.dir.path().join("plugins"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "state.json")
        .collect();
    names.sort();
    names
}

fn zip_with(path: &Path, entries: &[(&str, &[u8])]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, data) in entries {
        zip.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn shipped_plugins_are_found_and_enabled_and_cannot_be_uninstalled() {
    let host = common::host(Limits::DEFAULT);
    let upscale = host.plugins.get("upscale").unwrap();
    assert_eq!((upscale.source, upscale.enabled, upscale.status), (Source::Bundled, true, "ready"));
    assert_eq!(upscale.name["zh-CN"], "放大器");
    let err = host.plugins.uninstall("upscale").unwrap_err();
    assert!(err.to_string().contains("comes with RA") && err.to_string().contains("disable it"), "{err}");
    host.plugins.set_enabled("upscale", false).unwrap();
    assert!(host.plugins.upscalers().is_empty());
    // The choice is kept across restarts.
    let config = ra_plugins::PluginsConfig::under(host.dir.path(), Some(common::built().0.clone()));
    let again = ra_plugins::Plugins::open(config, std::sync::Arc::new(ra_plugins::NoModels)).unwrap();
    assert!(!again.get("upscale").unwrap().enabled);
}

#[test]
fn a_packed_plugin_installs_runs_and_uninstalls() {
    let host = common::host(Limits::STRICT);
    let folder = common::testing_plugin("hostile");
    let pack = host.dir.path().join("hostile.raplugin");
    package::pack(&folder.join("plugin.toml"), None, &pack).unwrap();
    let info = host.plugins.install(&pack).unwrap();
    assert_eq!((info.id.as_str(), info.source, info.enabled), ("hostile", Source::User, true));
    assert_eq!(user_folder(&host), ["hostile"]);
    let out = host.plugins.action("hostile", "echo", "[1,2]", Vec::new()).unwrap();
    assert_eq!(out.json, "[1,2]");

    host.plugins.set_enabled("hostile", false).unwrap();
    let err = host.plugins.action("hostile", "echo", "[]", Vec::new()).unwrap_err();
    assert_eq!(err.code(), "plugin_disabled");
    host.plugins.set_enabled("hostile", true).unwrap();

    // Installing again replaces it in place.
    host.plugins.install(&folder).unwrap();
    assert_eq!(user_folder(&host), ["hostile"]);

    host.plugins.uninstall("hostile").unwrap();
    assert!(user_folder(&host).is_empty());
    assert_eq!(host.plugins.get("hostile").unwrap_err().code(), "plugin_not_found");
}

#[test]
fn bad_packages_are_refused_with_a_reason_and_leave_nothing() {
    let host = common::host(Limits::STRICT);
    let dir = host.dir.path();
    let manifest = std::fs::read_to_string(common::testing_plugin("hostile").join("plugin.toml")).unwrap();
    let wasm = std::fs::read(common::testing_plugin("hostile").join("ra_plugin_hostile.wasm")).unwrap();

    let not_zip = dir.join("not-zip.raplugin");
    std::fs::write(&not_zip, b"hello").unwrap();
    let escape = dir.join("escape.raplugin");
    zip_with(&escape, &[("plugin.toml", manifest.as_bytes()), ("../../evil.txt", b"x")]);
    let no_manifest = dir.join("no-manifest.raplugin");
    zip_with(&no_manifest, &[("ra_plugin_hostile.wasm", &wasm)]);
    let future = dir.join("future.raplugin");
    let future_manifest = manifest.replace("api = \"0.1.0\"", "api = \"2.0.0\"");
    zip_with(&future, &[("plugin.toml", future_manifest.as_bytes()), ("ra_plugin_hostile.wasm", &wasm)]);
    let garbage = dir.join("garbage.raplugin");
    zip_with(&garbage, &[("plugin.toml", manifest.as_bytes()), ("ra_plugin_hostile.wasm", b"\0asm nonsense")]);
    let missing_wasm = dir.join("missing-wasm.raplugin");
    zip_with(&missing_wasm, &[("plugin.toml", manifest.as_bytes())]);

    let cases = [
        (&not_zip, "plugin_package", "not a .raplugin (zip) file"),
        (&escape, "plugin_package", "points outside the plugin's folder"),
        (&no_manifest, "plugin_package", "no plugin.toml"),
        (&future, "plugin_api_unsupported", "plugin API 2.0.0, which this RA does not support (supported: 0.1.0)"),
        (&garbage, "plugin_component", "not a usable RA plugin"),
        (&missing_wasm, "plugin_package", "it has no ra_plugin_hostile.wasm"),
    ];
    for (path, code, message) in cases {
        let err = host.plugins.install(path).unwrap_err();
        assert_eq!(err.code(), code, "{}: {err}", path.display());
        assert!(err.to_string().contains(message), "{}: {err}", path.display());
        assert!(user_folder(&host).is_empty(), "{} left {:?}", path.display(), user_folder(&host));
    }
    assert!(!dir.join("evil.txt").exists());
    // The shipped plugins still work.
    assert!(!host.plugins.upscalers().is_empty());
}

#[test]
fn settings_are_checked_against_the_manifest() {
    let host = common::host(Limits::STRICT);
    let folder = host.dir.path().join("with-settings");
    std::fs::create_dir_all(&folder).unwrap();
    let manifest = std::fs::read_to_string(common::testing_plugin("hostile").join("plugin.toml")).unwrap()
        + "\n[[settings]]\nkey = \"mode\"\ntype = \"choice\"\nchoices = [\"calm\", \"wild\"]\ndefault = \"calm\"\nlabel = { zh-CN = \"模式\", en-US = \"Mode\" }\n";
    std::fs::write(folder.join("plugin.toml"), manifest).unwrap();
    std::fs::copy(common::testing_plugin("hostile").join("ra_plugin_hostile.wasm"), folder.join("ra_plugin_hostile.wasm")).unwrap();
    host.plugins.install(&folder).unwrap();

    let set = |json: &str| host.plugins.set_settings("hostile", &serde_json::from_str(json).unwrap());
    let info = set(r#"{"mode": "wild"}"#).unwrap();
    assert_eq!(info.settings[0].value, "wild");
    let err = set(r#"{"mode": "furious"}"#).unwrap_err().to_string();
    assert!(err.contains("\"furious\" is not one of"), "{err}");
    let err = set(r#"{"volume": 11}"#).unwrap_err().to_string();
    assert!(err.contains("has no setting \"volume\""), "{err}");
    assert_eq!(host.plugins.get("hostile").unwrap().settings[0].value, "wild");
}
