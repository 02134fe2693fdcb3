//! Helpers shared by the launcher's tests that drive the real binaries.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A binary from the same target folder as the test (`scripts/test.sh` builds both).
/// The launcher's tests live in this crate, not in `ra-launcher`: cxx-qt links Qt into
/// every target of that crate, and an integration test there cannot link the bin's
/// Rust half.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        bin.is_file(),
        "{} is missing: build it with `cargo build -p ra-daemon -p ra-launcher` (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// Makes `data/models/Stable-diffusion/tiny.safetensors` under `data`.
#[allow(dead_code)] // not every test binary that shares this module makes a model
pub fn put_tiny_model(data: &Path) {
    let models = data.join("models/Stable-diffusion");
    std::fs::create_dir_all(&models).unwrap();
    let made = Command::new(binary("ra-daemon"))
        .args([
            "dev",
            "make-model",
            "--preset",
            "tiny",
            "--layout",
            "single-file",
            "--out",
        ])
        .arg(models.join("tiny.safetensors"))
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
}
