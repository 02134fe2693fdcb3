//! The Packs page: the packs installed in the library and the ones the user (or an
//! admin, through the settings) has pointed the launcher at, each with what installing
//! it would download and whether the disk has room.

use std::collections::BTreeMap;

use ra_library::install::{self, Plan};
use serde::Serialize;

use crate::model_library::ModelLibrary;
use crate::notice::Notice;

/// One model line of a pack card.
#[derive(Debug, Clone, Serialize)]
pub struct PackModelLine {
    pub name: String,
    pub kind: String,
    pub size: u64,
    pub tier: String,
    pub categories: Vec<String>,
    /// Already in the library (by sha256).
    pub present: bool,
}

/// A pack as the page shows it: from its manifest, with the install plan's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct PackCard {
    /// The manifest's file or URL.
    pub source: String,
    pub id: String,
    pub version: String,
    pub name: BTreeMap<String, String>,
    pub description: BTreeMap<String, String>,
    pub models: Vec<PackModelLine>,
    /// Bytes still to download.
    pub download: u64,
    /// Free bytes where the models go.
    pub free: u64,
    pub fits: bool,
    /// The installed version of this pack, or empty.
    pub installed: String,
}

/// Reads `source`'s manifest and plans its install into the first models folder.
pub fn plan(library: &ModelLibrary, source: &str) -> Result<Plan, Notice> {
    let source = source.trim();
    if source.is_empty() {
        return Err(Notice::new("packs-source-empty"));
    }
    let (pack, text) = install::read_manifest(source).map_err(|e| Notice::from_library(&e))?;
    let lib = library.open()?;
    let root = library.roots().first().ok_or_else(|| Notice::new("packs-no-models-folder"))?;
    install::plan(pack, text, &lib, root).map_err(|e| Notice::from_library(&e))
}

/// The card for `source`.
pub fn card(library: &ModelLibrary, source: &str) -> Result<PackCard, Notice> {
    let plan = plan(library, source)?;
    let installed = installed(library)?
        .into_iter()
        .find(|p| p.id == plan.pack.id)
        .map(|p| p.version)
        .unwrap_or_default();
    let download = plan.download_bytes();
    // The folder may not exist yet: its nearest existing parent is on the same disk.
    let free = plan.root.ancestors().find_map(|d| ra_library::download::free_space(d).ok()).unwrap_or(0);
    Ok(PackCard {
        source: source.trim().to_string(),
        id: plan.pack.id.clone(),
        version: plan.pack.version.clone(),
        name: plan.pack.name.clone(),
        description: plan.pack.description.clone(),
        models: plan
            .items
            .iter()
            .map(|i| PackModelLine {
                name: i.model.name.clone(),
                kind: i.model.kind.as_str().to_string(),
                size: i.model.size,
                tier: i.model.tier.as_str().to_string(),
                categories: i.model.categories.clone(),
                present: i.present,
            })
            .collect(),
        download,
        free,
        fits: download < free,
        installed,
    })
}

/// The installed packs.
pub fn installed(library: &ModelLibrary) -> Result<Vec<ra_library::store::InstalledPack>, Notice> {
    library.open()?.packs().map_err(|e| Notice::from_library(&e))
}

/// Forgets an installed pack and deletes the models nothing else wants.
pub fn remove(library: &ModelLibrary, id: &str) -> Result<Notice, Notice> {
    let mut lib = library.open()?;
    let deleted = install::remove(&mut lib, id).map_err(|e| Notice::from_library(&e))?;
    Ok(Notice::new("packs-removed").arg("pack", id).arg("count", deleted.len()))
}
