//! Getting a manifest, its signature and the artefacts over HTTP(S), or from files on
//! disk for an admin who mirrors releases to a share. Nothing fetched here is trusted:
//! [`crate::update::Updater`] checks the signature before reading the manifest and each
//! artefact's size and sha256 before anything is switched.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{LibraryError, Result};
use crate::update::{Artefact, Installation};

/// A manifest and its signature are small; anything larger is not one.
const MAX_MANIFEST: u64 = 1 << 20;

fn is_http(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

fn unreachable(url: &str, problem: impl ToString) -> LibraryError {
    LibraryError::UpdateUnreachable { url: url.to_string(), problem: problem.to_string() }
}

/// The bytes at an http(s) URL or a file path, at most `limit`.
fn read(source: &str, limit: u64) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if is_http(source) {
        let mut answer = ureq::get(source).call().map_err(|e| unreachable(source, e))?;
        answer.body_mut().as_reader().take(limit + 1).read_to_end(&mut bytes).map_err(|e| unreachable(source, e))?;
    } else {
        std::fs::File::open(source)
            .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
            .map_err(|e| unreachable(source, e))?;
    }
    if bytes.len() as u64 > limit {
        return Err(unreachable(source, format!("the answer is larger than the expected {limit} bytes")));
    }
    Ok(bytes)
}

/// The manifest at `url` (exact bytes) and the text of `<url>.minisig`.
pub fn fetch_manifest(url: &str) -> Result<(Vec<u8>, String)> {
    let manifest = read(url, MAX_MANIFEST)?;
    let sig_url = format!("{url}.minisig");
    let signature = String::from_utf8(read(&sig_url, MAX_MANIFEST)?)
        .map_err(|_| LibraryError::UpdateSignatureUnreadable { problem: "it is not text".into() })?;
    Ok((manifest, signature))
}

/// A `fetch` for [`crate::update::Updater::install`] that reads each artefact from its
/// URL (or path). It stops one byte past the signed size, so an endless answer cannot
/// fill the disk; the size and hash are checked by the caller.
pub fn download_artefacts() -> impl FnMut(&Artefact, &Path) -> Result<()> {
    |artefact, dest| {
        let bytes = read(&artefact.url, artefact.size)
            .map_err(|e| match e {
                LibraryError::UpdateUnreachable { problem, .. } if problem.starts_with("the answer is larger") => {
                    LibraryError::UpdateArtefactSize { name: artefact.name.clone(), expected: artefact.size, actual: artefact.size + 1 }
                }
                other => other,
            })?;
        std::fs::write(dest, bytes).map_err(LibraryError::io(dest))
    }
}

/// The installation a binary runs from: `<root>/versions/<version>/<binary>` (Linux
/// resolves `<root>/current` to that). `None` for a binary that runs from elsewhere, a
/// build folder say, which updates do not touch.
pub fn installation_of(binary: &Path) -> Option<Installation> {
    let version_dir: PathBuf = binary.parent()?.to_path_buf();
    let versions = version_dir.parent()?;
    if versions.file_name()? != "versions" {
        return None;
    }
    Some(Installation::new(versions.parent()?))
}
