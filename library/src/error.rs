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
}

impl LibraryError {
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LibraryError + '_ {
        move |source| LibraryError::Io { path: path.to_path_buf(), source }
    }
}

pub type Result<T> = std::result::Result<T, LibraryError>;
