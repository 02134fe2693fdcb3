//! What the updater remembers between runs: the newest manifest it accepted, by version
//! and `issued` time, in `<state dir>/update-state.toml`. Every later manifest is judged
//! against it, so an old (still validly signed) answer cannot be replayed, and a version
//! that was installed and then rolled back is not installed again.
//!
//! Written with write-then-rename: a crash leaves the old record or the new one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::value::Datetime;

use super::durable;
use super::{Timestamp, Version};
use crate::error::{LibraryError, Result};

pub const FILE_NAME: &str = "update-state.toml";

/// The newest manifest this installation accepted (installed from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub version: Version,
    pub issued: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct Record {
    version: String,
    issued: Datetime,
}

pub(crate) fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

pub(crate) fn load(dir: &Path) -> Result<Option<Accepted>> {
    let path = path(dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LibraryError::io(&path)(e)),
    };
    let damaged = |problem: String| LibraryError::UpdateState { path: path.clone(), problem };
    let record: Record = toml::from_str(&text).map_err(|e| damaged(e.message().to_string()))?;
    let version = record.version.parse().map_err(|e: LibraryError| damaged(e.to_string()))?;
    let issued = Timestamp::from_toml(&record.issued).map_err(damaged)?;
    Ok(Some(Accepted { version, issued }))
}

pub(crate) fn save(dir: &Path, accepted: &Accepted) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(LibraryError::io(dir))?;
    let record = Record { version: accepted.version.to_string(), issued: accepted.issued.to_toml() };
    let body = toml::to_string(&record).map_err(|e| LibraryError::UpdateState { path: path(dir), problem: e.to_string() })?;
    let text = format!(
        "# RA's updater: the newest update manifest accepted here. Manifests issued before it, or\n\
         # offering a version not newer than it, are refused.\n{body}"
    );
    durable::write_file(&path(dir), text.as_bytes())
}
