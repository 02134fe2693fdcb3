//! The engine's one error type. Messages say what is wrong and what to do, because the
//! CLI shows them to people as they are.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is a pickle checkpoint ({kind}); pickle files can run arbitrary code when loaded, so RA refuses them. Convert it to .safetensors with a trusted tool, or download the .safetensors version of this model")]
    PickleRefused { path: PathBuf, kind: &'static str },
    #[error("{path} is not a valid safetensors file: {reason}. The file is damaged or incomplete; download it again")]
    BadSafetensors { path: PathBuf, reason: String },
    #[error("{path} is not a model RA can read: {reason}")]
    UnknownFormat { path: PathBuf, reason: String },
    #[error("model is missing weight '{name}'{}: the file is incomplete or not a Stable Diffusion 1.x/2.x checkpoint", .detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    MissingWeight {
        name: String,
        detail: Option<String>,
    },
    #[error("{path} is not a TAESD decoder RA can use: {reason}")]
    Taesd { path: PathBuf, reason: String },
    #[error("{path} is not {kind} model RA can run: {reason}")]
    UnsupportedNetwork {
        path: PathBuf,
        kind: &'static str,
        reason: String,
    },
    #[error("ONNX Runtime is not available{}: {reason}. {}", .path.as_ref().map(|p| format!(" (looked for {})", p.display())).unwrap_or_default(), crate::onnx::runtime::INSTALL_HINT)]
    OnnxRuntime {
        path: Option<PathBuf>,
        reason: String,
    },
    #[error("{0}")]
    Onnx(String),
    #[error("cannot tell the model's architecture: {0}")]
    Architecture(String),
    #[error(transparent)]
    Tokenizer(#[from] ra_tokenizer::TokenizerError),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("image: {0}")]
    Image(String),
    #[error("generation was cancelled")]
    Cancelled,
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Png(#[from] ra_wire::PngError),
}

impl EngineError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, EngineError>;
