//! What the daemon does for a client, whichever way the client reaches it. The HTTP
//! handlers and the D-Bus interface are thin shells over [`Service`]: a job submitted
//! over either is validated, stored and reported the same way, and both report errors
//! as a [`ServiceError`] whose [`code`](ServiceError::code) clients can rely on.

use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use ra_wire::{DaemonStatus, JobInfo, JobRequest, ModelKind, SamplerName, ScheduleType};

use crate::models::{self, ModelEntry};
use crate::store::StoreError;
use crate::worker::Worker;

/// The store key for A1111's `sd_model_checkpoint` option.
pub const SELECTED_MODEL_KEY: &str = "sd_model_checkpoint";

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A request field is out of range or unreadable; `field` uses RA's field names.
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("the input image is {width}x{height}; the limit is {limit} pixels a side")]
    ImageTooLarge { width: u32, height: u32, limit: u32 },
    #[error("the queue is full ({0} jobs wait); retry later")]
    QueueFull(u32),
    #[error("no job {0}")]
    NoSuchJob(i64),
    #[error("job {0} is not queued or running")]
    NotCancellable(i64),
    #[error("job {0} is still queued or running; cancel it first")]
    JobActive(i64),
    #[error("no checkpoint named '{0}'; list the installed ones with /sdapi/v1/sd-models")]
    NoSuchModel(String),
    #[error("no checkpoint is installed: put a .safetensors checkpoint (or a diffusers folder) in {0}, or start the daemon with --models-dir pointing at an A1111 or ComfyUI install")]
    NoModelInstalled(String),
    #[error("cannot save the input image: {0}")]
    SaveInput(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// Stable, machine-readable: the launcher translates these.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid_field",
            Self::ImageTooLarge { .. } => "image_too_large",
            Self::QueueFull(_) => "queue_full",
            Self::NoSuchJob(_) => "no_such_job",
            Self::NotCancellable(_) => "not_cancellable",
            Self::JobActive(_) => "job_active",
            Self::NoSuchModel(_) => "no_such_model",
            Self::NoModelInstalled(_) => "no_model_installed",
            Self::SaveInput(_) | Self::Store(_) | Self::Internal(_) => "internal",
        }
    }
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// Limits and places a [`Service`] works with.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// Holds `library.sqlite`, the model library the launcher and `ra-daemon packs` keep.
    pub library: PathBuf,
    pub input_dir: PathBuf,
    pub output_dir: PathBuf,
    pub models_dirs: Vec<PathBuf>,
    pub queue_limit: u32,
    pub max_image_side: u32,
}

pub struct Service {
    pub worker: Arc<Worker>,
    pub settings: ServiceSettings,
}

/// Largest number of images one job may ask for.
pub const MAX_COUNT: u32 = 64;
/// Largest step count one image may ask for.
pub const MAX_STEPS: u32 = 1000;

impl Service {
    pub fn new(worker: Arc<Worker>, settings: ServiceSettings) -> Self {
        Self { worker, settings }
    }

    /// Validates and queues a job. A client's `init_image` is base64 (or a data URL);
    /// it is decoded, checked and stored under the inputs folder before the job exists,
    /// so a queued job never points at a missing or unreadable image.
    pub fn submit(&self, mut req: JobRequest) -> Result<i64> {
        validate(&req)?;
        crate::worker::hires_fix(&req, self.worker.plugins()).map_err(|e| ServiceError::invalid("hr_upscaler", e))?;
        match &req.model {
            Some(model) if self.worker.shared.find_model(model).is_none() => {
                return Err(ServiceError::NoSuchModel(model.clone()))
            }
            None if self.worker.current_model().is_none() => {
                return Err(ServiceError::NoModelInstalled(self.checkpoint_folder()))
            }
            _ => {}
        }
        if let Some(data) = req.init_image.take() {
            req.init_image = Some(self.store_input(&data, Input::Image)?);
            req.denoising_strength = Some(req.denoising_strength.unwrap_or(0.75));
        }
        let remove_inputs = |req: &JobRequest| {
            for path in [&req.init_image, &req.mask].into_iter().flatten() {
                let _ = std::fs::remove_file(path);
            }
        };
        if let Some(data) = req.mask.take().filter(|m| !m.trim().is_empty()) {
            match self.store_input(&data, Input::Mask) {
                Ok(path) => req.mask = Some(path),
                Err(e) => {
                    remove_inputs(&req);
                    return Err(e);
                }
            }
        }
        let limit = self.settings.queue_limit;
        let submitted = self.worker.submit(&req, limit);
        match submitted {
            Ok(Some(id)) => Ok(id),
            other => {
                remove_inputs(&req);
                Err(other
                    .err()
                    .map_or(ServiceError::QueueFull(limit), Into::into))
            }
        }
    }

    /// Where a user should put a checkpoint, for messages.
    pub fn checkpoint_folder(&self) -> String {
        self.settings
            .models_dirs
            .first()
            .map(|d| d.join("Stable-diffusion").display().to_string())
            .unwrap_or_else(|| "a model folder".into())
    }

    /// Decodes, checks and stores a client's image under the inputs folder. A mask is
    /// stored as its grey levels (luminance times alpha), so a painted layer with
    /// transparency survives the trip.
    fn store_input(&self, data: &str, kind: Input) -> Result<String> {
        let field = kind.field();
        let bytes = decode_base64(data).map_err(|e| {
            ServiceError::invalid(field, format!("the {field} is not valid base64: {e}"))
        })?;
        let image = match kind {
            Input::Image => ra_engine::pipeline::load_image(&bytes),
            Input::Mask => ra_engine::inpaint::Mask::decode(&bytes).and_then(|m| {
                let (w, h) = m.dimensions();
                let rgb = m.into_raw().into_iter().flat_map(|v| [v, v, v]).collect();
                Ok(ra_wire::PngImage::new(w, h, rgb)?)
            }),
        }
        .map_err(|e| ServiceError::invalid(field, e.to_string()))?;
        let limit = self.settings.max_image_side;
        if image.width > limit || image.height > limit {
            return Err(ServiceError::ImageTooLarge {
                width: image.width,
                height: image.height,
                limit,
            });
        }
        std::fs::create_dir_all(&self.settings.input_dir)
            .map_err(|e| ServiceError::SaveInput(e.to_string()))?;
        let path = self.settings.input_dir.join(format!(
            "{}-{}.png",
            std::process::id(),
            ra_engine::pipeline::random_seed()
        ));
        let png = image
            .encode(None)
            .map_err(|e| ServiceError::invalid(field, e.to_string()))?;
        ra_engine::output::write_atomic(&path, &png)
            .map_err(|e| ServiceError::SaveInput(e.to_string()))?;
        Ok(path.display().to_string())
    }

    pub fn cancel(&self, id: i64) -> Result<()> {
        if self.worker.cancel(id)? {
            Ok(())
        } else if self.worker.shared.store.get(id)?.is_none() {
            Err(ServiceError::NoSuchJob(id))
        } else {
            Err(ServiceError::NotCancellable(id))
        }
    }

    /// Removes an ended job from the history with its images and its stored input. The
    /// row goes first: a file that cannot be removed is left over, never a row that
    /// points at nothing.
    pub fn delete(&self, id: i64) -> Result<()> {
        let job = self.job(id)?;
        if !job.status.is_final() || !self.worker.shared.store.delete_finished(id)? {
            return Err(ServiceError::JobActive(id));
        }
        let outputs = job.outputs.iter().map(|f| self.settings.output_dir.join(f));
        let inputs = [job.request.init_image, job.request.mask]
            .into_iter()
            .flatten()
            .map(PathBuf::from)
            .filter(|p| p.starts_with(&self.settings.input_dir));
        for path in outputs.chain(inputs) {
            if let Err(e) = std::fs::remove_file(&path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    eprintln!("warning: cannot remove {}: {e}", path.display());
                }
            }
        }
        Ok(())
    }

    pub fn job(&self, id: i64) -> Result<JobInfo> {
        self.worker
            .shared
            .store
            .get(id)?
            .ok_or(ServiceError::NoSuchJob(id))
    }

    /// History, newest first: `limit` jobs older than `before` (all when `None`).
    pub fn jobs(&self, before: Option<i64>, limit: u32) -> Result<Vec<JobInfo>> {
        Ok(self.worker.shared.store.list(before, limit.min(500))?)
    }

    pub fn models(&self, kind: Option<ModelKind>) -> Vec<ModelEntry> {
        let mut all = self.worker.models();
        all.retain(|m| kind.is_none_or(|k| m.kind == k));
        all
    }

    /// What the model library says of each model (pack, categories, tier, the user's
    /// rating and note), by path. Empty when there is no library yet; a library that
    /// cannot be read is logged and left out, never an error for a listing.
    pub fn library_entries(&self) -> std::collections::HashMap<PathBuf, ra_library::store::Model> {
        if !self.settings.library.is_file() {
            return Default::default();
        }
        let read = ra_library::store::Library::open(&self.settings.library).and_then(|l| l.search(&Default::default()));
        match read {
            Ok(models) => models.into_iter().map(|m| (m.path.clone(), m)).collect(),
            Err(e) => {
                eprintln!("ra-daemon: the model library {} was not read: {e}", self.settings.library.display());
                Default::default()
            }
        }
    }

    /// Scans the model folders again; blocking (it may hash new files).
    pub fn refresh_models(&self) -> usize {
        let found = models::scan(&self.settings.models_dirs, &self.worker.shared.store);
        let n = found.len();
        self.worker.set_models(found);
        n
    }

    /// Makes `name` the checkpoint for requests that name none, and remembers the
    /// choice across restarts. Returns the checkpoint's title.
    pub fn switch_model(&self, name: &str) -> Result<String> {
        let entry = self
            .worker
            .shared
            .find_model(name)
            .ok_or_else(|| ServiceError::NoSuchModel(name.to_string()))?;
        let title = entry.title();
        self.worker
            .shared
            .store
            .set_setting(SELECTED_MODEL_KEY, &title)?;
        self.worker.select(&entry);
        Ok(title)
    }

    pub fn status(&self) -> Result<DaemonStatus> {
        let live = self.worker.live();
        Ok(DaemonStatus {
            version: env!("CARGO_PKG_VERSION").to_string(),
            job: live.job,
            step: live.step,
            total: live.total,
            eta_seconds: live.eta_seconds(),
            queued: self.worker.shared.store.queued_count()?,
            model: live
                .model_title
                .clone()
                .or_else(|| self.worker.current_model().map(|m| m.title())),
            model_error: live.model_error,
            preview: live.preview,
            output_dir: self.settings.output_dir.display().to_string(),
        })
    }
}

/// Bytes from base64, bare or as a data URL (`data:image/png;base64,…`), as A1111's
/// clients send images.
pub fn decode_base64(data: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let b64 = data.split_once(";base64,").map_or(data, |(_, d)| d);
    base64::engine::general_purpose::STANDARD.decode(b64.trim())
}

/// The images a client sends with a job.
#[derive(Debug, Clone, Copy)]
enum Input {
    Image,
    Mask,
}

impl Input {
    fn field(self) -> &'static str {
        match self {
            Self::Image => "init_image",
            Self::Mask => "mask",
        }
    }
}

/// Checks every field a client may get wrong, naming it in RA's terms.
pub fn validate(req: &JobRequest) -> Result<()> {
    let (_, legacy) = SamplerName::parse_with_schedule(&req.sampler)
        .map_err(|e| ServiceError::invalid("sampler", e.to_string()))?;
    if legacy.is_none() {
        req.schedule_type
            .parse::<ScheduleType>()
            .map_err(|e| ServiceError::invalid("schedule_type", e.to_string()))?;
    }
    let max = ra_engine::pipeline::MAX_SIDE;
    for (field, v) in [("width", req.width), ("height", req.height)] {
        if v == 0 || v % 8 != 0 || v > max {
            return Err(ServiceError::invalid(
                field,
                format!("{field} must be a multiple of 8 between 8 and {max}, not {v}"),
            ));
        }
    }
    if req.steps == 0 || req.steps > MAX_STEPS {
        return Err(ServiceError::invalid(
            "steps",
            format!("steps must be between 1 and {MAX_STEPS}"),
        ));
    }
    if !(0.0..=100.0).contains(&req.cfg_scale) {
        return Err(ServiceError::invalid(
            "cfg_scale",
            "cfg_scale must be between 0 and 100",
        ));
    }
    if req.seed < -1 || req.seed > i64::from(u32::MAX) {
        return Err(ServiceError::invalid(
            "seed",
            "seed must be -1 (random) or between 0 and 4294967295",
        ));
    }
    if req.count == 0 || req.count > MAX_COUNT {
        return Err(ServiceError::invalid(
            "count",
            format!("count must be between 1 and {MAX_COUNT}"),
        ));
    }
    let has = |f: &Option<String>| f.as_deref().is_some_and(|m| !m.trim().is_empty());
    if (has(&req.mask) || req.outpaint.iter().any(|&p| p > 0)) && !has(&req.init_image) {
        return Err(ServiceError::invalid(
            if has(&req.mask) { "mask" } else { "outpaint" },
            "inpainting and outpainting need the image to paint on: send it as init_image",
        ));
    }
    if req.outpaint.iter().any(|&p| p > max) {
        return Err(ServiceError::invalid(
            "outpaint",
            format!("outpaint adds at most {max} pixels on a side"),
        ));
    }
    if req.mask_blur > 64 || req.inpaint_full_res_padding > max {
        return Err(ServiceError::invalid(
            if req.mask_blur > 64 {
                "mask_blur"
            } else {
                "inpaint_full_res_padding"
            },
            format!("mask_blur must be 0–64 and inpaint_full_res_padding 0–{max} pixels"),
        ));
    }
    ra_engine::inpaint::InpaintFill::parse(&req.inpainting_fill)
        .map_err(|e| ServiceError::invalid("inpainting_fill", e.to_string()))?;
    ra_engine::noise::RngSource::parse(&req.rng)
        .map_err(|e| ServiceError::invalid("rng", e.to_string()))?;
    if req.subseed < -1 || req.subseed > i64::from(u32::MAX) {
        return Err(ServiceError::invalid(
            "subseed",
            "subseed must be -1 (random) or between 0 and 4294967295",
        ));
    }
    if !(0.0..=1.0).contains(&req.subseed_strength) {
        return Err(ServiceError::invalid(
            "subseed_strength",
            "subseed_strength must be between 0 and 1",
        ));
    }
    for (field, v) in [("eta", req.eta), ("s_noise", req.s_noise)] {
        if v.is_some_and(|v| !(0.0..=10.0).contains(&v)) {
            return Err(ServiceError::invalid(
                field,
                format!("{field} must be between 0 and 10"),
            ));
        }
    }
    if req.enable_hr {
        if has(&req.init_image) {
            return Err(ServiceError::invalid(
                "enable_hr",
                "hires fix is for txt2img; for img2img set the size you want",
            ));
        }
        // The upscaler's name is checked at submission, where the plugins are known.
        let hr = crate::worker::hires_fix(&JobRequest { hr_upscaler: "Latent".into(), ..req.clone() }, None)
            .map_err(|e| ServiceError::invalid("hr_upscaler", e))?;
        if let Some(hr) = hr {
            let (w, h) = hr.size(req.width, req.height);
            if !(1.0..=4.0).contains(&hr.scale) || w > max || h > max {
                return Err(ServiceError::invalid(
                    "hr_scale",
                    format!(
                        "hr_scale must be 1–4 and give at most {max} pixels a side ({w}×{h} asked)"
                    ),
                ));
            }
        }
    }
    if !(1..=12).contains(&req.clip_skip) {
        return Err(ServiceError::invalid(
            "clip_skip",
            "clip_skip must be between 1 and 12",
        ));
    }
    if let Some(s) = req.denoising_strength {
        if !(0.0..=1.0).contains(&s) {
            return Err(ServiceError::invalid(
                "denoising_strength",
                "denoising_strength must be between 0 and 1",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let ok = JobRequest::default();
        assert!(validate(&ok).is_ok());
        let cases: [(&str, JobRequest); 8] = [
            (
                "sampler",
                JobRequest {
                    sampler: "Nope".into(),
                    ..ok.clone()
                },
            ),
            (
                "schedule_type",
                JobRequest {
                    schedule_type: "Weird".into(),
                    ..ok.clone()
                },
            ),
            (
                "width",
                JobRequest {
                    width: 513,
                    ..ok.clone()
                },
            ),
            (
                "height",
                JobRequest {
                    height: 0,
                    ..ok.clone()
                },
            ),
            (
                "steps",
                JobRequest {
                    steps: 0,
                    ..ok.clone()
                },
            ),
            (
                "cfg_scale",
                JobRequest {
                    cfg_scale: -1.0,
                    ..ok.clone()
                },
            ),
            (
                "seed",
                JobRequest {
                    seed: -2,
                    ..ok.clone()
                },
            ),
            (
                "count",
                JobRequest {
                    count: 65,
                    ..ok.clone()
                },
            ),
        ];
        for (field, req) in cases {
            match validate(&req) {
                Err(ServiceError::Invalid { field: f, message }) => {
                    assert_eq!(f, field, "{message}");
                    assert!(!message.is_empty());
                }
                other => panic!("{field}: {other:?}"),
            }
        }
        // A1111's legacy names carry their schedule and need no schedule_type.
        let legacy = JobRequest {
            sampler: "DPM++ 2M Karras".into(),
            schedule_type: String::new(),
            ..ok
        };
        assert!(validate(&legacy).is_ok());
    }
}
