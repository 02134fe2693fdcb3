//! The library's one error type. Messages say what is wrong and what to do: the launcher
//! and the CLI show them as they are.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a safetensors model file: {problem}. Download it again, or remove it")]
    NotSafetensors { path: PathBuf, problem: String },
    #[error("the model library database failed: {0}. If this repeats, close other RA windows and try again")]
    Database(String),
    #[error("no model {0} in the library")]
    NoSuchModel(String),
    #[error("no installed model pack with id {0:?}; `ra-daemon packs list` shows the installed ones")]
    NoSuchPack(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("cannot read the model pack manifest at {origin}: {problem}. Check the address and your connection")]
    ManifestUnreachable { origin: String, problem: String },
    #[error("{path} already exists and is not the model {model:?} the pack describes (its sha256 differs); move or rename that file, then install again")]
    NameTaken { path: PathBuf, model: String },
    #[error("the pack needs {} MiB in {dir} and only {} MiB are free; free some space, then install again", .needed >> 20, .free >> 20)]
    PackNeedsSpace { dir: PathBuf, needed: u64, free: u64 },
    #[error("model pack {pack} was not installed because some models failed ({failures}); models that did arrive are kept and verified, so installing again continues where this stopped")]
    PackIncomplete { pack: String, failures: String },
    #[error("model pack {origin} is not valid: {problem}")]
    BadPack { origin: String, problem: String },
    #[error("cannot download {}: {reason}", .dest.display())]
    InvalidDownload { dest: PathBuf, reason: String },
    #[error("downloading {} needs {} MiB in {} but only {} MiB are free; free some space and start the download again (it resumes where it stopped)", .dest.display(), crate::download::mib(.needed), .dir.display(), crate::download::mib(.free))]
    NotEnoughSpace { dest: PathBuf, dir: PathBuf, needed: u64, free: u64 },
    #[error("the disk filled up while writing {} ({done} bytes so far are kept); free some space and start the download again: it resumes where it stopped", .part.display())]
    DiskFull { part: PathBuf, done: u64 },
    #[error("could not download {}; every source failed:{}", .dest.display(), crate::download::describe_failures(.failures, .kept))]
    DownloadFailed { dest: PathBuf, failures: Vec<crate::download::UrlFailure>, kept: Option<PathBuf> },
    #[error("the download of {} is paused at {done} bytes; start it again to resume", .dest.display())]
    DownloadPaused { dest: PathBuf, done: u64 },
    #[error("the download of {} was cancelled and its partial file deleted", .dest.display())]
    DownloadCancelled { dest: PathBuf },
    #[error("{} already exists with different content (sha256 {actual}, expected {expected}); move it away or delete it, then download again", .dest.display())]
    DestinationExists { dest: PathBuf, expected: String, actual: String },
    // Signed updates (crate::update).
    #[error("the update key built into this RA is not a minisign public key ({problem}); this build is broken: download RA again from its website")]
    UpdateKey { problem: String },
    #[error("cannot read the update manifest at {url}: {problem}. Check the update URL in settings and your connection")]
    UpdateUnreachable { url: String, problem: String },
    #[error("the update signature could not be read ({problem}); the update server answered with something that is not a minisign signature: check the update URL in settings")]
    UpdateSignatureUnreadable { problem: String },
    #[error("this update manifest was signed with a different key than the one built into RA, so it is refused; check the update URL in settings (an organisation's own update server must sign with the key its RA build carries)")]
    UpdateWrongKey,
    #[error("this update manifest does not match its signature: it was changed after signing or damaged on the way, so it is refused; try again later, and if this repeats check the update URL in settings")]
    UpdateTampered,
    #[error("the update manifest is signed but not valid: {problem}; nothing was changed. Tell whoever runs the update server")]
    UpdateManifest { problem: String },
    #[error("{text:?} is not a version RA understands (expected MAJOR.MINOR.PATCH, optionally with -pre.release, such as 0.2.0 or 0.3.0-rc.1)")]
    UpdateVersion { text: String },
    #[error("{text:?} is not a date and time RA understands ({problem}); write it like 2026-03-01T08:00:00Z")]
    UpdateTimestamp { text: String, problem: String },
    #[error("this update manifest expired on {expires} (this computer's clock says {now}); the update server may be stale or replaying an old answer: check the update URL in settings, and that this computer's date is right")]
    UpdateExpired { expires: crate::update::Timestamp, now: crate::update::Timestamp },
    #[error("this update manifest (RA {version}, issued {issued}) is older than one already accepted here (RA {accepted_version}, issued {accepted_issued}), so it is refused; the update server may be stale or replaying an old answer: check the update URL in settings")]
    UpdateReplayed {
        version: crate::update::Version,
        issued: crate::update::Timestamp,
        accepted_version: crate::update::Version,
        accepted_issued: crate::update::Timestamp,
    },
    #[error("the update manifest offers RA {offered}, which is not newer than the installed RA {installed}; RA does not go back through updates. Check the update URL in settings (it may point at an older release channel)")]
    UpdateDowngrade { offered: crate::update::Version, installed: crate::update::Version },
    #[error("RA {version} was installed here before and then rolled back, so it is not installed again; a release newer than {accepted} will be")]
    UpdateRolledBack { version: crate::update::Version, accepted: crate::update::Version },
    #[error("the downloaded {name} is {actual} bytes but the signed update manifest says {expected}; it is incomplete or not the file that was signed. Nothing was changed: try the update again")]
    UpdateArtefactSize { name: String, expected: u64, actual: u64 },
    #[error("the downloaded {name} has sha256 {actual} but the signed update manifest says {expected}; it was damaged or replaced on the way. Nothing was changed: try the update again, and if this repeats check the update URL in settings")]
    UpdateArtefactHash { name: String, expected: String, actual: String },
    #[error("RA {version} did not start after the update: {problem}. RA {restored} is back in place, and {version} will not be installed again; the next newer release will be")]
    UpdateHealthCheck { version: crate::update::Version, problem: String, restored: crate::update::Version },
    #[error("RA {version} did not start after the update ({problem}), and going back to the previous version failed too ({rollback}); download RA again from its website and install it")]
    UpdateRollbackFailed { version: crate::update::Version, problem: String, rollback: String },
    #[error("there is no previous version of RA to go back to")]
    UpdateNoPrevious,
    #[error("no RA version is installed in {} (it has no `current` link); updates apply only to an installed RA: install it from its website", .root.display())]
    UpdateNotInstalled { root: PathBuf },
    #[error("the RA installation is damaged at {}: {problem}; download RA again from its website and install it", .path.display())]
    UpdateLayout { path: PathBuf, problem: String },
    #[error("the update state {} is damaged ({problem}); delete it and check for updates again", .path.display())]
    UpdateState { path: PathBuf, problem: String },
}

impl LibraryError {
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LibraryError + '_ {
        move |source| LibraryError::Io { path: path.to_path_buf(), source }
    }
}

pub type Result<T> = std::result::Result<T, LibraryError>;
