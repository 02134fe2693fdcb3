//! ONNX Runtime missing or wrong: a clear error naming the path looked for and how to
//! install the right library, and candle models keep working in the same process.
//!
//! A test binary of its own: ONNX Runtime, once loaded, stays loaded for the process,
//! so no test here may load a real one.

use std::path::Path;

use ra_engine::make_model::{MakeModel, OutputLayout, Preset};
use ra_engine::onnx::{Runtime, RuntimeOptions};
use ra_engine::{generate, EngineError, GenerateRequest, LoadOptions, SdModel};

fn options(library: &Path) -> RuntimeOptions {
    RuntimeOptions {
        library: Some(library.to_path_buf()),
        ..Default::default()
    }
}

fn refusal(library: &Path) -> String {
    match Runtime::get(&options(library)) {
        Err(e @ EngineError::OnnxRuntime { .. }) => e.to_string(),
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("{} loaded as ONNX Runtime", library.display()),
    }
}

fn says_how_to_install(msg: &str, path: &Path) {
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("onnxruntime==1.31.1"), "{msg}");
    assert!(msg.contains("ORT_DYLIB_PATH"), "{msg}");
}

#[test]
fn a_missing_library_is_named_with_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("libonnxruntime.so.1.31.1");
    let msg = refusal(&path);
    assert!(msg.contains("there is no such file"), "{msg}");
    says_how_to_install(&msg, &path);
}

#[test]
fn garbage_and_empty_files_are_refused_not_crashed_on() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [("empty.so", &b""[..]), ("garbage.so", &b"\x7fELF but not really, just bytes"[..])] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let msg = refusal(&path);
        assert!(msg.contains("could not be opened as a shared library"), "{msg}");
        says_how_to_install(&msg, &path);
    }
}

#[test]
fn a_shared_library_that_is_not_onnx_runtime_is_refused() {
    // Any real shared library without OrtGetApiBase will do; libz is on every Debian.
    let Some(libz) = ["/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1", "/lib/aarch64-linux-gnu/libz.so.1"]
        .iter()
        .map(Path::new)
        .find(|p| p.is_file())
    else {
        eprintln!("no libz.so.1 here; skipped");
        return;
    };
    let msg = refusal(libz);
    assert!(msg.contains("not ONNX Runtime"), "{msg}");
    says_how_to_install(&msg, libz);
}

#[test]
fn without_onnx_runtime_onnx_models_are_refused_and_candle_models_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let (candle, onnx) = (dir.path().join("tiny"), dir.path().join("tiny-onnx"));
    for (layout, out) in [(OutputLayout::Diffusers, &candle), (OutputLayout::Onnx, &onnx)] {
        MakeModel {
            preset: Preset::Tiny,
            layout,
            seed: 7,
            dtype: ra_engine::candle::DType::F32,
        }
        .write(out)
        .unwrap();
    }
    let missing = dir.path().join("nowhere/libonnxruntime.so.1.31.1");
    let load = LoadOptions {
        onnx: options(&missing),
        ..LoadOptions::cpu()
    };
    let msg = SdModel::load(&onnx, &load).err().unwrap().to_string();
    says_how_to_install(&msg, &missing);

    let model = SdModel::load(&candle, &load).unwrap();
    let req = GenerateRequest {
        steps: 2,
        width: 64,
        height: 64,
        ..GenerateRequest::new("a fox")
    };
    assert_eq!(generate(&model, &req, &mut |_| true).unwrap().image.width, 64);
}
