//! The model folders: scanning A1111/ComfyUI folder layouts under several roots, and
//! AutoV2 hashes computed once and cached in the store by path, size and mtime.

use std::path::{Path, PathBuf};

use ra_wire::ModelInfo;
pub use ra_wire::ModelKind;
use serde::Serialize;

use crate::store::Store;

/// Folder names that hold each kind, as A1111 and ComfyUI spell them.
const FOLDERS: [(&str, ModelKind); 13] = [
    ("Stable-diffusion", ModelKind::Checkpoint),
    ("checkpoints", ModelKind::Checkpoint),
    ("Lora", ModelKind::Lora),
    ("loras", ModelKind::Lora),
    ("VAE", ModelKind::Vae),
    ("vae", ModelKind::Vae),
    ("embeddings", ModelKind::Embedding),
    ("ESRGAN", ModelKind::Upscaler),
    ("RealESRGAN", ModelKind::Upscaler),
    ("upscale_models", ModelKind::Upscaler),
    ("ControlNet", ModelKind::ControlNet),
    ("controlnet", ModelKind::ControlNet),
    ("depth", ModelKind::Depth),
];

#[derive(Debug, Clone, Serialize)]
pub struct ModelEntry {
    pub kind: ModelKind,
    /// File stem, or folder name for a diffusers folder.
    pub name: String,
    /// File name as A1111 shows it in titles (`name.safetensors`).
    pub file_name: String,
    pub path: PathBuf,
    pub size: u64,
    pub sha256: Option<String>,
}

impl ModelEntry {
    pub fn short_hash(&self) -> Option<&str> {
        self.sha256.as_deref().map(|h| &h[..10.min(h.len())])
    }

    /// A1111's title: `name.safetensors [0123456789]`.
    pub fn title(&self) -> String {
        match self.short_hash() {
            Some(h) => format!("{} [{h}]", self.file_name),
            None => self.file_name.clone(),
        }
    }

    pub fn info(&self) -> ModelInfo {
        ModelInfo {
            kind: self.kind,
            name: self.name.clone(),
            title: self.title(),
            path: self.path.display().to_string(),
            size: self.size,
            sha256: self.sha256.clone(),
        }
    }

    /// Whether `s` names this model (title, file name, name, hash or path).
    pub fn matches(&self, s: &str) -> bool {
        s == self.title()
            || s == self.file_name
            || s == self.name
            || Some(s) == self.short_hash()
            || Path::new(s) == self.path
    }
}

fn is_weights(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("safetensors"))
}

fn is_diffusers(p: &Path) -> bool {
    p.join("model_index.json").is_file()
}

/// Where each kind lives under `root`: the root itself when it holds checkpoints
/// directly, plus any A1111/ComfyUI-named subfolder (also under `root/models`).
fn folders(root: &Path) -> Vec<(PathBuf, ModelKind)> {
    let mut out = Vec::new();
    for base in [root.to_path_buf(), root.join("models")] {
        for (name, kind) in FOLDERS {
            let p = base.join(name);
            if p.is_dir() && !out.iter().any(|(q, _): &(PathBuf, ModelKind)| q == &p) {
                out.push((p, kind));
            }
        }
    }
    if out.is_empty() {
        out.push((root.to_path_buf(), ModelKind::Checkpoint));
    }
    out
}

/// The folders under `roots` holding models of `kind`.
pub fn dirs_of(roots: &[PathBuf], kind: ModelKind) -> Vec<PathBuf> {
    roots.iter().flat_map(|r| folders(r)).filter(|(_, k)| *k == kind).map(|(d, _)| d).collect()
}

/// The LoRA and embedding folders under `roots`. A1111 keeps `embeddings` beside
/// `models`, so a root named `models` also lends its parent's.
pub fn network_dirs(roots: &[PathBuf]) -> ra_engine::networks::NetworkDirs {
    let mut dirs = ra_engine::networks::NetworkDirs::default();
    for root in roots {
        let mut found = folders(root);
        if root.file_name().is_some_and(|n| n == "models") {
            if let Some(parent) = root.parent() {
                let e = parent.join("embeddings");
                if e.is_dir() {
                    found.push((e, ModelKind::Embedding));
                }
            }
        }
        // TAESD for live previews: A1111's `models/VAE-taesd`, ComfyUI's `models/vae_approx`.
        for base in [root.to_path_buf(), root.join("models")] {
            for name in ["VAE-taesd", "vae_approx"] {
                let dir = base.join(name);
                if dir.is_dir() && !dirs.taesd.contains(&dir) {
                    dirs.taesd.push(dir);
                }
            }
        }
        for (dir, kind) in found {
            match kind {
                ModelKind::Lora => dirs.loras.push(dir),
                ModelKind::Embedding => dirs.embeddings.push(dir),
                ModelKind::Vae => dirs.vaes.push(dir),
                _ => {}
            }
        }
    }
    dirs
}

fn walk(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if p.is_dir() {
            if is_diffusers(&p) {
                found.push(p);
            } else if depth > 0 {
                walk(&p, depth - 1, found);
            }
        } else if is_weights(&p) {
            found.push(p);
        }
    }
}

/// Lists the models under `roots`, hashing checkpoints (cached in `store`).
pub fn scan(roots: &[PathBuf], store: &Store) -> Vec<ModelEntry> {
    let mut out: Vec<ModelEntry> = Vec::new();
    for root in roots {
        for (dir, kind) in folders(root) {
            let mut found = Vec::new();
            walk(&dir, 3, &mut found);
            for path in found {
                if out.iter().any(|m| m.path == path) {
                    continue;
                }
                let diffusers = path.is_dir();
                let onnx = path.join("unet/model.onnx");
                let hashed = if diffusers && onnx.is_file() {
                    // A diffusers ONNX folder: hashed by its UNet graph, as it loads.
                    onnx
                } else if diffusers {
                    path.join("unet/diffusion_pytorch_model.safetensors")
                } else {
                    path.clone()
                };
                let size = std::fs::metadata(&hashed).map(|m| m.len()).unwrap_or(0);
                let name = if diffusers {
                    path.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                } else {
                    path.file_stem()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                };
                let file_name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let sha256 = (kind == ModelKind::Checkpoint)
                    .then(|| hash_cached(&hashed, store))
                    .flatten();
                out.push(ModelEntry {
                    kind,
                    name,
                    file_name,
                    path,
                    size,
                    sha256,
                });
            }
        }
    }
    out
}

/// The `__metadata__` of a safetensors file (training notes for LoRAs), or `{}` when
/// the file has none or is not readable. Reads only the header.
pub fn read_metadata(path: &Path) -> serde_json::Value {
    use std::io::Read;
    // Headers beyond this are not safetensors files anyone publishes.
    const MAX_HEADER: u64 = 100 << 20;
    let read = || -> Option<serde_json::Value> {
        let mut f = std::fs::File::open(path).ok()?;
        let mut len = [0u8; 8];
        f.read_exact(&mut len).ok()?;
        let len = u64::from_le_bytes(len);
        if len > MAX_HEADER {
            return None;
        }
        let mut header = vec![0u8; len as usize];
        f.read_exact(&mut header).ok()?;
        let mut v: serde_json::Value = serde_json::from_slice(&header).ok()?;
        v.get_mut("__metadata__").map(serde_json::Value::take)
    };
    read().unwrap_or_else(|| serde_json::json!({}))
}

fn hash_cached(path: &Path, store: &Store) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64);
    let key = path.to_string_lossy();
    if let Ok(Some(h)) = store.cached_hash(&key, meta.len(), mtime) {
        return Some(h);
    }
    let h = ra_engine::model::sha256_hex(path).ok()?;
    let _ = store.store_hash(&key, meta.len(), mtime, &h);
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a1111_and_comfy_layouts_and_caches_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let a1111 = dir.path().join("webui");
        let comfy = dir.path().join("ComfyUI/models");
        for p in ["models/Stable-diffusion/sub", "models/Lora", "models/VAE"] {
            std::fs::create_dir_all(a1111.join(p)).unwrap();
        }
        for p in ["checkpoints/diffusers-model", "loras"] {
            std::fs::create_dir_all(comfy.join(p)).unwrap();
        }
        std::fs::write(
            a1111.join("models/Stable-diffusion/sub/one.safetensors"),
            b"one",
        )
        .unwrap();
        std::fs::write(a1111.join("models/Stable-diffusion/notes.txt"), b"x").unwrap();
        std::fs::write(a1111.join("models/Lora/style.safetensors"), b"lora").unwrap();
        std::fs::write(
            comfy.join("checkpoints/diffusers-model/model_index.json"),
            b"{}",
        )
        .unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let found = scan(&[a1111.clone(), comfy.clone()], &store);
        let names: Vec<(&str, ModelKind)> =
            found.iter().map(|m| (m.name.as_str(), m.kind)).collect();
        assert_eq!(
            names,
            vec![
                ("one", ModelKind::Checkpoint),
                ("style", ModelKind::Lora),
                ("diffusers-model", ModelKind::Checkpoint)
            ]
        );
        let one = &found[0];
        // The first 10 hex digits of sha256("one").
        assert_eq!(one.short_hash(), Some("7692c3ad35"));
        assert_eq!(one.title(), "one.safetensors [7692c3ad35]");
        assert!(one.matches("one") && one.matches("one.safetensors [7692c3ad35]"));
        let key = one.path.to_string_lossy();
        assert!(store.list(None, 1).unwrap().is_empty());
        let mtime = std::fs::metadata(&one.path)
            .unwrap()
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        assert_eq!(
            store.cached_hash(&key, 3, mtime).unwrap().as_deref(),
            one.sha256.as_deref()
        );
    }
}
