//! Which backend runs each checkpoint, as `/ra/v1/models` shows it: candle for
//! safetensors files, ONNX Runtime for diffusers ONNX folders, unless a model is pinned.

mod common;

use std::process::Command;

use common::{http, json_of, start, DAEMON};

#[test]
fn the_model_list_says_which_backend_runs_each_checkpoint() {
    // `data_dir` holds models/Stable-diffusion/tiny.safetensors; add an ONNX folder.
    let data = common::data_dir();
    let made = Command::new(DAEMON)
        .args(["dev", "make-model", "--preset", "tiny", "--layout", "onnx", "--out"])
        .arg(data.path().join("models/Stable-diffusion/tiny-onnx"))
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let d = start(data.path(), &[]);
    let (_, _, body) = http(&d.addr, "GET", "/ra/v1/models", None, None);
    let listed = json_of(&body);
    let backend = |name: &str| {
        let m = listed["models"].as_array().unwrap().iter().find(|m| m["name"] == name).unwrap_or_else(|| panic!("{listed}"));
        m["backend"].as_str().unwrap().to_string()
    };
    assert_eq!(backend("tiny"), "candle");
    assert_eq!(backend("tiny-onnx"), "onnx");
}
