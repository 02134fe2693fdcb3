//! Plugins through the real daemon: the shipped plugins built from `plugins/`, a
//! hostile one installed over HTTP, all driven on loopback.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

mod common;
use common::{b64, built_plugins, data_dir, decode, http, http_bytes, json_of, png, post, start, Daemon};

const DAEMON: &str = common::DAEMON;

/// The daemon with tight plugin limits, so hostile plugins are stopped quickly.
fn daemon(data: &Path) -> Daemon {
    built_plugins();
    let config = data.join("daemon.toml");
    std::fs::write(&config, "plugin_call_seconds = 3.0\nplugin_memory_mib = 64\n").unwrap();
    start(data, &["--config", config.to_str().unwrap()])
}

/// A deterministic test card: gradients, a hard edge and texture.
fn card(width: u32, height: u32) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| {
        let edge = if x * 3 > width { 200 } else { 30 };
        image::Rgb([(x * 255 / width) as u8, edge + ((x * 7 + y * 13) % 17) as u8 * 3, (y * 255 / height) as u8])
    })
}

#[test]
fn shipped_plugins_are_listed_and_lanczos_upscales_like_an_independent_lanczos() {
    let data = data_dir();
    let d = daemon(data.path());
    let (status, _, b) = http(&d.addr, "GET", "/ra/v1/plugins", None, None);
    assert_eq!(status, 200);
    let list = json_of(&b);
    for id in ["upscale", "invisible-watermark", "styles"] {
        let p = list["plugins"].as_array().unwrap().iter().find(|p| p["id"] == id).unwrap_or_else(|| panic!("{id}: {list}"));
        assert_eq!((p["enabled"].as_bool(), p["source"].as_str(), p["status"].as_str()), (Some(true), Some("bundled"), Some("ready")), "{p}");
    }

    let (_, _, b) = http(&d.addr, "GET", "/sdapi/v1/upscalers", None, None);
    let upscalers = json_of(&b);
    let lanczos = upscalers.as_array().unwrap().iter().find(|u| u["name"] == "Lanczos 2x").unwrap();
    assert_eq!((lanczos["scale"].as_f64(), lanczos["plugin"].as_str()), (Some(2.0), Some("upscale")));

    let input = card(37, 23);
    let (status, out) = post(&d, "/sdapi/v1/extra-single-image", json!({
        "image": b64(&png(&input)), "upscaler_1": "Lanczos 2x", "upscaling_resize": 2
    }));
    assert_eq!(status, 200, "{out}");
    let got = decode(out["image"].as_str().unwrap());
    assert_eq!(got.dimensions(), (74, 46));
    let reference = image::imageops::resize(&input, 74, 46, image::imageops::FilterType::Lanczos3);
    let diffs: Vec<i32> = got.as_raw().iter().zip(reference.as_raw()).map(|(a, b)| (*a as i32 - *b as i32).abs()).collect();
    let mean = diffs.iter().sum::<i32>() as f64 / diffs.len() as f64;
    assert!(mean < 0.75 && *diffs.iter().max().unwrap() <= 8, "mean {mean}");

    // Bad requests say what is wrong.
    let (status, err) = post(&d, "/sdapi/v1/extra-single-image", json!({"image": b64(&png(&input)), "upscaler_1": "ESRGAN 9x"}));
    assert_eq!((status, err["code"].as_str()), (404, Some("plugin_hook_not_found")), "{err}");
    assert!(err["error"].as_str().unwrap().contains("Lanczos 2x"), "{err}");
    let (status, err) = post(&d, "/sdapi/v1/extra-single-image", json!({"image": "%%%", "upscaler_1": "Lanczos 2x"}));
    assert_eq!((status, err["detail"][0]["loc"][1].as_str()), (422, Some("image")), "{err}");
    let (status, err) = post(&d, "/sdapi/v1/extra-single-image", json!({"image": b64(&png(&input)), "upscaler_1": "Lanczos 2x", "upscaling_resize": 0}));
    assert_eq!(status, 422, "{err}");
}

#[test]
fn styles_and_wildcards_expand_into_the_prompt_in_the_infotext() {
    let data = data_dir();
    let folder = data.path().join("plugin-data/styles");
    std::fs::create_dir_all(folder.join("wildcards")).unwrap();
    std::fs::write(
        folder.join("styles.csv"),
        "name,prompt,negative_prompt\nCinematic,\"cinematic still of {prompt}, film grain\",\"cartoon, lowres\"\n",
    )
    .unwrap();
    std::fs::write(folder.join("wildcards/colour.txt"), "# colours\nred\ngreen\nblue\n").unwrap();
    let d = daemon(data.path());

    let (_, _, b) = http(&d.addr, "GET", "/sdapi/v1/prompt-styles", None, None);
    assert_eq!(json_of(&b), json!([{"name": "Cinematic", "prompt": "cinematic still of {prompt}, film grain", "negative_prompt": "cartoon, lowres"}]));

    let job = json!({"prompt": "a __colour__ cat", "negative_prompt": "blurry", "styles": ["Cinematic"], "steps": 1, "width": 64, "height": 64, "seed": 7});
    let (status, out) = post(&d, "/sdapi/v1/txt2img", job.clone());
    assert_eq!(status, 200, "{out}");
    let info: Value = serde_json::from_str(out["info"].as_str().unwrap()).unwrap();
    let infotext = info["infotexts"][0].as_str().unwrap();
    let first_line = infotext.lines().next().unwrap();
    let colour = ["red", "green", "blue"].into_iter().find(|c| first_line == format!("cinematic still of a {c} cat, film grain"));
    assert!(colour.is_some(), "{infotext}");
    assert!(infotext.contains("\nNegative prompt: blurry, cartoon, lowres\n"), "{infotext}");
    assert_eq!(info["styles"], json!(["Cinematic"]));
    // The seed reproduces the wildcard's choice.
    let (_, again) = post(&d, "/sdapi/v1/txt2img", job);
    let again: Value = serde_json::from_str(again["info"].as_str().unwrap()).unwrap();
    assert_eq!(again["infotexts"][0].as_str().unwrap().lines().next(), Some(first_line));

    // An unknown style fails the job with the plugin's reason.
    let (status, err) = post(&d, "/sdapi/v1/txt2img", json!({"prompt": "x", "styles": ["Nope"], "steps": 1, "width": 64, "height": 64}));
    assert!(status >= 400, "{err}");
    assert!(err.to_string().contains("no style named \\\"Nope\\\" in styles.csv (known: Cinematic)"), "{err}");
}

#[test]
fn the_watermark_survives_a_png_round_trip_and_reads_back() {
    let data = data_dir();
    let d = daemon(data.path());
    let (status, _, b) = http(&d.addr, "PUT", "/ra/v1/plugins/invisible-watermark/settings", Some(&json!({"text": "RA"})), None);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&b));
    let (status, out) = post(&d, "/sdapi/v1/txt2img", json!({"prompt": "a lighthouse", "steps": 2, "width": 256, "height": 256, "seed": 11}));
    assert_eq!(status, 200, "{out}");
    let image = out["images"][0].as_str().unwrap().to_string();
    let (status, read) = post(&d, "/ra/v1/plugins/invisible-watermark/actions/read", json!({"images": [image]}));
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["output"]["text"], "RA", "{read}");

    // Switched off, the same job leaves no mark.
    http(&d.addr, "PUT", "/ra/v1/plugins/invisible-watermark/settings", Some(&json!({"txt2img": false})), None);
    let (_, out) = post(&d, "/sdapi/v1/txt2img", json!({"prompt": "a lighthouse", "steps": 2, "width": 256, "height": 256, "seed": 11}));
    let (_, read) = post(&d, "/ra/v1/plugins/invisible-watermark/actions/read", json!({"images": [out["images"][0]]}));
    assert_ne!(read["output"]["text"], "RA", "{read}");

    // Bad inputs to the action.
    let (status, err) = post(&d, "/ra/v1/plugins/invisible-watermark/actions/read", json!({"images": []}));
    assert_eq!((status, err["code"].as_str()), (502, Some("plugin_failed")), "{err}");
    assert!(err["error"].as_str().unwrap().contains("exactly one image"), "{err}");
    let (status, err) = post(&d, "/ra/v1/plugins/invisible-watermark/actions/erase", json!({}));
    assert_eq!((status, err["code"].as_str()), (404, Some("plugin_hook_not_found")), "{err}");
    let (status, err) = post(&d, "/ra/v1/plugins/invisible-watermark/actions/read", json!({"inputs": 1}));
    assert_eq!(status, 422, "{err}");
}

#[test]
fn a_hostile_plugin_installed_over_http_is_contained_and_the_daemon_keeps_serving() {
    let data = data_dir();
    let d = daemon(data.path());
    let pack = data.path().join("hostile.raplugin");
    let out = Command::new(DAEMON)
        .args(["plugins", "pack", built_plugins().1.join("hostile").to_str().unwrap(), "--out", pack.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (status, _, b) = http_bytes(&d.addr, "POST", "/ra/v1/plugins", &std::fs::read(&pack).unwrap(), "application/zip", None);
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&b));
    assert_eq!(json_of(&b)["id"], "hostile");

    let serving = || {
        let (status, _, b) = http(&d.addr, "GET", "/ra/v1/status", None, None);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&b));
    };
    let act = |name: &str, input: Value| post(&d, &format!("/ra/v1/plugins/hostile/actions/{name}"), json!({"input": input}));
    for (action, code, says) in [
        ("spin", "plugin_timeout", "deadline of 3 s"),
        ("allocate", "plugin_memory_cap", "memory cap of 64 MiB"),
        ("read-file", "plugin_failed", "read failed"),
        ("panic", "plugin_crashed", "panics on purpose"),
    ] {
        let (status, err) = act(action, json!({}));
        assert_eq!((status, err["code"].as_str()), (502, Some(code)), "{action}: {err}");
        assert!(err["error"].as_str().unwrap().contains(says), "{action}: {err}");
        serving();
    }
    let (status, out) = act("echo", json!({"still": "here"}));
    assert_eq!((status, &out["output"]), (200, &json!({"still": "here"})));
    let (status, err) = post(&d, "/sdapi/v1/extra-single-image", json!({"image": b64(&png(&card(8, 8))), "upscaler_1": "Wrong size"}));
    assert_eq!((status, err["code"].as_str()), (502, Some("plugin_bad_return")), "{err}");

    // Bad packages: a clear refusal and nothing left in the plugins folder.
    let (status, _, b) = http_bytes(&d.addr, "POST", "/ra/v1/plugins", b"not a zip", "application/zip", None);
    assert_eq!((status, json_of(&b)["code"].as_str()), (422, Some("plugin_package")));
    let leftovers: Vec<String> = std::fs::read_dir(data.path().join("plugins"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "state.json" && n != "hostile")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Bundled plugins are disabled, not removed; installed ones go.
    let (status, _, b) = http(&d.addr, "DELETE", "/ra/v1/plugins/upscale", None, None);
    assert_eq!((status, json_of(&b)["code"].as_str()), (409, Some("plugin_bundled")));
    let (status, _, _) = http(&d.addr, "DELETE", "/ra/v1/plugins/hostile", None, None);
    assert_eq!(status, 204);
    let (status, _, _) = http(&d.addr, "GET", "/ra/v1/plugins/hostile", None, None);
    assert_eq!(status, 404);
    drop(d);

    // The command line sees the same folder.
    let out = Command::new(DAEMON)
        .args(["plugins", "list", "--data-dir", data.path().to_str().unwrap()])
        .env("XDG_CONFIG_HOME", data.path().join("no-config"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.starts_with("upscale ") && l.contains("bundled") && l.ends_with("(enabled)")), "{text}");
    assert!(!text.contains("hostile"), "{text}");
}

/// The SDK README's steps, run as written: copy the template, point it at the SDK,
/// build, pack, install over HTTP, see it change a job and answer its action.
#[test]
fn an_extension_author_can_follow_the_sdk_readme() {
    let data = data_dir();
    let d = daemon(data.path());
    let sdk = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../plugin-sdk")).canonicalize().unwrap();
    let work = tempfile::tempdir().unwrap();
    let crate_dir = work.path().join("my-plugin");
    std::fs::create_dir_all(crate_dir.join("src")).unwrap();
    for file in ["Cargo.toml", "plugin.toml", "src/lib.rs"] {
        std::fs::copy(sdk.join("template").join(file), crate_dir.join(file)).unwrap();
    }
    let cargo_toml = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    assert!(cargo_toml.contains("path = \"..\""), "the README's sed expects this line");
    std::fs::write(crate_dir.join("Cargo.toml"), cargo_toml.replace("path = \"..\"", &format!("path = {:?}", sdk.display().to_string()))).unwrap();

    // As an author would: their own target folder, not the test run's.
    let build = Command::new("cargo")
        .args(["build", "--release", "--target", "wasm32-wasip2", "--quiet"])
        .current_dir(&crate_dir)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap();
    assert!(build.status.success(), "{}", String::from_utf8_lossy(&build.stderr));
    let pack = Command::new(DAEMON).args(["plugins", "pack", "."]).current_dir(&crate_dir).output().unwrap();
    assert!(pack.status.success(), "{}", String::from_utf8_lossy(&pack.stderr));
    let package = crate_dir.join("my-plugin-0.1.0.raplugin");
    assert_eq!(String::from_utf8_lossy(&pack.stdout).trim(), "my-plugin-0.1.0.raplugin");

    let (status, _, b) = http_bytes(&d.addr, "POST", "/ra/v1/plugins", &std::fs::read(&package).unwrap(), "application/zip", None);
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&b));
    let (status, out) = post(&d, "/sdapi/v1/txt2img", json!({"prompt": "a cat", "steps": 1, "width": 64, "height": 64}));
    assert_eq!(status, 200, "{out}");
    let info: Value = serde_json::from_str(out["info"].as_str().unwrap()).unwrap();
    let infotext = info["infotexts"][0].as_str().unwrap();
    assert!(infotext.starts_with("a cat, masterpiece\n") && infotext.contains("My plugin: masterpiece"), "{infotext}");
    let (status, out) = post(&d, "/ra/v1/plugins/my-plugin/actions/hello", json!({"input": {"from": "me"}}));
    assert_eq!((status, out), (200, json!({"output": {"hello": {"from": "me"}}, "images": []})));
}
