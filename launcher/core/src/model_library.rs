//! The Models page: the model library (`ra_library`'s SQLite store, shared with the
//! daemon and `ra-daemon models`) brought up to date with the model folders, filtered
//! and sorted as the page asks, each model as a card the QML grid shows as it is.
//!
//! Every call opens the store afresh: the calls are few and user-paced, and a
//! connection per call needs no locking against the daemon or the CLI (SQLite's WAL
//! does that).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ra_library::pack::{Kind, Tier};
use ra_library::store::{Library, Model, Query, Sort};
use serde::{Deserialize, Serialize};

use crate::notice::Notice;

/// What the page's filter bar holds; empty strings and 0 match everything.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ModelFilter {
    pub kind: String,
    pub category: String,
    pub tier: String,
    pub min_rating: u8,
    pub text: String,
    /// `name`, `date`, `size` or `rating`.
    pub sort: String,
}

impl ModelFilter {
    pub fn query(&self) -> Query {
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        Query {
            kind: Kind::parse(&self.kind),
            category: some(&self.category),
            tier: Tier::parse(&self.tier),
            min_rating: (self.min_rating > 0).then_some(self.min_rating),
            text: some(&self.text),
            sort: match self.sort.as_str() {
                "date" => Sort::Date,
                "size" => Sort::Size,
                "rating" => Sort::Rating,
                _ => Sort::Name,
            },
        }
    }
}

/// One model as the grid and the detail view show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelCard {
    pub id: i64,
    pub name: String,
    pub file: String,
    pub path: String,
    /// `checkpoint`, `lora`, …; empty when unknown.
    pub kind: String,
    pub architecture: String,
    pub size: u64,
    pub sha256: String,
    pub autov2: String,
    pub source_url: String,
    pub categories: Vec<String>,
    pub trigger_words: Vec<String>,
    /// `official`, `recommended`, `community`, or empty.
    pub tier: String,
    pub license: String,
    /// 0 for unrated.
    pub rating: u8,
    pub note: String,
    pub added: i64,
    pub packs: Vec<String>,
    pub kept: bool,
    /// `file://` URL of the picture beside the model, or empty.
    pub preview: String,
    /// The safetensors `__metadata__` as `key: value` lines (for models no pack describes).
    pub metadata: Vec<String>,
}

impl ModelCard {
    fn of(m: &Model) -> Self {
        ModelCard {
            id: m.id,
            name: m.name.clone(),
            file: m.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            path: m.path.display().to_string(),
            kind: m.kind.map(Kind::as_str).unwrap_or_default().to_string(),
            architecture: m.architecture.clone(),
            size: m.size,
            sha256: m.sha256.clone(),
            autov2: m.autov2().to_string(),
            source_url: m.source_url.clone().unwrap_or_default(),
            categories: m.categories.clone(),
            trigger_words: m.trigger_words.clone(),
            tier: m.tier.map(Tier::as_str).unwrap_or_default().to_string(),
            license: m.license.clone(),
            rating: m.rating.unwrap_or(0),
            note: m.note.clone(),
            added: m.added,
            packs: m.packs.clone(),
            kept: m.kept,
            preview: ra_library::preview::find(&m.path).map(|p| crate::files::file_url(&p)).unwrap_or_default(),
            metadata: m.metadata.iter().map(|(k, v)| format!("{k}: {v}")).collect(),
        }
    }
}

/// What the page shows after a refresh.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Listing {
    pub models: Vec<ModelCard>,
    /// Every category in the library, for the filter's choices.
    pub categories: Vec<String>,
    /// Files in the model folders that are not models, as `path: reason`.
    pub skipped: Vec<String>,
}

/// The library of one data folder and the model roots the daemon serves.
#[derive(Debug, Clone)]
pub struct ModelLibrary {
    db: PathBuf,
    roots: Vec<PathBuf>,
}

impl ModelLibrary {
    /// The library in `data_dir` over the model folders under `roots`.
    pub fn new(data_dir: &Path, roots: Vec<PathBuf>) -> Self {
        ModelLibrary { db: Library::path_in(data_dir), roots }
    }

    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    pub fn open(&self) -> Result<Library, Notice> {
        Library::open(&self.db).map_err(|e| Notice::from_library(&e))
    }

    /// Scans the folders (hashing only new or changed files), then lists what `filter`
    /// matches.
    pub fn list(&self, filter: &ModelFilter) -> Result<Listing, Notice> {
        let lib = self.open()?;
        let scanned = ra_library::scan::sync(&lib, &self.roots).map_err(|e| Notice::from_library(&e))?;
        let all = lib.search(&Query::default()).map_err(|e| Notice::from_library(&e))?;
        let categories: BTreeSet<String> = all.iter().flat_map(|m| m.categories.iter().cloned()).collect();
        let models = lib.search(&filter.query()).map_err(|e| Notice::from_library(&e))?;
        Ok(Listing {
            models: models.iter().map(ModelCard::of).collect(),
            categories: categories.into_iter().collect(),
            skipped: scanned.unreadable.iter().map(|(p, why)| format!("{}: {why}", p.display())).collect(),
        })
    }

    /// Sets 1–5 stars (0 clears them).
    pub fn rate(&self, id: i64, stars: u8) -> Result<(), Notice> {
        if stars > 5 {
            return Err(Notice::new("models-rating-invalid"));
        }
        self.open()?.set_rating(id, (stars > 0).then_some(stars)).map_err(|e| Notice::from_library(&e))
    }

    pub fn set_note(&self, id: i64, note: &str) -> Result<(), Notice> {
        self.open()?.set_note(id, note.trim()).map_err(|e| Notice::from_library(&e))
    }

    /// Deletes the model's file and preview and forgets it; says what was deleted.
    pub fn delete(&self, id: i64) -> Result<Notice, Notice> {
        let lib = self.open()?;
        let model = lib.model(id).map_err(|e| Notice::from_library(&e))?;
        ra_library::scan::delete(&lib, &model).map_err(|e| Notice::from_library(&e))?;
        Ok(Notice::new("models-deleted").arg("name", &model.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real (tiny) LoRA file: a safetensors header naming one LoRA tensor.
    fn put_lora(path: &Path, metadata: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let header = format!(
            r#"{{"__metadata__":{{{metadata}}},"lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight":{{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}}}"#
        );
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend(header.as_bytes());
        out.extend([0u8; 16]);
        std::fs::write(path, out).unwrap();
    }

    #[test]
    fn the_page_lists_filters_rates_and_deletes_real_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("models");
        put_lora(&root.join("Lora/inked.safetensors"), r#""ss_output_name":"inked""#);
        put_lora(&root.join("Lora/watercolour.safetensors"), "");
        std::fs::write(root.join("Lora/inked.preview.png"), b"\x89PNG\r\n\x1a\n").unwrap();
        std::fs::write(root.join("Lora/broken.safetensors"), b"nope").unwrap();
        let library = ModelLibrary::new(dir.path(), vec![root.clone()]);

        let all = library.list(&ModelFilter::default()).unwrap();
        let names: Vec<&str> = all.models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["inked", "watercolour"]);
        let inked = &all.models[0];
        assert_eq!((inked.kind.as_str(), inked.file.as_str()), ("lora", "inked.safetensors"));
        assert!(inked.preview.starts_with("file://") && inked.preview.ends_with("inked.preview.png"), "{}", inked.preview);
        assert_eq!(inked.metadata, ["ss_output_name: inked"]);
        assert_eq!(inked.autov2.len(), 10);
        assert_eq!(all.skipped.len(), 1);
        assert!(all.skipped[0].contains("broken.safetensors"), "{:?}", all.skipped);

        library.rate(inked.id, 4).unwrap();
        library.set_note(inked.id, "  good for line art ").unwrap();
        assert_eq!(library.rate(inked.id, 6).unwrap_err().id, "models-rating-invalid");
        let rated = library.list(&ModelFilter { min_rating: 3, ..Default::default() }).unwrap();
        assert_eq!(rated.models.len(), 1);
        assert_eq!((rated.models[0].rating, rated.models[0].note.as_str()), (4, "good for line art"));
        let searched = library.list(&ModelFilter { text: "line art".into(), ..Default::default() }).unwrap();
        assert_eq!(searched.models.len(), 1);
        let none = library.list(&ModelFilter { kind: "checkpoint".into(), ..Default::default() }).unwrap();
        assert!(none.models.is_empty());

        let said = library.delete(inked.id).unwrap();
        assert_eq!(said.id, "models-deleted");
        assert!(!root.join("Lora/inked.safetensors").exists());
        assert!(!root.join("Lora/inked.preview.png").exists());
        assert_eq!(library.list(&ModelFilter::default()).unwrap().models.len(), 1);
        assert_eq!(library.delete(inked.id).unwrap_err().id, "library-failed");
    }
}
