//! The real `ra-daemon serve` binary on a free loopback port with the tiny model, driven
//! over real HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

struct Daemon {
    child: Child,
    addr: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models/Stable-diffusion");
    std::fs::create_dir_all(&models).unwrap();
    ra_engine::make_model::MakeModel {
        preset: ra_engine::make_model::Preset::Tiny,
        layout: ra_engine::make_model::OutputLayout::SingleFile,
        seed: 2,
        dtype: ra_engine::candle::DType::F32,
    }
    .write(&models.join("tiny.safetensors"))
    .unwrap();
    dir
}

fn start(data: &Path, extra: &[&str]) -> Daemon {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ra-daemon"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
            "--no-session-bus",
        ])
        .args(extra)
        .env_remove("RA_API_TOKEN")
        .env("XDG_CONFIG_HOME", data.join("no-config"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("ra-daemon listening on http://")
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    Daemon { child, addr }
}

/// One HTTP/1.1 request; returns status, headers (lower-cased) and body.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    auth: Option<&str>,
) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n", payload.len());
    if let Some(a) = auth {
        req.push_str(&format!("Authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&payload);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let status = head[9..12].parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, head, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let end = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&b[..end]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[end + 2..end + 2 + n]);
        b = &b[end + 4 + n..];
    }
}

fn json_of(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(b)))
}

fn wait_status(d: &Daemon, id: i64, want: &[&str]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, _, b) = http(&d.addr, "GET", &format!("/ra/v1/jobs/{id}"), None, None);
        let job = json_of(&b);
        if want.contains(&job["status"].as_str().unwrap_or("")) {
            return job;
        }
        assert!(Instant::now() < deadline, "job {id} stuck: {job}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn long_job(d: &Daemon) -> i64 {
    let (st, _, b) = http(
        &d.addr,
        "POST",
        "/ra/v1/jobs",
        Some(&json!({"prompt": "slow", "steps": 1000, "width": 64, "height": 64, "seed": 1})),
        None,
    );
    assert_eq!(st, 202, "{}", String::from_utf8_lossy(&b));
    json_of(&b)["id"].as_i64().unwrap()
}

#[test]
fn txt2img_and_img2img_answer_in_a1111_shape() {
    let data = data_dir();
    let d = start(data.path(), &[]);
    let req = json!({"prompt": "a cat", "negative_prompt": "dog", "steps": 3, "width": 64, "height": 64, "seed": 42,
                     "sampler_name": "DPM++ 2M", "scheduler": "Karras", "batch_size": 2, "not_an_ra_field": true});
    let (st, _, b) = http(&d.addr, "POST", "/sdapi/v1/txt2img", Some(&req), None);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
    let resp = json_of(&b);
    assert_eq!(resp["parameters"]["prompt"], "a cat");
    let info: Value = serde_json::from_str(resp["info"].as_str().unwrap()).unwrap();
    assert_eq!(info["all_seeds"], json!([42, 43]));
    assert_eq!(info["sd_model_name"], "tiny");
    let images = resp["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    let png = base64::engine::general_purpose::STANDARD
        .decode(images[1].as_str().unwrap())
        .unwrap();
    let text = ra_wire::png_text::read_parameters(&png).unwrap().unwrap();
    assert_eq!(text, info["infotexts"][1].as_str().unwrap());
    assert!(
        text.contains("Seed: 43")
            && text.contains("Sampler: DPM++ 2M")
            && text.contains("Negative prompt: dog"),
        "{text}"
    );

    let data_url = format!("data:image/png;base64,{}", images[0].as_str().unwrap());
    let (st, _, b) = http(
        &d.addr,
        "POST",
        "/sdapi/v1/img2img",
        Some(
            &json!({"prompt": "a cat", "init_images": [data_url], "denoising_strength": 0.5, "steps": 4, "width": 64, "height": 64, "seed": 5}),
        ),
        None,
    );
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
    let info: Value = serde_json::from_str(json_of(&b)["info"].as_str().unwrap()).unwrap();
    assert!(info["infotexts"][0]
        .as_str()
        .unwrap()
        .contains("Denoising strength: 0.5"));

    let (_, _, b) = http(&d.addr, "GET", "/sdapi/v1/sd-models", None, None);
    let models = json_of(&b);
    assert!(models[0]["title"]
        .as_str()
        .unwrap()
        .starts_with("tiny.safetensors ["));
}

#[test]
fn bad_fields_get_422_naming_the_field() {
    let data = data_dir();
    let d = start(data.path(), &[]);
    for (body, field) in [
        (json!({"steps": "many"}), "steps"),
        (json!({"width": 65}), "width"),
        (json!({"sampler_name": "Nope"}), "sampler_name"),
        (json!({"init_images": ["!!!"]}), "init_images"),
    ] {
        let path = if field == "init_images" {
            "/sdapi/v1/img2img"
        } else {
            "/sdapi/v1/txt2img"
        };
        let (st, _, b) = http(&d.addr, "POST", path, Some(&body), None);
        assert_eq!(st, 422, "{body}: {}", String::from_utf8_lossy(&b));
        assert_eq!(json_of(&b)["detail"][0]["loc"], json!(["body", field]));
    }
}

#[test]
fn progress_moves_and_interrupt_ends_the_job_within_a_step() {
    let data = data_dir();
    let d = start(data.path(), &[]);
    let id = long_job(&d);
    let deadline = Instant::now() + Duration::from_secs(60);
    let step = loop {
        let (_, _, b) = http(&d.addr, "GET", "/sdapi/v1/progress", None, None);
        let p = json_of(&b);
        let step = p["state"]["sampling_step"].as_u64().unwrap_or(0);
        if step >= 3 {
            assert!(p["progress"].as_f64().unwrap() > 0.0);
            break step;
        }
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    };
    let (st, _, _) = http(&d.addr, "POST", "/sdapi/v1/interrupt", None, None);
    assert_eq!(st, 200);
    let job = wait_status(&d, id, &["cancelled"]);
    assert!(job["outputs"].as_array().unwrap().is_empty());
    assert!(step < 1000);
}

#[test]
fn a_full_queue_answers_503_with_retry_after() {
    let data = data_dir();
    let d = start(data.path(), &["--queue-limit", "1"]);
    let running = long_job(&d);
    wait_status(&d, running, &["running"]);
    let _waiting = long_job(&d);
    let (st, head, _) = http(
        &d.addr,
        "POST",
        "/ra/v1/jobs",
        Some(&json!({"prompt": "x"})),
        None,
    );
    assert_eq!(st, 503);
    assert!(head.contains("retry-after:"), "{head}");
}

#[test]
fn credentials_are_required_when_configured() {
    let data = data_dir();
    let d = start(data.path(), &["--api-auth", "me:s3cret"]);
    let (st, _, _) = http(&d.addr, "GET", "/sdapi/v1/samplers", None, None);
    assert_eq!(st, 401);
    let good = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("me:s3cret")
    );
    let (st, _, b) = http(&d.addr, "GET", "/sdapi/v1/samplers", None, Some(&good));
    assert_eq!(st, 200);
    assert_eq!(json_of(&b)[1]["name"], "Euler a");
}

#[test]
fn listening_beyond_loopback_without_credentials_is_refused() {
    let data = data_dir();
    let out = Command::new(env!("CARGO_BIN_EXE_ra-daemon"))
        .args([
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--data-dir",
            data.path().to_str().unwrap(),
        ])
        .env_remove("RA_API_TOKEN")
        .env("XDG_CONFIG_HOME", data.path().join("no-config"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("RA_API_TOKEN") && err.contains("--api-auth"),
        "{err}"
    );
}

#[test]
fn outputs_are_served_only_from_the_output_folder() {
    let data = data_dir();
    let d = start(data.path(), &[]);
    let out: PathBuf = data.path().join("outputs");
    std::fs::write(out.join("a..b.png"), b"png-bytes").unwrap();
    std::fs::write(data.path().join("secret.txt"), b"secret").unwrap();
    std::os::unix::fs::symlink(data.path().join("secret.txt"), out.join("link.png")).unwrap();
    let (st, _, b) = http(&d.addr, "GET", "/ra/v1/outputs/a..b.png", None, None);
    assert_eq!((st, b.as_slice()), (200, b"png-bytes".as_slice()));
    for bad in [
        "/ra/v1/outputs/..%2Fsecret.txt",
        "/ra/v1/outputs/%2Fetc%2Fpasswd",
        "/ra/v1/outputs/..%5Csecret.txt",
        "/ra/v1/outputs/link.png",
        "/ra/v1/outputs/a%00.png",
    ] {
        let (st, _, b) = http(&d.addr, "GET", bad, None, None);
        assert_eq!(st, 404, "{bad}");
        assert!(!String::from_utf8_lossy(&b).contains("secret"));
    }
}

#[test]
fn after_sigkill_every_accepted_job_is_accounted_for() {
    let data = data_dir();
    let (running, queued) = {
        let d = start(data.path(), &[]);
        let running = long_job(&d);
        wait_status(&d, running, &["running"]);
        let (_, _, b) = http(
            &d.addr,
            "POST",
            "/ra/v1/jobs",
            Some(&json!({"prompt": "after", "steps": 2, "width": 64, "height": 64})),
            None,
        );
        let queued = json_of(&b)["id"].as_i64().unwrap();
        // Drop sends SIGKILL.
        (running, queued)
    };
    let d = start(data.path(), &[]);
    let job = wait_status(&d, running, &["interrupted"]);
    assert!(job["outputs"].as_array().unwrap().is_empty());
    let after = wait_status(&d, queued, &["done"]);
    let file = after["outputs"][0].as_str().unwrap();
    let (st, _, png) = http(
        &d.addr,
        "GET",
        &format!("/ra/v1/outputs/{file}"),
        None,
        None,
    );
    assert_eq!(st, 200);
    assert!(ra_wire::png_text::read_parameters(&png)
        .unwrap()
        .unwrap()
        .starts_with("after"));
    let leftovers: Vec<_> = std::fs::read_dir(data.path().join("outputs"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".part"))
        .collect();
    assert!(leftovers.is_empty());
}
