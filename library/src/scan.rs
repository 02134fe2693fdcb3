//! Models found on disk: the A1111/ComfyUI folders under each models root, recorded in
//! the library with what their headers say, hashed once per change (size and mtime).
//! Files that no pack knows are listed too.

use std::path::{Path, PathBuf};

use crate::error::{LibraryError, Result};
use crate::hash::sha256_file;
use crate::inspect::{identify, Header};
use crate::pack::Kind;
use crate::store::Library;

/// Folder names that hold each kind, as A1111 and ComfyUI spell them (also under
/// `<root>/models`).
pub const FOLDERS: [(&str, Kind); 14] = [
    ("Stable-diffusion", Kind::Checkpoint),
    ("checkpoints", Kind::Checkpoint),
    ("Lora", Kind::Lora),
    ("loras", Kind::Lora),
    ("VAE", Kind::Vae),
    ("vae", Kind::Vae),
    ("embeddings", Kind::Embedding),
    ("ESRGAN", Kind::Upscaler),
    ("RealESRGAN", Kind::Upscaler),
    ("upscale_models", Kind::Upscaler),
    ("ControlNet", Kind::ControlNet),
    ("controlnet", Kind::ControlNet),
    ("depth", Kind::Depth),
    ("Depth", Kind::Depth),
];

/// What a scan found.
#[derive(Debug, Default, PartialEq)]
pub struct Scanned {
    /// Files hashed (new or changed).
    pub hashed: usize,
    /// Files unchanged since the last scan.
    pub unchanged: usize,
    /// Rows whose files are gone.
    pub removed: usize,
    /// Files that are not valid safetensors, with the reason (listed, not recorded).
    pub unreadable: Vec<(PathBuf, String)>,
}

/// Every `.safetensors` file in the kind folders under `roots`, with the folder's kind.
pub fn files(roots: &[PathBuf]) -> Vec<(PathBuf, Kind)> {
    let mut out: Vec<(PathBuf, Kind)> = Vec::new();
    for root in roots {
        for base in [root.clone(), root.join("models")] {
            for (name, kind) in FOLDERS {
                let Ok(entries) = std::fs::read_dir(base.join(name)) else { continue };
                let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
                paths.sort();
                for p in paths {
                    let weights = p.extension().is_some_and(|e| e.eq_ignore_ascii_case("safetensors"));
                    if weights && p.is_file() && !out.iter().any(|(q, _)| q == &p) {
                        out.push((p, kind));
                    }
                }
            }
        }
    }
    out
}

fn mtime(path: &Path) -> Result<(u64, i64)> {
    let meta = std::fs::metadata(path).map_err(LibraryError::io(path))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Ok((meta.len(), mtime))
}

/// Records one file: its hash (unless size and mtime are as recorded) and what its
/// header says. Returns the row id and whether it was hashed.
pub fn record(lib: &Library, path: &Path, folder_kind: Kind) -> Result<(i64, bool)> {
    let header = Header::read(path)?;
    let (size, mtime) = mtime(path)?;
    let (sha256, hashed) = match lib.recorded(path)? {
        Some((s, m, sha)) if s == size && m == mtime => (sha, false),
        _ => (sha256_file(path)?, true),
    };
    let identity = identify(&header);
    // The folder decides where the daemon looks; the header may know better.
    let kind = identity.kind.or(Some(folder_kind));
    let id = lib.record_file(path, size, mtime, &sha256, kind, identity.architecture, &header.metadata)?;
    Ok((id, hashed))
}

/// Brings the library up to date with the folders under `roots`.
pub fn sync(lib: &Library, roots: &[PathBuf]) -> Result<Scanned> {
    let mut out = Scanned::default();
    for (path, kind) in files(roots) {
        match record(lib, &path, kind) {
            Ok((_, true)) => out.hashed += 1,
            Ok((_, false)) => out.unchanged += 1,
            Err(e @ LibraryError::NotSafetensors { .. }) => out.unreadable.push((path, e.to_string())),
            Err(e) => return Err(e),
        }
    }
    out.removed = lib.prune_missing()?;
    Ok(out)
}

/// A file whose bytes no longer match the hash recorded for it.
#[derive(Debug, PartialEq)]
pub struct Mismatch {
    pub path: PathBuf,
    pub recorded: String,
    pub actual: String,
}

/// Re-hashes every model in the library (slow: reads every byte) and lists those that
/// changed or went missing.
pub fn verify(lib: &Library, mut progress: impl FnMut(&Path)) -> Result<Vec<Mismatch>> {
    let mut bad = Vec::new();
    for m in lib.search(&Default::default())? {
        progress(&m.path);
        let actual = match sha256_file(&m.path) {
            Ok(h) => h,
            Err(LibraryError::Io { .. }) => "missing".to_string(),
            Err(e) => return Err(e),
        };
        if actual != m.sha256 {
            bad.push(Mismatch { path: m.path, recorded: m.sha256, actual });
        }
    }
    Ok(bad)
}

/// Deletes a model's file and its preview picture and forgets it. A file already gone is
/// not an error: the row is what is left to clean up.
pub fn delete(lib: &Library, model: &crate::store::Model) -> Result<()> {
    let gone = |path: &Path| match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(LibraryError::Io { path: path.to_path_buf(), source: e }),
        _ => Ok(()),
    };
    gone(&model.path)?;
    if let Some(p) = crate::preview::find(&model.path) {
        gone(&p)?;
    }
    lib.forget(model.id)
}
