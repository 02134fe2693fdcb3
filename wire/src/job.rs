//! Jobs as the daemon queues them and as clients (HTTP, D-Bus, the launcher) see them.

use serde::{Deserialize, Serialize};

/// What to generate. Every field has A1111's default, so a client sends only what it
/// changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobRequest {
    pub prompt: String,
    pub negative_prompt: String,
    pub steps: u32,
    /// A1111 sampler name (`Euler a`, `DPM++ 2M`, …).
    pub sampler: String,
    /// `Automatic` or `Karras`.
    pub schedule_type: String,
    pub cfg_scale: f64,
    /// -1 for random; image `i` of the job uses `seed + i`.
    pub seed: i64,
    pub width: u32,
    pub height: u32,
    /// Images to make (A1111's `batch_size × n_iter`).
    pub count: u32,
    /// img2img: clients send the input image as base64 PNG/JPEG (or a data URL); the
    /// daemon stores it and keeps the stored file's path here. With the strength.
    pub init_image: Option<String>,
    pub denoising_strength: Option<f64>,
    /// Inpainting: a mask image like `init_image` (white = repaint), how many pixels to
    /// blur its edge, and how the masked area starts (`fill`, `original`,
    /// `latent_noise`, `latent_nothing`).
    pub mask: Option<String>,
    pub mask_blur: u32,
    pub inpainting_fill: String,
    /// Repaint what the mask keeps, and keep what it paints.
    pub inpainting_mask_invert: bool,
    /// "Only masked": generate the box around the mask, grown by the padding, at full
    /// resolution and paste it back.
    pub inpaint_full_res: bool,
    pub inpaint_full_res_padding: u32,
    /// Outpainting: pixels to add on the left, top, right and bottom; the new area is
    /// inpainted (with `init_image`).
    pub outpaint: [u32; 4],
    /// A1111's `randn_source`: `GPU` (NVIDIA's stream), `NV` (the same) or `CPU`.
    pub rng: String,
    /// Variation seed (-1 random) and how much of its noise to blend in, 0–1.
    pub subseed: i64,
    pub subseed_strength: f64,
    /// Stochastic samplers' eta and noise scale; `None` keeps A1111's defaults.
    pub eta: Option<f64>,
    pub s_noise: Option<f64>,
    /// A1111's "Clip skip" (1 = the text encoder's last layer).
    pub clip_skip: u32,
    /// Hires fix (txt2img): a second pass at `hr_scale` times the size, enlarged by
    /// `hr_upscaler` (`Latent` or `Lanczos`), with `hr_second_pass_steps` (0 = `steps`)
    /// at `denoising_strength` (default 0.7).
    pub enable_hr: bool,
    /// A VAE from the VAE folders by file name (A1111's `sd_vae`); `None` keeps the
    /// model's own.
    pub vae: Option<String>,
    pub hr_scale: f64,
    pub hr_upscaler: String,
    pub hr_second_pass_steps: u32,
    /// Prompt styles by name (A1111's `styles`), applied by the styles plugin.
    pub styles: Vec<String>,
    /// Model title or name; `None` uses the daemon's current model.
    pub model: Option<String>,
    /// Higher runs first; equal priorities run in submission order.
    pub priority: i32,
}

impl Default for JobRequest {
    fn default() -> Self {
        Self {
            prompt: String::new(),
            negative_prompt: String::new(),
            steps: 20,
            sampler: "Euler a".into(),
            schedule_type: "Automatic".into(),
            cfg_scale: 7.0,
            seed: -1,
            width: 512,
            height: 512,
            count: 1,
            init_image: None,
            denoising_strength: None,
            mask: None,
            mask_blur: 4,
            inpainting_fill: "original".into(),
            inpainting_mask_invert: false,
            inpaint_full_res: false,
            inpaint_full_res_padding: 32,
            outpaint: [0; 4],
            rng: "GPU".into(),
            subseed: -1,
            subseed_strength: 0.0,
            eta: None,
            s_noise: None,
            clip_skip: 1,
            enable_hr: false,
            vae: None,
            hr_scale: 2.0,
            hr_upscaler: "Latent".into(),
            hr_second_pass_steps: 0,
            styles: Vec::new(),
            model: None,
            priority: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
    /// The daemon stopped (crash, power loss) while the job ran.
    Interrupted,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Running,
            Self::Done,
            Self::Failed,
            Self::Cancelled,
            Self::Interrupted,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        !matches!(self, Self::Queued | Self::Running)
    }
}

/// A job with what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobInfo {
    pub id: i64,
    pub status: JobStatus,
    pub request: JobRequest,
    pub created_at: f64,
    pub started_at: Option<f64>,
    pub finished_at: Option<f64>,
    pub error: Option<String>,
    /// Output file names, relative to the output folder.
    pub outputs: Vec<String>,
    pub seeds: Vec<u64>,
    pub infotexts: Vec<String>,
    /// Place in the queue (0 = next) while queued.
    pub position: Option<u32>,
}

/// What the daemon tells watchers while jobs run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum JobEvent {
    Started {
        id: i64,
    },
    Progress {
        id: i64,
        /// Steps done over all images of the job.
        step: u32,
        total: u32,
        eta_seconds: f64,
        /// A small PNG of the current latent, base64, when available.
        preview: Option<String>,
    },
    Finished {
        id: i64,
        outputs: Vec<String>,
    },
    Failed {
        id: i64,
        error: String,
    },
    Cancelled {
        id: i64,
    },
}

impl JobEvent {
    /// The event that ended `job`, for a watcher that arrives after the end.
    pub fn from_final(job: &JobInfo) -> Self {
        let id = job.id;
        match job.status {
            JobStatus::Done => Self::Finished {
                id,
                outputs: job.outputs.clone(),
            },
            JobStatus::Cancelled => Self::Cancelled { id },
            JobStatus::Queued | JobStatus::Running => Self::Started { id },
            JobStatus::Failed | JobStatus::Interrupted => Self::Failed {
                id,
                error: job
                    .error
                    .clone()
                    .unwrap_or_else(|| job.status.as_str().to_string()),
            },
        }
    }

    /// Whether this is the last event of its job.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Finished { .. } | Self::Failed { .. } | Self::Cancelled { .. }
        )
    }

    pub fn job_id(&self) -> i64 {
        match self {
            Self::Started { id }
            | Self::Progress { id, .. }
            | Self::Finished { id, .. }
            | Self::Failed { id, .. }
            | Self::Cancelled { id } => *id,
        }
    }
}
