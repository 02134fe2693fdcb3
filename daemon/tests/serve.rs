//! The real `ra-daemon serve` binary on a free loopback port with the tiny model, driven
//! over real HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::{data_dir, dechunk, http, json_of, start, wait_status, Daemon};

use base64::Engine as _;
use serde_json::{json, Value};

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
    // A running job cannot leave the history.
    let history = format!("/ra/v1/history/{id}");
    let (st, _, b) = http(&d.addr, "DELETE", &history, None, None);
    assert_eq!(
        (st, json_of(&b)["code"].as_str()),
        (409, Some("job_active"))
    );
    let (st, _, _) = http(&d.addr, "POST", "/sdapi/v1/interrupt", None, None);
    assert_eq!(st, 200);
    let job = wait_status(&d, id, &["cancelled"]);
    assert!(job["outputs"].as_array().unwrap().is_empty());
    assert!(step < 1000);
    // Once it ended, it can.
    let (st, _, _) = http(&d.addr, "DELETE", &history, None, None);
    assert_eq!(st, 200);
    let (st, _, b) = http(&d.addr, "GET", &format!("/ra/v1/jobs/{id}"), None, None);
    assert_eq!(
        (st, json_of(&b)["code"].as_str()),
        (404, Some("no_such_job"))
    );
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
    // Nothing echoes the secret back.
    for path in [
        "/sdapi/v1/options",
        "/ra/v1/status",
        "/openapi.json",
        "/sdapi/v1/memory",
    ] {
        let (st, _, b) = http(&d.addr, "GET", path, None, Some(&good));
        assert_eq!(st, 200, "{path}");
        assert!(!String::from_utf8_lossy(&b).contains("s3cret"), "{path}");
    }
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

fn write_tiny(path: &Path, seed: u64) {
    ra_engine::make_model::MakeModel {
        preset: ra_engine::make_model::Preset::Tiny,
        layout: ra_engine::make_model::OutputLayout::SingleFile,
        seed,
        dtype: ra_engine::candle::DType::F32,
    }
    .write(path)
    .unwrap();
}

fn a1111_info(b: &[u8]) -> Value {
    serde_json::from_str(json_of(b)["info"].as_str().unwrap()).unwrap()
}

#[test]
fn options_switch_the_model_and_the_choice_survives_a_restart() {
    let data = data_dir();
    let ckpts = data.path().join("models/Stable-diffusion");
    write_tiny(&ckpts.join("other.safetensors"), 9);
    let small = json!({"prompt": "p", "steps": 1, "width": 64, "height": 64, "seed": 1});
    {
        let d = start(data.path(), &[]);
        let (_, _, b) = http(&d.addr, "GET", "/sdapi/v1/options", None, None);
        let first = json_of(&b)["sd_model_checkpoint"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(first.starts_with("other.safetensors ["), "{first}");
        let (st, _, b) = http(
            &d.addr,
            "POST",
            "/sdapi/v1/options",
            Some(&json!({"sd_model_checkpoint": "tiny", "some_a1111_option": 3})),
            None,
        );
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
        let (_, _, b) = http(&d.addr, "POST", "/sdapi/v1/txt2img", Some(&small), None);
        assert_eq!(a1111_info(&b)["sd_model_name"], "tiny");
        // A per-request override wins, and does not change the default.
        let mut over = small.clone();
        over["override_settings"] = json!({"sd_model_checkpoint": "other"});
        let (_, _, b) = http(&d.addr, "POST", "/sdapi/v1/txt2img", Some(&over), None);
        assert_eq!(a1111_info(&b)["sd_model_name"], "other");

        let (st, _, b) = http(
            &d.addr,
            "POST",
            "/sdapi/v1/options",
            Some(&json!({"sd_model_checkpoint": "missing.safetensors"})),
            None,
        );
        assert_eq!(st, 422);
        let e = json_of(&b);
        assert_eq!(
            e["detail"][0]["loc"],
            json!(["body", "sd_model_checkpoint"])
        );
        assert_eq!(e["code"], "no_such_model");

        // A new file appears after a refresh.
        write_tiny(&ckpts.join("new.safetensors"), 3);
        let (_, _, b) = http(&d.addr, "GET", "/sdapi/v1/sd-models", None, None);
        assert_eq!(json_of(&b).as_array().unwrap().len(), 2);
        let (st, _, _) = http(&d.addr, "POST", "/sdapi/v1/refresh-checkpoints", None, None);
        assert_eq!(st, 200);
        let (_, _, b) = http(&d.addr, "GET", "/sdapi/v1/sd-models", None, None);
        assert_eq!(json_of(&b).as_array().unwrap().len(), 3);
    }
    let d = start(data.path(), &[]);
    let (_, _, b) = http(&d.addr, "GET", "/sdapi/v1/options", None, None);
    assert!(json_of(&b)["sd_model_checkpoint"]
        .as_str()
        .unwrap()
        .starts_with("tiny.safetensors ["));
}

/// Sends a GET and reads only the response head (lower-cased), for streams.
fn open_stream(addr: &str, path: &str) -> (String, BufReader<TcpStream>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        assert!(reader.read_line(&mut head).unwrap() > 0, "{head}");
    }
    (head.to_lowercase(), reader)
}

/// Server-sent events: `(event, data)` pairs.
fn sse_events(body: &[u8]) -> Vec<(String, Value)> {
    let text = String::from_utf8_lossy(body);
    text.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = Some(v.trim().to_string());
                }
                if let Some(v) = line.strip_prefix("data:") {
                    data = Some(json_of(v.trim().as_bytes()));
                }
            }
            Some((name?, data?))
        })
        .collect()
}

#[test]
fn a_job_event_stream_carries_progress_with_previews_and_ends_with_the_job() {
    let data = data_dir();
    let d = start(data.path(), &[]);
    // Hold the worker so the watched job is still queued when the stream opens.
    let blocker = long_job(&d);
    wait_status(&d, blocker, &["running"]);
    let (_, _, b) = http(
        &d.addr,
        "POST",
        "/ra/v1/jobs",
        Some(&json!({"prompt": "watched", "steps": 3, "width": 64, "height": 64, "seed": 3})),
        None,
    );
    let id = json_of(&b)["id"].as_i64().unwrap();
    // Once its headers arrive, the daemon is watching.
    let (head, mut reader) = open_stream(&d.addr, &format!("/ra/v1/jobs/{id}/events"));
    let (st, _, _) = http(
        &d.addr,
        "DELETE",
        &format!("/ra/v1/jobs/{blocker}"),
        None,
        None,
    );
    assert_eq!(st, 200);
    let mut raw = Vec::new();
    reader.read_to_end(&mut raw).unwrap();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(&raw)
    } else {
        raw
    };
    let events = sse_events(&body);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["started", "progress", "progress", "progress", "finished"]
    );
    for (_, e) in &events[1..4] {
        assert_eq!(e["id"], id);
        let png = base64::engine::general_purpose::STANDARD
            .decode(e["preview"].as_str().unwrap())
            .unwrap();
        let preview = ra_wire::png_text::decode_rgb(&png).unwrap();
        assert_eq!((preview.width, preview.height), (8, 8));
    }
    let file = events[4].1["outputs"][0].as_str().unwrap().to_string();
    assert!(data.path().join("outputs").join(file).is_file());
    // A watcher arriving after the end gets the end at once.
    let (_, _, body) = http(
        &d.addr,
        "GET",
        &format!("/ra/v1/jobs/{id}/events"),
        None,
        None,
    );
    let late = sse_events(&body);
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].0, "finished");
}

#[test]
fn every_documented_route_is_served() {
    let data = data_dir();
    let d = start(data.path(), &[]);
    let (st, _, b) = http(&d.addr, "GET", "/openapi.json", None, None);
    assert_eq!(st, 200);
    let doc = json_of(&b);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 20);
    for (path, ops) in paths {
        let concrete = path.replace("{id}", "999999").replace("{file}", "none.png");
        if path == "/ra/v1/events" {
            // Never ends: the head is the answer.
            let (head, _) = open_stream(&d.addr, path);
            assert!(head.starts_with("http/1.1 200"), "{head}");
            continue;
        }
        for method in ops.as_object().unwrap().keys() {
            // A body that is not JSON: POST routes answer 422 before doing anything.
            let body = json!("not an object");
            let body = (method == "post").then_some(&body);
            let (st, _, b) = http(&d.addr, &method.to_uppercase(), &concrete, body, None);
            assert_ne!(st, 405, "{method} {path}");
            let code = serde_json::from_slice::<Value>(&b)
                .ok()
                .and_then(|v| v["code"].as_str().map(String::from));
            assert_ne!(code.as_deref(), Some("no_such_route"), "{method} {path}");
        }
    }
    let (st, _, b) = http(&d.addr, "GET", "/sdapi/v1/nothing-here", None, None);
    assert_eq!(
        (st, json_of(&b)["code"].as_str()),
        (404, Some("no_such_route"))
    );
}

/// A safetensors file with one tensor and the given `__metadata__`.
fn tiny_safetensors(path: &Path, metadata: Value) {
    let header = json!({
        "__metadata__": metadata,
        "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
    })
    .to_string();
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0; 4]);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn listings_png_info_and_memory_answer_in_a1111_shape() {
    let data = data_dir();
    let models = data.path().join("models");
    tiny_safetensors(
        &models.join("Lora/ink.safetensors"),
        json!({"ss_output_name": "ink"}),
    );
    tiny_safetensors(&models.join("embeddings/bad-hands.safetensors"), json!({}));
    // A real (tiny) ESRGAN is served by the upscale plugin; a file that is not one is left out.
    std::fs::create_dir_all(models.join("ESRGAN")).unwrap();
    let shapes = ra_engine::esrgan::tensor_shapes(8, 1, 4, false);
    ra_engine::make_model::write_random_tensors(&models.join("ESRGAN/4x-sharp.safetensors"), 1, &shapes).unwrap();
    tiny_safetensors(&models.join("ESRGAN/not-an-upscaler.safetensors"), json!({}));
    common::built_plugins();
    let d = start(data.path(), &[]);

    let (_, _, b) = http(&d.addr, "GET", "/sdapi/v1/loras", None, None);
    let loras = json_of(&b);
    assert_eq!(loras[0]["name"], "ink");
    assert_eq!(loras[0]["metadata"]["ss_output_name"], "ink");
    let (_, _, b) = http(&d.addr, "GET", "/sdapi/v1/embeddings", None, None);
    assert!(json_of(&b)["skipped"]["bad-hands"].is_object());
    let (_, _, b) = http(&d.addr, "GET", "/sdapi/v1/upscalers", None, None);
    let names: Vec<String> = json_of(&b)
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_string())
        .collect();
    // Built-in resamplers, then the plugins' upscalers (the ESRGAN file among them).
    assert_eq!(names[..3], ["None", "Lanczos", "Nearest"]);
    assert!(names.iter().any(|n| n == "4x-sharp") && !names.iter().any(|n| n == "not-an-upscaler"), "{names:?}");
    assert!(names[3..].iter().all(|n| n.starts_with("Lanczos ") || n == "4x-sharp"), "{names:?}");
    let (_, _, b) = http(&d.addr, "GET", "/sdapi/v1/memory", None, None);
    assert!(json_of(&b)["ram"]["total"].as_u64().unwrap() > 0);

    let (_, _, b) = http(
        &d.addr,
        "POST",
        "/sdapi/v1/txt2img",
        Some(&json!({"prompt": "red, blue", "steps": 2, "width": 64, "height": 72, "seed": 8})),
        None,
    );
    let image = json_of(&b)["images"][0].as_str().unwrap().to_string();
    let (st, _, b) = http(
        &d.addr,
        "POST",
        "/sdapi/v1/png-info",
        Some(&json!({"image": image})),
        None,
    );
    assert_eq!(st, 200);
    let info = json_of(&b);
    assert!(info["info"].as_str().unwrap().starts_with("red, blue\n"));
    assert_eq!(info["items"]["parameters"], info["info"]);
    let p = &info["parameters"];
    assert_eq!(
        (&p["Prompt"], &p["Steps"], &p["Seed"]),
        (&json!("red, blue"), &json!("2"), &json!("8"))
    );
    assert_eq!((&p["Size-1"], &p["Size-2"]), (&json!("64"), &json!("72")));

    for (body, why) in [
        (json!({"image": "%%%"}), "base64"),
        (
            json!({"image": base64::engine::general_purpose::STANDARD.encode(b"GIF89a")}),
            "PNG",
        ),
    ] {
        let (st, _, b) = http(&d.addr, "POST", "/sdapi/v1/png-info", Some(&body), None);
        assert_eq!(st, 422);
        let e = json_of(&b);
        assert_eq!(e["detail"][0]["loc"], json!(["body", "image"]));
        assert!(e["error"].as_str().unwrap().contains(why), "{e}");
    }
}

#[test]
fn oversized_bodies_and_images_get_413_and_leave_nothing_behind() {
    let data = data_dir();
    let config = data.path().join("daemon.toml");
    std::fs::write(&config, "max_body_mib = 1\nmax_image_side = 64\n").unwrap();
    let d = start(data.path(), &["--config", config.to_str().unwrap()]);
    let huge = json!({"prompt": "x".repeat(2 << 20)});
    let (st, _, b) = http(&d.addr, "POST", "/sdapi/v1/txt2img", Some(&huge), None);
    assert_eq!(st, 413);
    let e = json_of(&b);
    assert_eq!(e["code"], "too_large");
    assert!(e["error"].as_str().unwrap().contains("max_body_mib"), "{e}");

    let big = ra_wire::PngImage::new(128, 96, vec![7; 128 * 96 * 3]).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(big.encode(None).unwrap());
    for (path, body) in [
        (
            "/sdapi/v1/img2img",
            json!({"init_images": [b64], "width": 64, "height": 64}),
        ),
        (
            "/ra/v1/jobs",
            json!({"init_image": b64, "width": 64, "height": 64}),
        ),
    ] {
        let (st, _, b) = http(&d.addr, "POST", path, Some(&body), None);
        assert_eq!(st, 413, "{path}");
        let e = json_of(&b);
        assert_eq!(e["code"], "image_too_large");
        assert!(e["error"].as_str().unwrap().contains("128x96"), "{e}");
    }
    let inputs = data.path().join("inputs");
    assert!(!inputs.exists() || std::fs::read_dir(&inputs).unwrap().next().is_none());
    let (_, _, b) = http(&d.addr, "GET", "/ra/v1/jobs", None, None);
    assert!(json_of(&b)["jobs"].as_array().unwrap().is_empty());
}

#[test]
fn without_a_checkpoint_requests_say_where_to_put_one() {
    let data = tempfile::tempdir().unwrap();
    let d = start(data.path(), &[]);
    let (st, _, b) = http(
        &d.addr,
        "POST",
        "/sdapi/v1/txt2img",
        Some(&json!({"prompt": "x"})),
        None,
    );
    assert_eq!(st, 409);
    let e = json_of(&b);
    assert_eq!(e["code"], "no_model_installed");
    assert!(
        e["error"].as_str().unwrap().contains("Stable-diffusion"),
        "{e}"
    );
}

#[test]
fn dbus_is_served_on_a_private_socket() {
    use std::os::unix::fs::PermissionsExt;
    let data = data_dir();
    let sock = data.path().join("run/ra.sock");
    let d = start(data.path(), &["--dbus-socket", sock.to_str().unwrap()]);
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status: ra_wire::DaemonStatus = rt.block_on(async {
        let stream = std::os::unix::net::UnixStream::connect(&sock).unwrap();
        let conn = zbus::connection::Builder::unix_stream(stream)
            .p2p()
            .build()
            .await
            .unwrap();
        let proxy = ra_wire::dbus::DaemonProxy::new(&conn).await.unwrap();
        serde_json::from_str(&proxy.status().await.unwrap()).unwrap()
    });
    assert!(status.model.unwrap().starts_with("tiny.safetensors ["));

    // A second daemon may not take the socket from the first.
    let other = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ra-daemon"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-session-bus",
            "--data-dir",
        ])
        .arg(other.path())
        .arg("--dbus-socket")
        .arg(&sock)
        .env_remove("RA_API_TOKEN")
        .env("XDG_CONFIG_HOME", other.path().join("no-config"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another ra-daemon") && err.contains("--dbus-socket"),
        "{err}"
    );
    assert!(sock.exists());
    drop(d);
}

fn png_b64(img: &ra_wire::PngImage) -> String {
    base64::engine::general_purpose::STANDARD.encode(img.encode(None).unwrap())
}

fn first_image(b: &[u8]) -> (ra_wire::PngImage, String) {
    let resp = json_of(b);
    let png = base64::engine::general_purpose::STANDARD
        .decode(resp["images"][0].as_str().unwrap())
        .unwrap();
    let text = ra_wire::png_text::read_parameters(&png).unwrap().unwrap();
    (ra_engine::pipeline::load_image(&png).unwrap(), text)
}

#[test]
fn img2img_inpaints_with_a1111s_fields_and_settings() {
    let data = data_dir();
    let d = start(data.path(), &[]);
    let rgb: Vec<u8> = (0..64u32 * 64)
        .flat_map(|i| [(i % 64 * 4) as u8, (i / 64 * 4) as u8, 90])
        .collect();
    let original = ra_wire::PngImage::new(64, 64, rgb).unwrap();
    // A painted layer as the launcher sends it: white strokes on transparency.
    let mut layer = image::RgbaImage::new(64, 64);
    for (x, _, p) in layer.enumerate_pixels_mut() {
        if x >= 32 {
            *p = image::Rgba([255, 255, 255, 255]);
        }
    }
    let mut mask_png = Vec::new();
    layer
        .write_to(
            &mut std::io::Cursor::new(&mut mask_png),
            image::ImageFormat::Png,
        )
        .unwrap();
    let mask = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&mask_png)
    );
    let body = json!({"prompt": "a cat", "init_images": [png_b64(&original)], "mask": mask, "mask_blur": 2,
                      "inpainting_fill": 1, "inpaint_full_res": false, "denoising_strength": 0.9,
                      "steps": 3, "width": 64, "height": 64, "seed": 5, "subseed": 9, "subseed_strength": 0.2,
                      "override_settings": {"randn_source": "CPU", "CLIP_stop_at_last_layers": 2}});
    let (st, _, b) = http(&d.addr, "POST", "/sdapi/v1/img2img", Some(&body), None);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
    let (img, text) = first_image(&b);
    for y in 0..64 {
        let row = |i: &ra_wire::PngImage| i.rgb[y * 64 * 3..(y * 64 + 24) * 3].to_vec();
        assert_eq!(
            row(&img),
            row(&original),
            "row {y} of the kept half changed"
        );
    }
    assert_ne!(img.rgb, original.rgb);
    for needle in [
        "RNG: CPU",
        "Clip skip: 2",
        "Variation seed: 9",
        "Variation seed strength: 0.2",
    ] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }
}

#[test]
fn bad_inpainting_fields_get_422_and_leave_no_input_behind() {
    let data = data_dir();
    let d = start(data.path(), &[]);
    let image = png_b64(&ra_wire::PngImage::new(64, 64, vec![50; 64 * 64 * 3]).unwrap());
    for (body, field) in [
        (json!({"mask": image}), "init_images"),
        (
            json!({"init_images": [image], "mask": "not base64!"}),
            "mask",
        ),
        (
            json!({"init_images": [image], "mask": base64::engine::general_purpose::STANDARD.encode(b"GIF89a")}),
            "mask",
        ),
        (
            json!({"init_images": [image], "mask": image, "inpainting_fill": 7}),
            "inpainting_fill",
        ),
        (
            json!({"init_images": [image], "override_settings": {"randn_source": "TPU"}}),
            "override_settings",
        ),
        (
            json!({"init_images": [image], "subseed_strength": 2}),
            "subseed_strength",
        ),
    ] {
        let (st, _, b) = http(&d.addr, "POST", "/sdapi/v1/img2img", Some(&body), None);
        assert_eq!(st, 422, "{body}: {}", String::from_utf8_lossy(&b));
        let e = json_of(&b);
        assert_eq!(e["detail"][0]["loc"], json!(["body", field]), "{e}");
    }
    let inputs = data.path().join("inputs");
    assert!(!inputs.exists() || std::fs::read_dir(&inputs).unwrap().next().is_none());
    let (_, _, b) = http(&d.addr, "GET", "/ra/v1/jobs", None, None);
    assert!(json_of(&b)["jobs"].as_array().unwrap().is_empty());
}

#[test]
fn txt2img_hires_fix_returns_the_larger_image() {
    let data = data_dir();
    let d = start(data.path(), &[]);
    let body = json!({"prompt": "a cat", "steps": 3, "width": 64, "height": 64, "seed": 3,
                      "enable_hr": true, "hr_scale": 1.5, "hr_upscaler": "Latent", "denoising_strength": 0.5});
    let (st, _, b) = http(&d.addr, "POST", "/sdapi/v1/txt2img", Some(&body), None);
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
    let (img, text) = first_image(&b);
    assert_eq!((img.width, img.height), (96, 96));
    assert!(
        text.contains("Hires upscale: 1.5") && text.contains("Denoising strength: 0.5"),
        "{text}"
    );
    for (body, field) in [
        (json!({"enable_hr": true, "hr_scale": 9}), "hr_scale"),
        (
            json!({"enable_hr": true, "hr_upscaler": "ESRGAN_4x"}),
            "hr_upscaler",
        ),
    ] {
        let (st, _, b) = http(&d.addr, "POST", "/sdapi/v1/txt2img", Some(&body), None);
        assert_eq!(st, 422, "{body}: {}", String::from_utf8_lossy(&b));
        assert_eq!(json_of(&b)["detail"][0]["loc"], json!(["body", field]));
    }
}
