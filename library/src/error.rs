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
    #[error("model pack {origin} is not valid: {problem}")]
    BadPack { origin: String, problem: String },
}

impl LibraryError {
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LibraryError + '_ {
        move |source| LibraryError::Io { path: path.to_path_buf(), source }
    }
}

pub type Result<T> = std::result::Result<T, LibraryError>;
