//! A1111's `/sdapi/v1/*` routes, with its field names and response shapes so existing
//! clients work unchanged. Requests become RA jobs through the same [`Service`] the
//! rest of the daemon uses; A1111's blocking calls simply wait for their job.
//!
//! [`Service`]: crate::service::Service

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use ra_wire::{Infotext, JobRequest, JobStatus, ModelKind, SamplerName, ScheduleType};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::http::{parse_body, submit_blocking, ApiError, Shared};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/sdapi/v1/txt2img", post(txt2img))
        .route("/sdapi/v1/img2img", post(img2img))
        .route("/sdapi/v1/progress", get(progress))
        .route("/sdapi/v1/interrupt", post(interrupt))
        .route("/sdapi/v1/skip", post(skip))
        .route("/sdapi/v1/sd-models", get(sd_models))
        .route("/sdapi/v1/refresh-checkpoints", post(refresh_checkpoints))
        .route("/sdapi/v1/options", get(get_options).post(set_options))
        .route("/sdapi/v1/samplers", get(samplers))
        .route("/sdapi/v1/schedulers", get(schedulers))
        .route("/sdapi/v1/upscalers", get(upscalers))
        .route("/sdapi/v1/loras", get(loras))
        .route("/sdapi/v1/embeddings", get(embeddings))
        .route("/sdapi/v1/png-info", post(png_info))
        .route("/sdapi/v1/memory", get(memory))
}

/// RA's field names → A1111's, for naming the field at fault in a 422.
const FIELD_NAMES: [(&str, &str); 8] = [
    ("sampler", "sampler_name"),
    ("schedule_type", "scheduler"),
    ("count", "batch_size"),
    ("rng", "override_settings"),
    ("clip_skip", "override_settings"),
    ("inpainting_mask_invert", "inpainting_mask_invert"),
    ("init_image", "init_images"),
    ("model", "sd_model_checkpoint"),
];

/// A1111's txt2img/img2img fields that RA uses; others are accepted and ignored, as
/// A1111 does.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct A1111Request {
    prompt: String,
    negative_prompt: String,
    seed: i64,
    sampler_name: Option<String>,
    sampler_index: Option<String>,
    scheduler: Option<String>,
    steps: u32,
    cfg_scale: f64,
    width: u32,
    height: u32,
    batch_size: u32,
    n_iter: u32,
    denoising_strength: Option<f64>,
    init_images: Vec<String>,
    mask: Option<String>,
    mask_blur: Option<u32>,
    inpainting_fill: Value,
    inpaint_full_res: bool,
    inpaint_full_res_padding: u32,
    inpainting_mask_invert: u32,
    subseed: i64,
    subseed_strength: f64,
    eta: Option<f64>,
    s_noise: Option<f64>,
    enable_hr: bool,
    hr_scale: f64,
    hr_upscaler: Option<String>,
    hr_second_pass_steps: u32,
    styles: Vec<String>,
    override_settings: Map<String, Value>,
}

impl Default for A1111Request {
    fn default() -> Self {
        Self {
            prompt: String::new(),
            negative_prompt: String::new(),
            seed: -1,
            sampler_name: None,
            sampler_index: None,
            scheduler: None,
            steps: 50,
            cfg_scale: 7.0,
            width: 512,
            height: 512,
            batch_size: 1,
            n_iter: 1,
            denoising_strength: None,
            init_images: Vec::new(),
            mask: None,
            // A1111's img2img defaults: fill, only masked, no padding.
            mask_blur: None,
            inpainting_fill: Value::from(0),
            inpaint_full_res: true,
            inpaint_full_res_padding: 0,
            inpainting_mask_invert: 0,
            subseed: -1,
            subseed_strength: 0.0,
            eta: None,
            s_noise: None,
            enable_hr: false,
            hr_scale: 2.0,
            hr_upscaler: None,
            hr_second_pass_steps: 0,
            styles: Vec::new(),
            override_settings: Map::new(),
        }
    }
}

impl A1111Request {
    fn to_job(&self) -> Result<JobRequest, ApiError> {
        let sampler = self
            .sampler_name
            .clone()
            .or(self.sampler_index.clone())
            .unwrap_or_else(|| "Euler a".into());
        let model = match self.override_settings.get("sd_model_checkpoint") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(ApiError::field(
                    "override_settings",
                    "sd_model_checkpoint must be a string",
                ))
            }
            None => None,
        };
        let setting = |key: &str| self.override_settings.get(key);
        let rng = match setting("randn_source") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err(ApiError::field(
                    "override_settings",
                    "randn_source must be \"GPU\", \"NV\" or \"CPU\"",
                ))
            }
            None => "GPU".into(),
        };
        let clip_skip = match setting("CLIP_stop_at_last_layers") {
            Some(v) => v.as_u64().filter(|&n| n <= 12).ok_or_else(|| {
                ApiError::field(
                    "override_settings",
                    "CLIP_stop_at_last_layers must be a whole number from 1 to 12",
                )
            })? as u32,
            None => 1,
        };
        // A1111's "Automatic" and "None" both mean the checkpoint's own VAE here.
        let vae = match setting("sd_vae") {
            Some(Value::String(s)) if !matches!(s.as_str(), "Automatic" | "None" | "") => {
                Some(s.clone())
            }
            Some(Value::String(_)) | None => None,
            Some(_) => {
                return Err(ApiError::field(
                    "override_settings",
                    "sd_vae must be a VAE file name, \"Automatic\" or \"None\"",
                ))
            }
        };
        let inpainting_fill = match &self.inpainting_fill {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => {
                return Err(ApiError::field(
                    "inpainting_fill",
                    "inpainting_fill must be 0 (fill), 1 (original), 2 (latent noise) or 3 (latent nothing)",
                ))
            }
        };
        // An explicit scheduler wins over a legacy sampler suffix such as " Karras".
        let schedule_type = self.scheduler.clone().unwrap_or_else(|| {
            SamplerName::parse_with_schedule(&sampler)
                .ok()
                .and_then(|(_, legacy)| legacy)
                .unwrap_or(ScheduleType::Automatic)
                .to_string()
        });
        Ok(JobRequest {
            prompt: self.prompt.clone(),
            negative_prompt: self.negative_prompt.clone(),
            steps: self.steps,
            sampler,
            schedule_type,
            cfg_scale: self.cfg_scale,
            seed: self.seed,
            width: self.width,
            height: self.height,
            count: self.batch_size.max(1).saturating_mul(self.n_iter.max(1)),
            init_image: self.init_images.first().cloned(),
            denoising_strength: match (self.init_images.first(), self.enable_hr) {
                (Some(_), _) => Some(self.denoising_strength.unwrap_or(0.75)),
                (None, true) => Some(self.denoising_strength.unwrap_or(0.7)),
                (None, false) => None,
            },
            enable_hr: self.enable_hr,
            vae,
            hr_scale: self.hr_scale,
            hr_upscaler: self.hr_upscaler.clone().unwrap_or_else(|| "Latent".into()),
            hr_second_pass_steps: self.hr_second_pass_steps,
            mask: self.mask.clone(),
            mask_blur: self.mask_blur.unwrap_or(4),
            inpainting_fill,
            inpainting_mask_invert: self.inpainting_mask_invert != 0,
            inpaint_full_res: self.inpaint_full_res,
            inpaint_full_res_padding: self.inpaint_full_res_padding,
            rng,
            subseed: self.subseed,
            subseed_strength: self.subseed_strength,
            eta: self.eta,
            s_noise: self.s_noise,
            clip_skip,
            styles: self.styles.clone(),
            model,
            ..JobRequest::default()
        })
    }
}

/// Waits for job `id` to end and returns its final record. The store is read again only
/// when this job's end event arrives, or once a second in case an event was missed.
async fn wait_for(s: &Shared, id: i64) -> Result<ra_wire::JobInfo, ApiError> {
    use tokio::sync::broadcast::error::RecvError;
    let mut rx = s.service.worker.subscribe();
    loop {
        let job = s.service.job(id)?;
        if job.status.is_final() {
            return Ok(job);
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Ok(e)) if e.job_id() == id && e.is_final() => break,
                Ok(Ok(_)) => {}
                Ok(Err(RecvError::Lagged(_))) | Err(_) => break,
                Ok(Err(RecvError::Closed)) => {
                    return Err(ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "shutting_down",
                        "the daemon is shutting down; retry when it is back",
                    ))
                }
            }
        }
    }
}

async fn generate(s: Shared, body: Bytes, img2img: bool) -> Result<Json<Value>, ApiError> {
    let req: A1111Request = parse_body(&body)?;
    let mut echo: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(o) = echo.as_object_mut() {
        // A1111 does not echo input images back.
        o.insert("init_images".into(), Value::Null);
        o.insert("mask".into(), Value::Null);
    }
    let job = req.to_job()?;
    if img2img && job.init_image.is_none() {
        return Err(ApiError::field(
            "init_images",
            "img2img needs at least one init image (base64 or data URL)",
        ));
    }
    let id = submit_blocking(&s, job)
        .await
        .map_err(|e| ApiError::from(e).rename_field(&FIELD_NAMES))?;
    let done = wait_for(&s, id).await?;
    match done.status {
        JobStatus::Done => {}
        JobStatus::Cancelled if !done.outputs.is_empty() => {}
        JobStatus::Cancelled => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "interrupted",
                "the job was interrupted before any image was finished",
            ))
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "generation_failed",
                done.error.unwrap_or_else(|| "generation failed".into()),
            ))
        }
    }
    let mut images = Vec::new();
    for f in &done.outputs {
        let bytes = tokio::fs::read(s.service.settings.output_dir.join(f))
            .await
            .map_err(ApiError::internal)?;
        images.push(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    let info = info_json(&req, &done);
    Ok(Json(
        json!({"images": images, "parameters": echo, "info": info.to_string()}),
    ))
}

/// A1111's `info`: the generation as it happened, a JSON object sent as a string.
fn info_json(req: &A1111Request, done: &ra_wire::JobInfo) -> Value {
    let job = &done.request;
    let n = done.outputs.len();
    let first = done
        .infotexts
        .first()
        .and_then(|t| ra_wire::GenerationInfo::parse(t).ok());
    json!({
        "prompt": job.prompt,
        "all_prompts": vec![&job.prompt; n],
        "negative_prompt": job.negative_prompt,
        "all_negative_prompts": vec![&job.negative_prompt; n],
        "seed": done.seeds.first(),
        "all_seeds": done.seeds,
        "subseed": -1,
        "all_subseeds": vec![-1; n],
        "subseed_strength": 0,
        "width": job.width,
        "height": job.height,
        "sampler_name": first.as_ref().map(|i| i.sampler.to_string()),
        "scheduler": first.as_ref().map(|i| i.schedule_type.to_string()),
        "cfg_scale": job.cfg_scale,
        "steps": job.steps,
        "batch_size": req.batch_size.max(1),
        "restore_faces": false,
        "sd_model_name": first.as_ref().map(|i| i.model.clone()),
        "sd_model_hash": first.as_ref().map(|i| i.model_hash.clone()),
        "denoising_strength": job.denoising_strength,
        "extra_generation_params": {},
        "clip_skip": 1,
        "infotexts": done.infotexts,
        "styles": job.styles,
        "job_timestamp": done.created_at,
        "index_of_first_image": 0,
    })
}

async fn txt2img(State(s): State<Shared>, body: Bytes) -> Result<Json<Value>, ApiError> {
    generate(s, body, false).await
}

async fn img2img(State(s): State<Shared>, body: Bytes) -> Result<Json<Value>, ApiError> {
    generate(s, body, true).await
}

async fn progress(State(s): State<Shared>) -> Result<Json<Value>, ApiError> {
    let st = s.service.status()?;
    let fraction = if st.total > 0 {
        f64::from(st.step) / f64::from(st.total)
    } else {
        0.0
    };
    Ok(Json(json!({
        "progress": fraction,
        "eta_relative": st.eta_seconds,
        "state": {
            "skipped": false,
            "interrupted": false,
            "job": st.job.map(|j| format!("job {j}")).unwrap_or_default(),
            "job_count": st.queued + u32::from(st.job.is_some()),
            "job_timestamp": "",
            "job_no": 0,
            "sampling_step": st.step,
            "sampling_steps": st.total,
        },
        "current_image": st.preview,
        "textinfo": st.job.map(|j| format!("job {j}: step {} of {}", st.step, st.total)),
    })))
}

async fn interrupt(State(s): State<Shared>) -> Json<Value> {
    Json(json!({"interrupted": s.service.worker.interrupt()}))
}

async fn skip(State(s): State<Shared>) -> Json<Value> {
    Json(json!({"skipped": s.service.worker.skip()}))
}

async fn sd_models(State(s): State<Shared>) -> Json<Value> {
    Json(Value::Array(
        s.service
            .models(Some(ModelKind::Checkpoint))
            .iter()
            .map(|m| {
                json!({
                    "title": m.title(),
                    "model_name": m.name,
                    "hash": m.short_hash(),
                    "sha256": m.sha256,
                    "filename": m.path,
                    "config": Value::Null,
                })
            })
            .collect(),
    ))
}

async fn refresh_checkpoints(State(s): State<Shared>) -> Result<Json<Value>, ApiError> {
    let service = s.service.clone();
    tokio::task::spawn_blocking(move || service.refresh_models())
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(Value::Null))
}

async fn get_options(State(s): State<Shared>) -> Result<Json<Value>, ApiError> {
    let current = s.service.worker.current_model();
    Ok(Json(json!({
        "sd_model_checkpoint": current.as_ref().map(|m| m.title()),
        "sd_checkpoint_hash": current.as_ref().and_then(|m| m.sha256.clone()),
        "samples_format": "png",
        "CLIP_stop_at_last_layers": 1,
        "eta_noise_seed_delta": 0,
        "live_previews_enable": true,
        "show_progress_every_n_steps": 1,
        "show_progress_type": "Approx cheap",
    })))
}

/// Applies the options RA knows (today: `sd_model_checkpoint`); unknown keys are
/// ignored, as A1111 does.
async fn set_options(State(s): State<Shared>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let options: Map<String, Value> = parse_body(&body)?;
    if let Some(v) = options.get("sd_model_checkpoint") {
        let name = v.as_str().ok_or_else(|| {
            ApiError::field(
                "sd_model_checkpoint",
                "sd_model_checkpoint must be a string",
            )
        })?;
        s.service
            .switch_model(name)
            .map_err(|e| ApiError::from(e).rename_field(&FIELD_NAMES))?;
    }
    Ok(Json(Value::Null))
}

async fn samplers() -> Json<Value> {
    Json(Value::Array(
        SamplerName::ALL
            .iter()
            .map(|s| json!({"name": s.a1111_name(), "aliases": [], "options": {}}))
            .collect(),
    ))
}

async fn schedulers() -> Json<Value> {
    Json(Value::Array(
        ScheduleType::ALL
            .iter()
            .map(|s| {
                let aliases = (!s.aliases().is_empty()).then(|| s.aliases());
                json!({"name": s.api_name(), "label": s.a1111_name(), "aliases": aliases})
            })
            .collect(),
    ))
}

async fn upscalers(State(s): State<Shared>) -> Json<Value> {
    // A1111 always lists its built-in resamplers first.
    let mut list: Vec<Value> = ["None", "Lanczos", "Nearest"]
        .iter()
        .map(|n| json!({"name": n, "model_name": Value::Null, "model_path": Value::Null, "model_url": Value::Null, "scale": 4}))
        .collect();
    // Upscaler model files are served by the plugin that runs them (`upscale` lists one
    // upscaler per model, under the file's name); the file's path is filled in here.
    let files = s.service.models(Some(ModelKind::Upscaler));
    if let Some(plugins) = s.service.worker.plugins() {
        list.extend(plugins.upscalers().into_iter().map(|(plugin, u)| {
            let file = files.iter().find(|m| m.name == u.name);
            json!({"name": u.name, "model_name": file.map(|m| &m.name), "model_path": file.map(|m| &m.path),
                   "model_url": Value::Null, "scale": u.scale, "plugin": plugin})
        }));
    }
    Json(Value::Array(list))
}

async fn loras(State(s): State<Shared>) -> Json<Value> {
    let service = s.service.clone();
    let list = tokio::task::spawn_blocking(move || {
        service
            .models(Some(ModelKind::Lora))
            .iter()
            .map(|m| {
                json!({
                    "name": m.name,
                    "alias": m.name,
                    "path": m.path,
                    "metadata": crate::models::read_metadata(&m.path),
                })
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    Json(Value::Array(list))
}

/// Embeddings are found but not yet applied to prompts, so they are listed as
/// A1111 lists embeddings it cannot use: under `skipped`.
async fn embeddings(State(s): State<Shared>) -> Json<Value> {
    let skipped: Map<String, Value> = s
        .service
        .models(Some(ModelKind::Embedding))
        .iter()
        .map(|m| {
            (
                m.name.clone(),
                json!({"step": Value::Null, "sd_checkpoint": Value::Null, "sd_checkpoint_name": Value::Null, "shape": Value::Null, "vectors": Value::Null}),
            )
        })
        .collect();
    Json(json!({"loaded": {}, "skipped": skipped}))
}

#[derive(Deserialize)]
struct PngInfoRequest {
    #[serde(default)]
    image: String,
}

/// A1111's answer: the raw text, the text chunks, and the parsed parameters.
async fn png_info(body: Bytes) -> Result<Json<Value>, ApiError> {
    let req: PngInfoRequest = parse_body(&body)?;
    let data = req.image.trim();
    if data.is_empty() {
        return Ok(Json(json!({"info": "", "items": {}, "parameters": {}})));
    }
    let bytes = crate::service::decode_base64(data)
        .map_err(|e| ApiError::field("image", format!("image is not valid base64: {e}")))?;
    let text = ra_wire::png_text::read_parameters(&bytes)
        .map_err(|e| ApiError::field("image", format!("image is not a readable PNG: {e}")))?
        .unwrap_or_default();
    let mut parameters = Map::new();
    if let Ok(info) = Infotext::parse(&text) {
        parameters.insert("Prompt".into(), info.prompt.clone().into());
        parameters.insert(
            "Negative prompt".into(),
            info.negative_prompt.clone().into(),
        );
        for (k, v) in &info.params {
            // A1111 splits sizes into `<key>-1` and `<key>-2`.
            match v.split_once('x').filter(|_| k.starts_with("Size")) {
                Some((w, h)) => {
                    parameters.insert(format!("{k}-1"), w.into());
                    parameters.insert(format!("{k}-2"), h.into());
                }
                None => {
                    parameters.insert(k.clone(), v.clone().into());
                }
            }
        }
    }
    let items = if text.is_empty() {
        json!({})
    } else {
        json!({"parameters": text})
    };
    Ok(Json(
        json!({"info": text, "items": items, "parameters": parameters}),
    ))
}

async fn memory() -> Json<Value> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| -> Option<u64> {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
    };
    let ram = match (field("MemTotal"), field("MemAvailable")) {
        (Some(total), Some(free)) => {
            json!({"free": free, "used": total.saturating_sub(free), "total": total})
        }
        _ => json!({"error": "memory figures are not available on this system"}),
    };
    Json(json!({
        "ram": ram,
        "cuda": {"error": "RA runs on the CPU in this build; there is no CUDA device"},
    }))
}
