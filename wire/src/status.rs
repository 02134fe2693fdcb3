//! What the daemon reports about itself: its current work and its models.

use serde::{Deserialize, Serialize};

/// A snapshot of the daemon: what runs, how far it is, what waits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DaemonStatus {
    pub version: String,
    /// The running job, if any.
    pub job: Option<i64>,
    /// Steps done and to do over all images of the running job.
    pub step: u32,
    pub total: u32,
    pub eta_seconds: f64,
    /// Jobs waiting behind the running one.
    pub queued: u32,
    /// Title of the loaded (or selected, while it loads) checkpoint.
    pub model: Option<String>,
    /// Why the selected checkpoint could not be loaded, until another one loads.
    pub model_error: Option<String>,
    /// The latest step's preview, a small PNG in base64.
    pub preview: Option<String>,
    /// Where finished images go; `JobInfo::outputs` are relative to it.
    #[serde(default)]
    pub output_dir: String,
}

/// What kind of file a model folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    Checkpoint,
    Lora,
    Vae,
    Embedding,
    Upscaler,
    ControlNet,
    /// Monocular depth estimators (Depth Anything), which plugins run for depth maps.
    Depth,
}

/// One model file (or diffusers folder) the daemon found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub kind: ModelKind,
    /// File stem, or folder name for a diffusers folder.
    pub name: String,
    /// A1111's title, `name.safetensors [0123456789]`.
    pub title: String,
    pub path: String,
    pub size: u64,
    /// Full sha256 (checkpoints only); its first 10 digits are A1111's AutoV2 hash.
    pub sha256: Option<String>,
}
