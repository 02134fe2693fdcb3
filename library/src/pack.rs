//! Model packs: what an admin publishes so that users get a curated set of models in one
//! step. A pack is a TOML manifest; the models it names are downloaded, verified and
//! recorded in the library (see [`crate::install`]).
//!
//! ```toml
//! id = "realistic-starter"            # lowercase letters, digits and '-'
//! version = "1.0.0"                   # semver
//! [name]                              # per locale; zh-CN and/or en-US
//! zh-CN = "写实入门包"
//! en-US = "Realistic starter"
//! [description]
//! zh-CN = "…"
//! en-US = "…"
//!
//! [[models]]
//! name = "Realistic Vision 5.1"
//! file = "realisticVisionV51.safetensors"   # the name it gets in the kind's folder
//! kind = "checkpoint"                 # checkpoint, lora, vae, embedding, upscaler, controlnet, depth
//! categories = ["写实", "realistic"]
//! tier = "official"                   # official, recommended or community
//! urls = ["https://example.org/rv51.safetensors", "https://mirror.example.cn/rv51.safetensors"]
//! size = 2132625894                   # bytes
//! sha256 = "…64 hex digits…"
//! license = "CreativeML Open RAIL-M"
//! preview = "https://example.org/rv51.png"   # optional
//! trigger_words = []                  # optional
//! ```
//!
//! Unknown keys are refused, so a typo in a manifest is an error when it is read rather
//! than a silently missing field. Only `.safetensors` files are accepted: packs never
//! deliver pickles.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{LibraryError, Result};

/// What a model is for; the folder it goes in follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Checkpoint,
    Lora,
    Vae,
    Embedding,
    Upscaler,
    #[serde(rename = "controlnet")]
    ControlNet,
    Depth,
}

impl Kind {
    pub const ALL: [Kind; 7] =
        [Kind::Checkpoint, Kind::Lora, Kind::Vae, Kind::Embedding, Kind::Upscaler, Kind::ControlNet, Kind::Depth];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Checkpoint => "checkpoint",
            Kind::Lora => "lora",
            Kind::Vae => "vae",
            Kind::Embedding => "embedding",
            Kind::Upscaler => "upscaler",
            Kind::ControlNet => "controlnet",
            Kind::Depth => "depth",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The folder under a models root where the daemon (and A1111) look for this kind.
    pub fn folder(self) -> &'static str {
        match self {
            Kind::Checkpoint => "Stable-diffusion",
            Kind::Lora => "Lora",
            Kind::Vae => "VAE",
            Kind::Embedding => "embeddings",
            Kind::Upscaler => "ESRGAN",
            Kind::ControlNet => "ControlNet",
            Kind::Depth => "depth",
        }
    }
}

/// Who stands behind a model, as the pack's curator says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Official,
    Recommended,
    Community,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Official => "official",
            Tier::Recommended => "recommended",
            Tier::Community => "community",
        }
    }

    pub fn parse(s: &str) -> Option<Tier> {
        [Tier::Official, Tier::Recommended, Tier::Community].into_iter().find(|t| t.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackModel {
    pub name: String,
    pub file: String,
    pub kind: Kind,
    #[serde(default)]
    pub categories: Vec<String>,
    pub tier: Tier,
    pub urls: Vec<String>,
    pub size: u64,
    pub sha256: String,
    #[serde(default)]
    pub license: String,
    #[serde(default)]
    pub preview: Option<String>,
    #[serde(default)]
    pub trigger_words: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pack {
    pub id: String,
    pub version: String,
    pub name: BTreeMap<String, String>,
    #[serde(default)]
    pub description: BTreeMap<String, String>,
    pub models: Vec<PackModel>,
}

impl Pack {
    /// Reads and checks a manifest; `source` names it in errors (a path or URL).
    pub fn parse(text: &str, source: &str) -> Result<Pack> {
        let bad = |problem: String| LibraryError::BadPack { origin: source.to_string(), problem };
        let pack: Pack = toml::from_str(text).map_err(|e| bad(e.to_string().trim_end().to_string()))?;
        pack.check().map_err(bad)?;
        Ok(pack)
    }

    fn check(&self) -> std::result::Result<(), String> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !self.id.starts_with('-');
        if !id_ok {
            return Err(format!("id {:?} must be 1-64 lowercase letters, digits or '-'", self.id));
        }
        if !self.version.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            || self.version.split('.').count() != 3
        {
            return Err(format!("version {:?} must look like 1.2.3", self.version));
        }
        if !self.name.contains_key("zh-CN") && !self.name.contains_key("en-US") {
            return Err("name needs a zh-CN or an en-US entry".into());
        }
        if self.models.is_empty() {
            return Err("models is empty: a pack lists at least one model".into());
        }
        let mut files = std::collections::HashSet::new();
        for (i, m) in self.models.iter().enumerate() {
            let at = format!("models[{i}] ({:?})", m.name);
            let plain = !m.file.is_empty()
                && !m.file.contains(['/', '\\'])
                && !m.file.starts_with('.')
                && m.file.to_ascii_lowercase().ends_with(".safetensors");
            if !plain {
                return Err(format!("{at}: file {:?} must be a plain .safetensors file name (no folders; packs never deliver pickles)", m.file));
            }
            if !files.insert((m.kind, m.file.clone())) {
                return Err(format!("{at}: file {:?} is listed twice", m.file));
            }
            if m.sha256.len() != 64 || !m.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!("{at}: sha256 must be 64 hex digits, got {:?}", m.sha256));
            }
            if m.urls.is_empty() {
                return Err(format!("{at}: urls is empty; give the main URL and any mirrors, in order"));
            }
            if let Some(url) = m.urls.iter().find(|u| !(u.starts_with("https://") || u.starts_with("http://"))) {
                return Err(format!("{at}: {url:?} is not an http(s) URL"));
            }
            if m.size == 0 {
                return Err(format!("{at}: size must be the file's size in bytes"));
            }
        }
        Ok(())
    }

    /// The name in `locale`, else the other one RA ships, else the id.
    pub fn display_name(&self, locale: &str) -> &str {
        [locale, "zh-CN", "en-US"].iter().find_map(|l| self.name.get(*l)).map(String::as_str).unwrap_or(&self.id)
    }

    /// Bytes of every model together.
    pub fn total_size(&self) -> u64 {
        self.models.iter().map(|m| m.size).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const GOOD: &str = r#"
id = "starter"
version = "1.0.0"
[name]
zh-CN = "入门包"
en-US = "Starter"
[[models]]
name = "Tiny"
file = "tiny.safetensors"
kind = "checkpoint"
categories = ["写实"]
tier = "official"
urls = ["http://127.0.0.1:1/tiny.safetensors"]
size = 10
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
"#;

    #[test]
    fn a_good_manifest_reads() {
        let p = Pack::parse(GOOD, "test").unwrap();
        assert_eq!(p.models[0].kind, Kind::Checkpoint);
        assert_eq!(p.display_name("en-US"), "Starter");
        assert_eq!(p.display_name("fr-FR"), "入门包");
    }

    #[test]
    fn bad_manifests_say_what_is_wrong() {
        let cases = [
            (GOOD.replace("\"starter\"", "\"Starter Pack\""), "lowercase letters"),
            (GOOD.replace("1.0.0", "one"), "must look like 1.2.3"),
            (GOOD.replace("tiny.safetensors\"\nkind", "../tiny.safetensors\"\nkind"), "plain .safetensors file name"),
            (GOOD.replace("tiny.safetensors\"\nkind", "tiny.ckpt\"\nkind"), "never deliver pickles"),
            (GOOD.replace("\"checkpoint\"", "\"hypernetwork\""), "unknown variant `hypernetwork`"),
            (GOOD.replace("\"official\"", "\"gold\""), "unknown variant `gold`"),
            (GOOD.replace("0000000000000000000000000000000000000000000000000000000000000000", "abc"), "64 hex digits"),
            (GOOD.replace("[\"http://127.0.0.1:1/tiny.safetensors\"]", "[]"), "urls is empty"),
            (GOOD.replace("http://127.0.0.1:1/", "file:///etc/"), "not an http(s) URL"),
            (GOOD.replace("size = 10", "size = 10\nmirror = 1"), "unknown field `mirror`"),
        ];
        for (text, want) in cases {
            let err = Pack::parse(&text, "pack.toml").unwrap_err().to_string();
            assert!(err.contains(want) && err.contains("pack.toml"), "want {want:?} in {err}");
        }
    }
}
