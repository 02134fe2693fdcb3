//! The real `ra-daemon serve` binary on a free loopback port with the tiny model, and
//! plain HTTP/1.1 to talk to it. Shared by the test binaries that drive the daemon.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Daemon {
    pub child: Child,
    pub addr: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn data_dir() -> tempfile::TempDir {
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

pub fn start(data: &Path, extra: &[&str]) -> Daemon {
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
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    auth: Option<&str>,
) -> (u16, String, Vec<u8>) {
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    http_bytes(addr, method, path, payload.as_bytes(), "application/json", auth)
}

/// One HTTP/1.1 request with a body of any type.
pub fn http_bytes(
    addr: &str,
    method: &str,
    path: &str,
    payload: &[u8],
    content_type: &str,
    auth: Option<&str>,
) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n", payload.len());
    if let Some(a) = auth {
        req.push_str(&format!("Authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(payload);
    s.write_all(&bytes).unwrap();
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

pub fn dechunk(mut b: &[u8]) -> Vec<u8> {
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

pub fn json_of(b: &[u8]) -> Value {
    serde_json::from_slice(b).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(b)))
}

pub fn wait_status(d: &Daemon, id: i64, want: &[&str]) -> Value {
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


pub const DAEMON: &str = env!("CARGO_BIN_EXE_ra-daemon");

/// Builds every plugin (scripts/plugins.sh, once per test binary) and returns the
/// folders of the shipped ones (`target/plugins`, where the daemon binary looks) and of
/// the test-only ones.
pub fn built_plugins() -> &'static (PathBuf, PathBuf) {
    static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/plugins.sh");
        let out = Command::new("bash").arg(script).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "scripts/plugins.sh failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let bundle = PathBuf::from(stdout.lines().last().unwrap().strip_prefix("plugins built into ").unwrap());
        let beside_binary = Path::new(DAEMON).parent().unwrap().parent().unwrap().join("plugins");
        assert_eq!(bundle.canonicalize().unwrap(), beside_binary.canonicalize().unwrap());
        let testing = bundle.with_file_name("plugins-testing");
        (bundle, testing)
    })
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn png(image: &image::RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A base64 PNG from a response as RGB.
pub fn decode(b64_png: &str) -> image::RgbImage {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64_png).unwrap();
    image::load_from_memory(&bytes).unwrap().to_rgb8()
}

/// POSTs JSON; returns the status and the JSON answer.
pub fn post(d: &Daemon, path: &str, body: Value) -> (u16, Value) {
    let (status, _, b) = http(&d.addr, "POST", path, Some(&body), None);
    (status, json_of(&b))
}
