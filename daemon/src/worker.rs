//! The worker thread: the one owner of the loaded model. It takes jobs from the store in
//! queue order, runs them image by image, writes each PNG under a temporary name and
//! renames it into the output folder, and only then records it — so an output file
//! is whole or absent, and a job is `done` only with its images.
//!
//! Everything else talks to it through [`Worker`]: submit, cancel (a queued job at once,
//! the running one within one step), skip the current image, and events on a broadcast
//! channel that never blocks the worker.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use ra_engine::inpaint::{init_image, InpaintFill, Mask};
use ra_engine::noise::{RngSource, Variation};
use ra_engine::pipeline::HiresFix;
use ra_engine::sampler::SamplerOptions;
use ra_engine::{EngineError, GenerateRequest, LoadOptions, SdModel};
use ra_wire::{JobEvent, JobRequest, JobStatus, SamplerName, ScheduleType};
use tokio::sync::broadcast;

use crate::models::{ModelEntry, ModelKind};
use crate::store::{Output, Store, StoreError};

/// Where the worker reads and writes, and how it loads models.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub output_dir: PathBuf,
    pub dtype: ra_engine::candle::DType,
    pub default_model: Option<String>,
    /// LoRA and embedding folders found under the model roots.
    pub networks: ra_engine::networks::NetworkDirs,
    /// Plugins whose `process` and `postprocess-image` hooks every job runs through.
    pub plugins: Option<Arc<ra_plugins::Plugins>>,
    /// ONNX Runtime and the models pinned to a backend.
    pub backends: ra_engine::model::BackendSettings,
}

/// What `/sdapi/v1/progress` and status calls read.
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub job: Option<i64>,
    pub step: u32,
    pub total: u32,
    pub started: Option<Instant>,
    pub model_title: Option<String>,
    pub model_error: Option<String>,
    /// The latest step's preview: a PNG, base64 (latent-sized, or full-size with TAESD).
    pub preview: Option<String>,
}

impl Live {
    /// Seconds left, from the pace so far.
    pub fn eta_seconds(&self) -> f64 {
        match self.started {
            Some(t) if self.step > 0 => {
                t.elapsed().as_secs_f64() / f64::from(self.step)
                    * f64::from(self.total.saturating_sub(self.step))
            }
            _ => 0.0,
        }
    }
}

#[derive(Default)]
struct Control {
    running: Option<i64>,
    cancel: bool,
    skip: bool,
    shutdown: bool,
    wake: bool,
    /// Load the selected model while idle, so the first job after a switch starts fast.
    preload: bool,
}

pub struct Shared {
    pub store: Arc<Store>,
    pub events: broadcast::Sender<JobEvent>,
    pub live: Mutex<Live>,
    pub models: RwLock<Vec<ModelEntry>>,
    /// The checkpoint a client chose (A1111's `sd_model_checkpoint` option).
    selected: RwLock<Option<String>>,
    control: Mutex<Control>,
    signal: Condvar,
    settings: WorkerSettings,
    /// Makes each step's preview; loads TAESD on the first one if it is installed.
    previewer: ra_engine::preview::Previewer,
}

pub struct Worker {
    pub shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Worker {
    /// The backend that runs checkpoint `entry`: its pin, else what its files call for.
    pub fn backend_of(&self, entry: &ModelEntry) -> ra_engine::Backend {
        ra_engine::Backend::for_model(&entry.path, pinned_backend(&self.shared.settings.backends, entry))
    }

    pub fn start(
        settings: WorkerSettings,
        store: Arc<Store>,
        models: Vec<ModelEntry>,
        selected: Option<String>,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(&settings.output_dir)?;
        remove_partial_outputs(&settings.output_dir);
        let (events, _) = broadcast::channel(256);
        let shared = Arc::new(Shared {
            store,
            events,
            live: Mutex::default(),
            models: RwLock::new(models),
            selected: RwLock::new(selected),
            control: Mutex::default(),
            signal: Condvar::new(),
            previewer: ra_engine::preview::Previewer::new(settings.networks.taesd.clone()),
            settings,
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("ra-worker".into())
            .spawn(move || run(&s))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Queues a job; `None` when the queue is full.
    pub fn submit(&self, req: &JobRequest, limit: u32) -> Result<Option<i64>, StoreError> {
        let id = self.shared.store.submit(req, limit)?;
        if id.is_some() {
            self.shared.wake();
        }
        Ok(id)
    }

    /// Cancels a job: a queued one at once, the running one at its next step.
    pub fn cancel(&self, id: i64) -> Result<bool, StoreError> {
        if self.shared.store.cancel_queued(id)? {
            let _ = self.shared.events.send(JobEvent::Cancelled { id });
            return Ok(true);
        }
        let mut c = lock(&self.shared.control);
        if c.running == Some(id) {
            c.cancel = true;
            return Ok(true);
        }
        Ok(false)
    }

    /// Cancels whatever runs now (A1111's interrupt); returns its id.
    pub fn interrupt(&self) -> Option<i64> {
        let mut c = lock(&self.shared.control);
        c.cancel = c.running.is_some();
        c.running
    }

    /// Ends the current image and goes on with the next of the same job (A1111's skip).
    pub fn skip(&self) -> Option<i64> {
        let mut c = lock(&self.shared.control);
        c.skip = c.running.is_some();
        c.running
    }

    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.shared.events.subscribe()
    }

    /// Makes `entry` the model for requests that name none, and loads it once idle.
    pub fn select(&self, entry: &ModelEntry) {
        *self
            .shared
            .selected
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(entry.title());
        lock(&self.shared.control).preload = true;
        self.shared.wake();
    }

    /// Replaces the model list after a rescan of the folders.
    pub fn set_models(&self, models: Vec<ModelEntry>) {
        *self
            .shared
            .models
            .write()
            .unwrap_or_else(|p| p.into_inner()) = models;
    }

    pub fn models(&self) -> Vec<ModelEntry> {
        self.shared
            .models
            .read()
            .map(|m| m.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub fn live(&self) -> Live {
        lock(&self.shared.live).clone()
    }

    /// The plugin host jobs run through, if the daemon has one.
    pub fn plugins(&self) -> Option<&Arc<ra_plugins::Plugins>> {
        self.shared.settings.plugins.as_ref()
    }

    /// The model new jobs get when they name none.
    pub fn current_model(&self) -> Option<ModelEntry> {
        self.shared.default_model()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        {
            let mut c = lock(&self.shared.control);
            c.shutdown = true;
            c.cancel = true;
        }
        self.shared.signal.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Shared {
    fn wake(&self) {
        lock(&self.control).wake = true;
        self.signal.notify_all();
    }

    fn send(&self, e: JobEvent) {
        // No receivers is fine: nobody is watching.
        let _ = self.events.send(e);
    }

    /// Finds a checkpoint by title, name, hash or path.
    pub fn find_model(&self, name: &str) -> Option<ModelEntry> {
        let models = self.models.read().unwrap_or_else(|p| p.into_inner());
        models
            .iter()
            .find(|m| m.kind == ModelKind::Checkpoint && m.matches(name))
            .cloned()
    }

    fn default_model(&self) -> Option<ModelEntry> {
        let selected = self
            .selected
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(m) = selected.and_then(|s| self.find_model(&s)) {
            return Some(m);
        }
        if let Some(d) = &self.settings.default_model {
            return self.find_model(d);
        }
        let models = self.models.read().unwrap_or_else(|p| p.into_inner());
        models
            .iter()
            .find(|m| m.kind == ModelKind::Checkpoint)
            .cloned()
    }
}

/// Temporary files of writes cut short by a crash.
fn remove_partial_outputs(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".part-") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn run(shared: &Shared) {
    let mut loaded: Option<(PathBuf, SdModel)> = None;
    loop {
        {
            let mut c = lock(&shared.control);
            if c.shutdown {
                return;
            }
            c.cancel = false;
            c.skip = false;
        }
        match shared.store.claim_next() {
            Ok(Some((id, req))) => {
                lock(&shared.control).running = Some(id);
                let (status, error) = run_job(shared, &mut loaded, id, &req);
                lock(&shared.control).running = None;
                {
                    let mut live = lock(&shared.live);
                    *live = Live {
                        model_title: live.model_title.take(),
                        model_error: live.model_error.take(),
                        ..Live::default()
                    };
                }
                if let Err(e) = shared.store.finish(id, status, error.as_deref()) {
                    eprintln!("ra-daemon: could not record the end of job {id}: {e}");
                }
                match status {
                    JobStatus::Done => {
                        let outputs = shared
                            .store
                            .get(id)
                            .ok()
                            .flatten()
                            .map(|j| j.outputs)
                            .unwrap_or_default();
                        shared.send(JobEvent::Finished { id, outputs });
                    }
                    JobStatus::Cancelled => shared.send(JobEvent::Cancelled { id }),
                    _ => shared.send(JobEvent::Failed {
                        id,
                        error: error.unwrap_or_default(),
                    }),
                }
            }
            Ok(None) => {
                if std::mem::take(&mut lock(&shared.control).preload) {
                    if let Some(entry) = shared.default_model() {
                        let _ = ensure_loaded(shared, &mut loaded, &entry);
                    }
                    continue;
                }
                let c = lock(&shared.control);
                let mut c = shared
                    .signal
                    .wait_timeout_while(c, std::time::Duration::from_secs(1), |c| {
                        !c.wake && !c.shutdown && !c.preload
                    })
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
                c.wake = false;
            }
            Err(e) => {
                eprintln!("ra-daemon: cannot read the job queue: {e}");
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        }
    }
}

fn run_job(
    shared: &Shared,
    loaded: &mut Option<(PathBuf, SdModel)>,
    id: i64,
    req: &JobRequest,
) -> (JobStatus, Option<String>) {
    shared.send(JobEvent::Started { id });
    match generate_all(shared, loaded, id, req) {
        Ok(true) => (JobStatus::Done, None),
        Ok(false) => (JobStatus::Cancelled, None),
        Err(e) => (JobStatus::Failed, Some(e)),
    }
}

/// Loads `entry` unless it is the loaded model already.
fn ensure_loaded<'m>(
    shared: &Shared,
    loaded: &'m mut Option<(PathBuf, SdModel)>,
    entry: &ModelEntry,
) -> Result<&'m SdModel, String> {
    if loaded.as_ref().map(|(p, _)| p) != Some(&entry.path) {
        // Free the old weights first: two checkpoints at once may not fit in memory.
        *loaded = None;
        let backends = &shared.settings.backends;
        let options = LoadOptions {
            dtype: shared.settings.dtype,
            known_hash: entry.sha256.clone(),
            backend: pinned_backend(backends, entry),
            onnx: backends.onnx.clone(),
            ..LoadOptions::cpu()
        };
        match SdModel::load(&entry.path, &options) {
            Ok(model) => {
                *loaded = Some((entry.path.clone(), model));
                let mut live = lock(&shared.live);
                live.model_title = Some(entry.title());
                live.model_error = None;
            }
            Err(e) => {
                let message = format!("cannot load {}: {e}", entry.title());
                let mut live = lock(&shared.live);
                live.model_title = None;
                live.model_error = Some(message.clone());
                return Err(message);
            }
        }
    }
    loaded
        .as_ref()
        .map(|(_, m)| m)
        .ok_or_else(|| "model did not load".into())
}

/// The live preview of a step, or `None` if the latent does not make one.
fn preview_base64(shared: &Shared, denoised: &ra_engine::candle::Tensor) -> Option<String> {
    use base64::Engine as _;
    let preview = shared.previewer.preview(denoised).ok()?;
    if let Some(note) = &preview.note {
        eprintln!("ra-daemon: {note}");
    }
    let png = preview.image.encode(None).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(png))
}

/// The engine's request for a queued job (its images then differ only in seeds).
/// The service validated the fields; what fails here is a file gone missing.
fn engine_request(req: &JobRequest) -> Result<GenerateRequest, String> {
    let (sampler, legacy) =
        SamplerName::parse_with_schedule(&req.sampler).map_err(|e| e.to_string())?;
    let schedule_type = req
        .schedule_type
        .parse::<ScheduleType>()
        .ok()
        .or(legacy)
        .unwrap_or(ScheduleType::Automatic);
    let read =
        |what: &str, path: &str| std::fs::read(path).map_err(|e| format!("{what} {path}: {e}"));
    let fill = InpaintFill::parse(&req.inpainting_fill).map_err(|e| e.to_string())?;
    let (mut width, mut height) = (req.width, req.height);
    let init = match &req.init_image {
        Some(path) => {
            let image = ra_engine::pipeline::load_image(&read("init image", path)?)
                .map_err(|e| e.to_string())?;
            let mask = match &req.mask {
                Some(path) => Some(Mask::decode(&read("mask", path)?).map_err(|e| e.to_string())?),
                None => None,
            };
            let strength = req.denoising_strength.unwrap_or(0.75);
            let (init, size) = init_image(image, strength, mask, req.outpaint, |image| Mask {
                image,
                blur: req.mask_blur,
                invert: req.inpainting_mask_invert,
                fill,
                only_masked: req.inpaint_full_res,
                padding: req.inpaint_full_res_padding,
            })
            .map_err(|e| e.to_string())?;
            if let Some(s) = size {
                (width, height) = s;
            }
            Some(init)
        }
        None => None,
    };
    let rng = RngSource::parse(&req.rng).map_err(|e| e.to_string())?;
    let mut options = SamplerOptions::for_sampler(sampler);
    options.eta = req.eta.unwrap_or(options.eta);
    options.s_noise = req.s_noise.unwrap_or(options.s_noise);
    Ok(GenerateRequest {
        prompt: req.prompt.clone(),
        negative_prompt: req.negative_prompt.clone(),
        steps: req.steps,
        sampler,
        schedule_type,
        cfg_scale: req.cfg_scale,
        seed: req.seed,
        width,
        height,
        init,
        rng,
        variation: (req.subseed_strength > 0.0).then_some(Variation {
            seed: req.subseed.max(0) as u64,
            strength: req.subseed_strength,
        }),
        sampler_options: Some(options),
        clip_skip: req.clip_skip,
        networks: Default::default(),
        hires: None,
        vae: req.vae.clone(),
        depth: None,
    })
}

/// The job's hires fix, if it asks for one. `hr_upscaler` is one of the engine's
/// (Latent, Lanczos) or an upscaler an enabled plugin offers.
pub fn hires_fix(req: &JobRequest, plugins: Option<&Arc<ra_plugins::Plugins>>) -> Result<Option<HiresFix>, String> {
    if !req.enable_hr {
        return Ok(None);
    }
    let upscaler = crate::plugins::hires_upscaler(&req.hr_upscaler, plugins)?;
    Ok(Some(HiresFix {
        scale: req.hr_scale,
        upscaler,
        steps: req.hr_second_pass_steps,
        denoising_strength: req.denoising_strength.unwrap_or(0.7),
    }))
}

/// Runs every image of a job; `Ok(false)` when cancelled.
fn generate_all(
    shared: &Shared,
    loaded: &mut Option<(PathBuf, SdModel)>,
    id: i64,
    req: &JobRequest,
) -> Result<bool, String> {
    let entry = match &req.model {
        Some(name) => shared
            .find_model(name)
            .ok_or_else(|| format!("no model named '{name}'; see /sdapi/v1/sd-models"))?,
        None => shared
            .default_model()
            .ok_or("no model installed: put a checkpoint in a model folder")?,
    };
    let model = ensure_loaded(shared, loaded, &entry)?;
    // Image i uses seed + i, as A1111's all_seeds; a random seed is drawn once per job.
    let seed = if req.seed < 0 { ra_engine::pipeline::random_seed() } else { req.seed as u64 };
    let mut job = req.clone();
    job.seed = seed as i64;
    // Plugins see the job before the engine does (A1111's `process`).
    let (job, mut params) = match &shared.settings.plugins {
        Some(plugins) => crate::plugins::process(plugins, &job, seed)?,
        None => {
            let params = crate::plugins::params(&job, seed);
            (job, params)
        }
    };
    let req = &job;
    let plugin_fields: Vec<(String, String)> = crate::plugins::fields(std::mem::take(&mut params.extra)).collect();
    let mut base = engine_request(req)?;
    base.networks = shared.settings.networks.clone();
    base.hires = hires_fix(req, shared.settings.plugins.as_ref())?;
    if model.arch.is_depth() {
        // Without an init image the engine refuses the job and says why.
        if let Some(init) = &base.init {
            base.depth = Some(crate::plugins::depth_map(shared.settings.plugins.as_deref(), &init.image)?);
        }
    }
    let count = req.count.max(1);
    let per_image = base.steps_to_run();
    let total = per_image * count;
    let started = Instant::now();
    *lock(&shared.live) = Live {
        job: Some(id),
        step: 0,
        total,
        started: Some(started),
        model_title: Some(entry.title()),
        model_error: None,
        preview: None,
    };
    let first_seed = base.seed as u64;
    // Image i uses subseed + i, as A1111's all_subseeds; -1 draws one per job.
    let first_subseed = match base.variation {
        Some(_) if req.subseed < 0 => ra_engine::pipeline::random_seed(),
        Some(v) => v.seed,
        None => 0,
    };
    for i in 0..count {
        let seed = (first_seed + u64::from(i)) as i64;
        let image_req = GenerateRequest {
            seed,
            variation: base.variation.map(|v| Variation {
                seed: u64::from((first_subseed + u64::from(i)) as u32),
                ..v
            }),
            ..base.clone()
        };
        let done_before = per_image * i;
        let mut on_step = |p: ra_engine::Progress<'_>| {
            let preview = preview_base64(shared, p.denoised);
            let eta = {
                let mut live = lock(&shared.live);
                live.step = done_before + p.step;
                live.preview = preview.clone();
                live.eta_seconds()
            };
            shared.send(JobEvent::Progress {
                id,
                step: done_before + p.step,
                total,
                eta_seconds: eta,
                preview,
            });
            let c = lock(&shared.control);
            !(c.cancel || c.skip)
        };
        match ra_engine::generate(model, &image_req, &mut on_step) {
            Ok(mut generated) => {
                let seed = generated.info.seed;
                generated.info.extra.extend(plugin_fields.iter().cloned());
                if let Some(plugins) = &shared.settings.plugins {
                    let params = ra_plugins::Params { seed, ..params.clone() };
                    let (image, fields) = plugins
                        .postprocess(crate::plugins::to_image(&generated.image), &params, &generated.info.render())
                        .map_err(|e| e.to_string())?;
                    generated.image = crate::plugins::from_image(&image)?;
                    generated.info.extra.extend(crate::plugins::fields(fields));
                }
                let file = format!("{id:06}-{i:02}-{seed}.png");
                let bytes = generated.png_bytes().map_err(|e| e.to_string())?;
                ra_engine::output::write_atomic(&shared.settings.output_dir.join(&file), &bytes)
                    .map_err(|e| e.to_string())?;
                shared
                    .store
                    .add_output(
                        id,
                        &Output {
                            file,
                            seed,
                            infotext: generated.info.render(),
                        },
                    )
                    .map_err(|e| e.to_string())?;
            }
            Err(EngineError::Cancelled) => {
                let mut c = lock(&shared.control);
                if c.cancel {
                    return Ok(false);
                }
                c.skip = false;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(true)
}

/// The backend `entry` is pinned to in the daemon's configuration, if any.
fn pinned_backend(backends: &ra_engine::model::BackendSettings, entry: &ModelEntry) -> Option<ra_engine::Backend> {
    backends.pins.iter().find(|(name, _)| entry.matches(name)).map(|(_, b)| *b)
}
