//! Installing a model pack: read the manifest (a file or an http(s) URL), plan what must
//! be downloaded and how much space it needs, download the missing models through the
//! [`crate::download`] manager (verified, resumable), then record every model with what
//! the pack says of it and the pack itself.
//!
//! The pack is recorded only after every model is in place, so a failed or interrupted
//! install leaves no half-installed pack: verified files stay (a retry reuses them),
//! `.part` files stay to resume, and the error says which model failed and why.

use std::path::{Path, PathBuf};

use crate::download::{Control, Download, DownloadConfig, Manager, QueueProgress};
use crate::error::{LibraryError, Result};
use crate::pack::{Pack, PackModel};
use crate::store::{Described, Library};

/// A manifest is a small text file; anything larger is not one.
const MAX_MANIFEST: u64 = 1 << 20;

/// Reads a pack manifest from a file path or an http(s) URL; returns the pack and its text.
pub fn read_manifest(source: &str) -> Result<(Pack, String)> {
    let text = if source.starts_with("http://") || source.starts_with("https://") {
        let fail = |problem: String| LibraryError::ManifestUnreachable { origin: source.to_string(), problem };
        let mut answer = ureq::get(source).call().map_err(|e| fail(e.to_string()))?;
        answer
            .body_mut()
            .with_config()
            .limit(MAX_MANIFEST)
            .read_to_string()
            .map_err(|e| fail(e.to_string()))?
    } else {
        let path = Path::new(source);
        std::fs::read_to_string(path).map_err(LibraryError::io(path))?
    };
    let pack = Pack::parse(&text, source)?;
    Ok((pack, text))
}

/// One model of a pack and where it goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub model: PackModel,
    /// `<root>/<kind folder>/<file>`, or where the library already has these bytes.
    pub dest: PathBuf,
    /// Already in the library with the right sha256: nothing to download.
    pub present: bool,
}

/// What installing a pack will do.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub pack: Pack,
    pub manifest: String,
    pub items: Vec<Item>,
    /// The models root the downloads go under.
    pub root: PathBuf,
}

impl Plan {
    /// Bytes still to download.
    pub fn download_bytes(&self) -> u64 {
        self.items.iter().filter(|i| !i.present).map(|i| i.model.size).sum()
    }

    pub fn missing(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|i| !i.present)
    }
}

/// Works out which of the pack's models the library already has (by sha256, wherever
/// they are) and where the others go under `root`.
pub fn plan(pack: Pack, manifest: String, lib: &Library, root: &Path) -> Result<Plan> {
    let known = lib.search(&Default::default())?;
    let mut items = Vec::new();
    for model in &pack.models {
        let have = known.iter().find(|m| m.sha256.eq_ignore_ascii_case(&model.sha256) && m.path.is_file());
        let item = match have {
            Some(m) => Item { model: model.clone(), dest: m.path.clone(), present: true },
            None => {
                let dest = root.join(model.kind.folder()).join(&model.file);
                if dest.exists() {
                    // Not scanned yet, or some other file holds this name: hash it, and
                    // never overwrite what we did not put there.
                    let same = match crate::scan::record(lib, &dest, model.kind) {
                        Ok((id, _)) => lib.model(id)?.sha256.eq_ignore_ascii_case(&model.sha256),
                        Err(_) => false,
                    };
                    if !same {
                        return Err(LibraryError::NameTaken { path: dest, model: model.name.clone() });
                    }
                    Item { model: model.clone(), dest, present: true }
                } else {
                    Item { model: model.clone(), dest, present: false }
                }
            }
        };
        items.push(item);
    }
    Ok(Plan { pack, manifest, items, root: root.to_path_buf() })
}

/// What an install did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Installed {
    pub downloaded: usize,
    pub already_present: usize,
}

/// Downloads what is missing, records every model with the pack's description, then the
/// pack. `on_progress` gets each file's and the whole queue's progress.
pub fn install(
    plan: &Plan,
    lib: &mut Library,
    config: DownloadConfig,
    on_progress: impl Fn(&QueueProgress) + Sync,
) -> Result<Installed> {
    let controls: Vec<Control> = plan.missing().map(|_| Control::new()).collect();
    install_with(plan, lib, config, &controls, on_progress)
}

/// [`install`] with the caller's pause/cancel handles, one per model still to download in
/// [`Plan::missing`] order (a missing handle means "never paused"). A paused or cancelled
/// model fails the install like any other failure: the pack is not recorded, and
/// installing again resumes.
pub fn install_with(
    plan: &Plan,
    lib: &mut Library,
    config: DownloadConfig,
    controls: &[Control],
    on_progress: impl Fn(&QueueProgress) + Sync,
) -> Result<Installed> {
    // What is still to fetch: a `.part` left by an interrupted run counts as fetched.
    let needed: u64 = plan
        .missing()
        .map(|i| {
            let part = Download::new(Vec::<String>::new(), "", i.dest.clone()).part_path();
            i.model.size.saturating_sub(std::fs::metadata(part).map(|m| m.len()).unwrap_or(0))
        })
        .sum();
    if needed > 0 {
        std::fs::create_dir_all(&plan.root).map_err(LibraryError::io(&plan.root))?;
        let free = (config.free_space)(&plan.root).map_err(LibraryError::io(&plan.root))?;
        if free < needed + config.free_space_margin {
            return Err(LibraryError::PackNeedsSpace { dir: plan.root.clone(), needed, free });
        }
    }
    let mut manager = Manager::new(config);
    let missing: Vec<&Item> = plan.missing().collect();
    for (index, item) in missing.iter().enumerate() {
        if let Some(dir) = item.dest.parent() {
            std::fs::create_dir_all(dir).map_err(LibraryError::io(dir))?;
        }
        let download = Download::new(item.model.urls.clone(), item.model.sha256.clone(), item.dest.clone()).with_size(item.model.size);
        manager.add_controlled(download, controls.get(index).cloned().unwrap_or_default());
    }
    let outcomes = manager.run(on_progress);
    let failures: Vec<String> = missing
        .iter()
        .zip(&outcomes)
        .filter_map(|(item, outcome)| outcome.as_ref().err().map(|e| format!("{}: {e}", item.model.name)))
        .collect();
    // Record what did arrive even when something failed: those files are verified, and
    // a retry finds them instead of downloading them again.
    for item in &plan.items {
        if item.dest.is_file() {
            let (id, _) = crate::scan::record(lib, &item.dest, item.model.kind)?;
            let architecture = lib.model(id)?.architecture;
            lib.describe(id, &Described { entry: &item.model, architecture: &architecture })?;
            if let Some(url) = &item.model.preview {
                // A missing picture must not fail an install of verified models.
                let _ = crate::preview::fetch(url, &item.dest);
            }
        }
    }
    if !failures.is_empty() {
        return Err(LibraryError::PackIncomplete { pack: plan.pack.id.clone(), failures: failures.join("; ") });
    }
    lib.add_pack(&plan.pack, &plan.manifest)?;
    Ok(Installed { downloaded: missing.len(), already_present: plan.items.len() - missing.len() })
}

/// Forgets the pack `id` and deletes the models nothing else wants (no other pack lists
/// them and the user did not keep them), with their preview pictures. Returns the files
/// deleted.
pub fn remove(lib: &mut Library, id: &str) -> Result<Vec<PathBuf>> {
    let freed = lib.remove_pack(id)?;
    let mut deleted = Vec::new();
    for m in &freed {
        crate::scan::delete(lib, m)?;
        deleted.push(m.path.clone());
    }
    Ok(deleted)
}
