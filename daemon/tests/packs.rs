//! Model packs end to end through the `ra-daemon` binary: a manifest and its models on a
//! loopback HTTP server, `packs install`, the library as `models list` shows it, the
//! daemon's `/sdapi/v1/sd-models`, and the refusals that leave nothing behind.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::{http, json_of, start, DAEMON};

/// Serves the files in `dir` over HTTP/1.1 on loopback; everything else is a 404.
fn serve_dir(dir: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                reader.read_line(&mut request).unwrap_or(0);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let path = request.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_string();
                let mut stream = stream;
                match std::fs::read(dir.join(&path)) {
                    Ok(body) if !path.contains("..") => {
                        let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                        let _ = stream.write_all(&body);
                    }
                    _ => {
                        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

fn ra(home: &Path, args: &[&str]) -> Output {
    Command::new(DAEMON)
        .args(args)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("share"))
        .output()
        .unwrap()
}

fn sha256(path: &Path) -> String {
    ra_library::hash::sha256_file(path).unwrap()
}

/// The tiny checkpoint and a tiny upscaler on the server, and a manifest naming them
/// (the main URL of each is missing, so the mirror is used).
fn published(server_dir: &Path, base: &str, checkpoint_sha: Option<&str>) -> String {
    let ckpt = server_dir.join("tiny.safetensors");
    ra_engine::make_model::MakeModel {
        preset: ra_engine::make_model::Preset::Tiny,
        layout: ra_engine::make_model::OutputLayout::SingleFile,
        seed: 9,
        dtype: ra_engine::candle::DType::F32,
    }
    .write(&ckpt)
    .unwrap();
    let up = server_dir.join("4x-pack.safetensors");
    ra_engine::make_model::write_random_tensors(&up, 1, &ra_engine::esrgan::tensor_shapes(8, 1, 4, false)).unwrap();
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    format!(
        r#"id = "starter"
version = "1.0.0"
[name]
zh-CN = "入门包"
en-US = "Starter pack"
[[models]]
name = "Tiny dream"
file = "tiny.safetensors"
kind = "checkpoint"
categories = ["写实", "realistic"]
tier = "official"
urls = ["{base}/gone/tiny.safetensors", "{base}/tiny.safetensors"]
size = {}
sha256 = "{}"
license = "MIT"
trigger_words = ["dreamy"]
[[models]]
name = "Pack upscaler"
file = "4x-pack.safetensors"
kind = "upscaler"
categories = ["upscale"]
tier = "community"
urls = ["{base}/4x-pack.safetensors"]
size = {}
sha256 = "{}"
"#,
        size(&ckpt),
        checkpoint_sha.map(str::to_string).unwrap_or_else(|| sha256(&ckpt)),
        size(&up),
        sha256(&up)
    )
}

#[test]
fn a_pack_installs_from_a_url_and_the_daemon_sees_its_models() {
    let home = tempfile::tempdir().unwrap();
    let server_dir = home.path().join("server");
    std::fs::create_dir_all(&server_dir).unwrap();
    let base = serve_dir(server_dir.clone());
    std::fs::write(server_dir.join("starter.toml"), published(&server_dir, &base, None)).unwrap();
    let data = home.path().join("data");
    let data_arg = data.to_str().unwrap();

    let out = ra(home.path(), &["packs", "install", &format!("{base}/starter.toml"), "--data-dir", data_arg]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("入门包 1.0.0: 2 model(s), 2 to download"), "{stdout}");
    assert!(stdout.contains("installed pack starter 1.0.0: 2 downloaded and verified"), "{stdout}");
    let ckpt = data.join("models/Stable-diffusion/tiny.safetensors");
    assert_eq!(sha256(&ckpt), sha256(&server_dir.join("tiny.safetensors")));
    assert!(data.join("models/ESRGAN/4x-pack.safetensors").is_file());
    let leftovers: Vec<_> = std::fs::read_dir(data.join("models/Stable-diffusion")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");

    let out = ra(home.path(), &["models", "rate", "Tiny dream", "4", "--note", "my favourite", "--data-dir", data_arg]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = ra(home.path(), &["models", "list", "--json", "--data-dir", data_arg]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tiny = list.as_array().unwrap().iter().find(|m| m["name"] == "Tiny dream").unwrap_or_else(|| panic!("{list}"));
    assert_eq!(tiny["kind"], "checkpoint");
    assert_eq!(tiny["architecture"], "sd1");
    assert_eq!(tiny["tier"], "official");
    assert_eq!(tiny["categories"], serde_json::json!(["写实", "realistic"]));
    assert_eq!(tiny["rating"], 4);
    assert_eq!(tiny["note"], "my favourite");
    assert_eq!(tiny["packs"], serde_json::json!(["starter"]));
    assert_eq!(tiny["sha256"].as_str(), Some(sha256(&ckpt).as_str()));
    let out = ra(home.path(), &["models", "list", "--data-dir", data_arg, "--category", "写实"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("checkpoint") && text.contains("★★★★") && !text.contains("4x-pack"), "{text}");

    // Installing again downloads nothing.
    let out = ra(home.path(), &["packs", "install", &format!("{base}/starter.toml"), "--data-dir", data_arg]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 to download"), "{}", String::from_utf8_lossy(&out.stdout));

    let d = start(&data, &[]);
    let (_, _, b) = http(&d.addr, "GET", "/sdapi/v1/sd-models", None, None);
    let models = json_of(&b);
    assert!(models.as_array().unwrap().iter().any(|m| m["model_name"] == "tiny"), "{models}");
    // The daemon reads the library: what the pack and the user said travels with the model.
    let (_, _, b) = http(&d.addr, "GET", "/ra/v1/models", None, None);
    let listed = json_of(&b);
    let served = listed["models"].as_array().unwrap().iter().find(|m| m["name"] == "tiny").unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(served["library"]["name"], "Tiny dream");
    assert_eq!(served["library"]["tier"], "official");
    assert_eq!(served["library"]["categories"], serde_json::json!(["写实", "realistic"]));
    assert_eq!((served["library"]["rating"].as_u64(), served["library"]["note"].as_str()), (Some(4), Some("my favourite")));
    assert_eq!(served["library"]["packs"], serde_json::json!(["starter"]));
    drop(d);

    let out = ra(home.path(), &["packs", "remove", "starter", "--data-dir", data_arg]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!ckpt.exists());
    let out = ra(home.path(), &["packs", "remove", "starter", "--data-dir", data_arg]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no installed model pack with id \"starter\""));
}

#[test]
fn a_corrupt_download_or_a_bad_manifest_installs_nothing() {
    let home = tempfile::tempdir().unwrap();
    let server_dir = home.path().join("server");
    std::fs::create_dir_all(&server_dir).unwrap();
    let base = serve_dir(server_dir.clone());
    let wrong = "0".repeat(64);
    std::fs::write(server_dir.join("corrupt.toml"), published(&server_dir, &base, Some(&wrong))).unwrap();
    let data = home.path().join("data");
    let data_arg = data.to_str().unwrap();

    let out = ra(home.path(), &["packs", "install", &format!("{base}/corrupt.toml"), "--data-dir", data_arg]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("model pack starter was not installed") && stderr.contains("Tiny dream"), "{stderr}");
    let folder = data.join("models/Stable-diffusion");
    let left: Vec<_> = std::fs::read_dir(&folder).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "nothing of the corrupt model stays: {left:?}");
    let out = ra(home.path(), &["packs", "list", "--json", "--data-dir", data_arg]);
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), serde_json::json!([]));

    std::fs::write(home.path().join("bad.toml"), "id = \"Bad Pack\"\n").unwrap();
    let out = ra(home.path(), &["packs", "install", home.path().join("bad.toml").to_str().unwrap(), "--data-dir", data_arg]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml is not valid"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = ra(home.path(), &["packs", "install", &format!("{base}/missing.toml"), "--data-dir", data_arg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the model pack manifest"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn this_build_installs_as_the_first_version_the_updates_page_keeps_current() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("install");
    let dir_arg = dir.to_str().unwrap();
    let out = ra(home.path(), &["install", "--dir", dir_arg]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let version = Command::new(dir.join("current/ra-daemon")).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")), "{version:?}");
    assert!(dir.join("current/ra-launcher").is_file());
    assert!(dir.join(format!("versions/{}/ra-daemon", env!("CARGO_PKG_VERSION"))).is_file());
    // Later versions come only through signed updates.
    let again = ra(home.path(), &["install", "--dir", dir_arg]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("is installed already"), "{}", String::from_utf8_lossy(&again.stderr));
}
