//! The library's one error type. Messages say what is wrong and what to do: the launcher
//! and the CLI show them as they are.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a safetensors model file: {problem}. Download it again, or remove it")]
    NotSafetensors { path: PathBuf, problem: String },
    #[error("model pack {origin} is not valid: {problem}")]
    BadPack { origin: String, problem: String },
}

impl LibraryError {
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LibraryError + '_ {
        move |source| LibraryError::Io { path: path.to_path_buf(), source }
    }
}

pub type Result<T> = std::result::Result<T, LibraryError>;
