//! The update manifest: what a release offers, as its publisher signed it. The format is
//! described in the [module docs](super). [`Manifest::verify`] is the only way to get
//! one: it checks the signature over the exact bytes before it parses anything, so no
//! field of an unsigned or altered manifest is ever acted on.
//!
//! Unknown keys are tolerated (a later format may add optional ones that older launchers
//! can ignore); anything an older launcher must not ignore comes with a new `format`
//! number, which it refuses with a message that says to download RA again.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use toml::value::Datetime;

use super::signature::{self, UpdateKey};
use super::{Timestamp, Version};
use crate::error::{LibraryError, Result};

/// The manifest format this launcher understands.
pub const FORMAT: i64 = 1;

/// A verified, validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub version: Version,
    pub issued: Timestamp,
    pub expires: Timestamp,
    /// Release notes by locale (`zh-CN`, `en-US`, …); see [`Manifest::notes_for`].
    pub notes: BTreeMap<String, String>,
    pub artefacts: Vec<Artefact>,
}

/// One file of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artefact {
    /// The file's name in the version directory, e.g. `ra-daemon`.
    pub name: String,
    pub url: String,
    /// Lowercase hex.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
}

#[derive(Deserialize)]
struct RawManifest {
    version: String,
    issued: Datetime,
    expires: Datetime,
    #[serde(default)]
    notes: BTreeMap<String, String>,
    artefacts: Vec<RawArtefact>,
}

#[derive(Deserialize)]
struct RawArtefact {
    name: String,
    url: String,
    sha256: String,
    size: u64,
}

impl Manifest {
    /// Verifies `signature` over `bytes` with `key`, then parses the manifest and checks
    /// that it carries every one of `required` artefacts. Freshness (expiry, replay,
    /// version) is the updater's business, not this function's.
    pub fn verify(bytes: &[u8], signature: &str, key: &UpdateKey, required: &[String]) -> Result<Manifest> {
        signature::verify(key, bytes, signature)?;
        let text = std::str::from_utf8(bytes).map_err(|_| invalid("it is not UTF-8 text".into()))?;
        parse(text, required).map_err(invalid)
    }

    pub fn artefact(&self, name: &str) -> Option<&Artefact> {
        self.artefacts.iter().find(|a| a.name == name)
    }

    /// The notes for `locale`, else for its language (`zh-TW` finds `zh-CN`), else the
    /// English ones, else any.
    pub fn notes_for(&self, locale: &str) -> Option<&str> {
        let language = |tag: &str| tag.split(['-', '_']).next().unwrap_or_default().to_ascii_lowercase();
        self.notes
            .iter()
            .find(|(tag, _)| tag.eq_ignore_ascii_case(locale))
            .or_else(|| self.notes.iter().find(|(tag, _)| language(tag) == language(locale)))
            .or_else(|| self.notes.iter().find(|(tag, _)| language(tag) == "en"))
            .or_else(|| self.notes.iter().next())
            .map(|(_, text)| text.as_str())
    }
}

fn invalid(problem: String) -> LibraryError {
    LibraryError::UpdateManifest { problem }
}

fn parse(text: &str, required: &[String]) -> std::result::Result<Manifest, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| format!("it is not valid TOML: {}", e.message()))?;
    // The format number is read on its own first, so that a newer format is reported as
    // such rather than as whatever field it happens to have changed.
    match table.get("format").and_then(toml::Value::as_integer) {
        Some(FORMAT) => {}
        Some(other) => {
            return Err(format!(
                "it uses manifest format {other}, newer than this RA understands ({FORMAT}); download the current RA from its website"
            ));
        }
        None => return Err(format!("it has no `format = {FORMAT}` line")),
    }
    // Parsed again from the text, not from `table`: going through a `toml::Value` turns
    // date-times into strings.
    let raw: RawManifest = toml::from_str(text).map_err(|e| e.message().to_string())?;

    let version: Version = raw.version.parse().map_err(|e: LibraryError| e.to_string())?;
    let issued = Timestamp::from_toml(&raw.issued).map_err(|e| format!("issued: {e}"))?;
    let expires = Timestamp::from_toml(&raw.expires).map_err(|e| format!("expires: {e}"))?;
    if expires <= issued {
        return Err(format!("it expires ({expires}) no later than it was issued ({issued})"));
    }

    let mut names = BTreeSet::new();
    let mut artefacts = Vec::with_capacity(raw.artefacts.len());
    for raw in raw.artefacts {
        if !is_plain_file_name(&raw.name) {
            return Err(format!(
                "artefact name {:?} is not a plain file name (letters, digits, '-', '_', '.', not starting with '.')",
                raw.name
            ));
        }
        if !names.insert(raw.name.clone()) {
            return Err(format!("artefact {} is listed twice", raw.name));
        }
        if raw.url.trim().is_empty() {
            return Err(format!("artefact {} has no url", raw.name));
        }
        let sha256 = raw.sha256.to_ascii_lowercase();
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("artefact {}: sha256 must be 64 hex digits", raw.name));
        }
        if raw.size == 0 {
            return Err(format!("artefact {} has size 0", raw.name));
        }
        artefacts.push(Artefact { name: raw.name, url: raw.url, sha256, size: raw.size });
    }
    // A release without one of the binaries would leave `current/` holding half a release.
    if let Some(missing) = required.iter().find(|name| !names.contains(name.as_str())) {
        return Err(format!("it has no artefact named {missing}, which every release must carry"));
    }

    Ok(Manifest { version, issued, expires, notes: raw.notes, artefacts })
}

/// A name that stays inside the version directory and is not hidden (leftovers of
/// interrupted work use hidden names there).
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
