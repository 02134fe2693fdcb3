//! Model folders: where existing installs keep their models, so the welcome can show
//! what it found and Settings can add an A1111 or ComfyUI install by its folder.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::notice::Notice;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FolderKind {
    /// RA's own `models` folder.
    Ra,
    A1111,
    ComfyUi,
    /// A plain folder with checkpoints in it.
    Checkpoints,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelFolder {
    /// The folder the daemon scans.
    pub path: PathBuf,
    pub kind: FolderKind,
    /// Checkpoint files in it.
    pub checkpoints: usize,
}

const WEIGHT_EXTENSIONS: [&str; 2] = ["safetensors", "ckpt"];

fn count_weights(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .filter(|e| {
                let p = e.path();
                p.extension()
                    .is_some_and(|x| WEIGHT_EXTENSIONS.iter().any(|w| x == *w))
                    || p.join("model_index.json").is_file()
            })
            .count()
    })
}

/// What `dir` is, given either an install's root or its `models` folder.
pub fn recognise(dir: &Path) -> Option<ModelFolder> {
    let candidates = [dir.join("models"), dir.to_path_buf()];
    for models in candidates {
        for (sub, kind) in [
            ("Stable-diffusion", FolderKind::A1111),
            ("checkpoints", FolderKind::ComfyUi),
        ] {
            if models.join(sub).is_dir() {
                return Some(ModelFolder {
                    checkpoints: count_weights(&models.join(sub)),
                    path: models,
                    kind,
                });
            }
        }
    }
    let n = count_weights(dir);
    (n > 0).then(|| ModelFolder {
        path: dir.to_path_buf(),
        kind: FolderKind::Checkpoints,
        checkpoints: n,
    })
}

/// The folder to add for what the user picked, or why it cannot be used.
pub fn add(dir: &Path) -> Result<ModelFolder, Notice> {
    if !dir.is_dir() {
        return Err(Notice::new("settings-folder-missing").arg("path", dir.display()));
    }
    recognise(dir).ok_or_else(|| Notice::new("folder-has-no-models").arg("path", dir.display()))
}

/// RA's own folder (always, even empty), the folders already added, and installs in
/// the usual places under `home`.
pub fn discover(ra_models: &Path, added: &[PathBuf], home: &Path) -> Vec<ModelFolder> {
    let mut found = vec![ModelFolder {
        path: ra_models.to_path_buf(),
        kind: FolderKind::Ra,
        checkpoints: count_weights(&ra_models.join("Stable-diffusion"))
            + count_weights(&ra_models.join("checkpoints"))
            + count_weights(ra_models),
    }];
    let usual = ["stable-diffusion-webui", "stable-diffusion-webui-forge", "ComfyUI"]
        .map(|d| home.join(d));
    for dir in added.iter().chain(&usual) {
        if let Some(f) = recognise(dir) {
            if !found.iter().any(|g| g.path == f.path) {
                found.push(f);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_are_recognised_by_their_layout() {
        let home = tempfile::tempdir().unwrap();
        let a1111 = home.path().join("stable-diffusion-webui/models/Stable-diffusion");
        let comfy = home.path().join("ComfyUI/models/checkpoints");
        for d in [&a1111, &comfy] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(a1111.join("v1-5.safetensors"), b"x").unwrap();
        let ra = home.path().join("ra/models");
        let found = discover(&ra, &[], home.path());
        let kinds: Vec<_> = found.iter().map(|f| (f.kind, f.checkpoints)).collect();
        assert_eq!(
            kinds,
            [(FolderKind::Ra, 0), (FolderKind::A1111, 1), (FolderKind::ComfyUi, 0)]
        );
        assert_eq!(found[1].path, home.path().join("stable-diffusion-webui/models"));

        // Adding by the install's root or its models folder gives the same folder.
        let root = add(&home.path().join("ComfyUI")).unwrap();
        assert_eq!(root, add(&home.path().join("ComfyUI/models")).unwrap());
        let empty = home.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        assert_eq!(add(&empty).unwrap_err().id, "folder-has-no-models");
        assert_eq!(add(&home.path().join("nope")).unwrap_err().id, "settings-folder-missing");
    }
}
