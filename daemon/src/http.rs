//! The HTTP API: A1111's `/sdapi/v1/*` routes with A1111's field names and response
//! shapes, and RA's own job API under `/ra/v1/`. Handlers stay thin: they validate,
//! hand work to the [`Worker`], and shape answers. Errors are English JSON with a
//! machine-readable `code` (A1111's FastAPI-style `detail` list for 422s).

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use ra_wire::{JobEvent, JobRequest, JobStatus, SamplerName, ScheduleType};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::worker::Worker;

pub struct AppState {
    pub worker: Arc<Worker>,
    pub output_dir: PathBuf,
    pub input_dir: PathBuf,
    pub queue_limit: u32,
    pub max_image_side: u32,
    pub token: Option<String>,
    pub basic: Option<(String, String)>,
}

type Shared = Arc<AppState>;

/// An API error: status, code and message.
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    fn field(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.to_string()),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message)
        }
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match &self.field {
            Some(f) => json!({
                "code": self.code,
                "error": self.message,
                "detail": [{"loc": ["body", f], "msg": self.message, "type": "value_error"}],
            }),
            None => json!({"code": self.code, "error": self.message, "detail": self.message}),
        };
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"ra\""),
            );
        }
        resp
    }
}

/// Parses a JSON body, naming the offending field on a type error.
fn parse_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_json",
                format!("request body is not valid JSON: {inner}"),
            )
        } else {
            ApiError::field(&path, inner.to_string())
        }
    })
}

pub fn router(state: Shared, max_body: usize) -> Router {
    Router::new()
        .route("/sdapi/v1/txt2img", post(txt2img))
        .route("/sdapi/v1/img2img", post(img2img))
        .route("/sdapi/v1/progress", get(progress))
        .route("/sdapi/v1/interrupt", post(interrupt))
        .route("/sdapi/v1/skip", post(skip))
        .route("/sdapi/v1/sd-models", get(sd_models))
        .route("/sdapi/v1/samplers", get(samplers))
        .route("/sdapi/v1/schedulers", get(schedulers))
        .route("/ra/v1/jobs", post(submit_job).get(list_jobs))
        .route("/ra/v1/jobs/{id}", get(get_job).delete(cancel_job))
        .route("/ra/v1/outputs/{*file}", get(output_file))
        .layer(middleware::from_fn_with_state(state.clone(), auth))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(json_413))
        .with_state(state)
}

/// Rewrites axum's plain-text "length limit exceeded" into our JSON error.
async fn json_413(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "request body is larger than the daemon accepts (max_body_mib in the config)",
        )
        .into_response();
    }
    resp
}

async fn auth(State(s): State<Shared>, req: Request, next: Next) -> Response {
    if s.token.is_none() && s.basic.is_none() {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ok_token = s.token.as_deref().is_some_and(|t| {
        given
            .strip_prefix("Bearer ")
            .is_some_and(|g| constant_eq(g, t))
    });
    let ok_basic = s.basic.as_ref().is_some_and(|(u, p)| {
        given
            .strip_prefix("Basic ")
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .is_some_and(|up| constant_eq(&up, &format!("{u}:{p}")))
    });
    if ok_token || ok_basic {
        next.run(req).await
    } else {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong credentials: send `Authorization: Bearer <token>` or basic auth",
        )
        .into_response()
    }
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A1111's txt2img/img2img fields that RA uses; others are accepted and ignored.
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
    override_settings: serde_json::Map<String, Value>,
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
            override_settings: serde_json::Map::new(),
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
        let (_, legacy) = SamplerName::parse_with_schedule(&sampler)
            .map_err(|e| ApiError::field("sampler_name", e.to_string()))?;
        let schedule = match &self.scheduler {
            Some(s) => s
                .parse::<ScheduleType>()
                .map_err(|e| ApiError::field("scheduler", e.to_string()))?,
            None => legacy.unwrap_or(ScheduleType::Automatic),
        };
        for (f, v) in [("width", self.width), ("height", self.height)] {
            if v == 0 || v % 8 != 0 || v > ra_engine::pipeline::MAX_SIDE {
                return Err(ApiError::field(
                    f,
                    format!(
                        "{f} must be a multiple of 8 between 8 and {}",
                        ra_engine::pipeline::MAX_SIDE
                    ),
                ));
            }
        }
        if self.steps == 0 || self.steps > 1000 {
            return Err(ApiError::field("steps", "steps must be between 1 and 1000"));
        }
        if !(0.0..=100.0).contains(&self.cfg_scale) {
            return Err(ApiError::field(
                "cfg_scale",
                "cfg_scale must be between 0 and 100",
            ));
        }
        if self.seed > i64::from(u32::MAX) {
            return Err(ApiError::field(
                "seed",
                "seed must be -1 or between 0 and 4294967295",
            ));
        }
        let count = self.batch_size.max(1).saturating_mul(self.n_iter.max(1));
        if count > 64 {
            return Err(ApiError::field(
                "batch_size",
                "batch_size × n_iter must be at most 64",
            ));
        }
        if let Some(s) = self.denoising_strength {
            if !(0.0..=1.0).contains(&s) {
                return Err(ApiError::field(
                    "denoising_strength",
                    "denoising_strength must be between 0 and 1",
                ));
            }
        }
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
        Ok(JobRequest {
            prompt: self.prompt.clone(),
            negative_prompt: self.negative_prompt.clone(),
            steps: self.steps,
            sampler,
            schedule_type: schedule.to_string(),
            cfg_scale: self.cfg_scale,
            seed: self.seed,
            width: self.width,
            height: self.height,
            count,
            init_image: None,
            denoising_strength: None,
            model,
            priority: 0,
        })
    }
}

fn submit(s: &AppState, job: &JobRequest) -> Result<i64, ApiError> {
    s.worker
        .submit(job, s.queue_limit)
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "queue_full",
                format!(
                    "the queue is full ({} jobs wait); retry later",
                    s.queue_limit
                ),
            )
        })
}

/// Waits for job `id` to end and returns its final record. The store is read again only
/// when this job's end event arrives, or once a second in case an event was missed.
async fn wait_for(s: &AppState, id: i64) -> Result<ra_wire::JobInfo, ApiError> {
    use tokio::sync::broadcast::error::RecvError;
    let mut rx = s.worker.subscribe();
    loop {
        if let Some(job) = s.worker.shared.store.get(id).map_err(ApiError::internal)? {
            if job.status.is_final() {
                return Ok(job);
            }
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Ok(e))
                    if e.job_id() == id
                        && !matches!(e, JobEvent::Progress { .. } | JobEvent::Started { .. }) =>
                {
                    break
                }
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

async fn generate_a1111(
    s: Shared,
    req: A1111Request,
    job: JobRequest,
    echo: Value,
) -> Result<Json<Value>, ApiError> {
    let id = submit(&s, &job)?;
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
        let bytes = tokio::fs::read(s.output_dir.join(f))
            .await
            .map_err(ApiError::internal)?;
        images.push(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    let first = done
        .infotexts
        .first()
        .and_then(|t| ra_wire::GenerationInfo::parse(t).ok());
    let info = json!({
        "prompt": req.prompt,
        "all_prompts": vec![&req.prompt; done.outputs.len()],
        "negative_prompt": req.negative_prompt,
        "all_negative_prompts": vec![&req.negative_prompt; done.outputs.len()],
        "seed": done.seeds.first(),
        "all_seeds": done.seeds,
        "subseed": -1,
        "all_subseeds": vec![-1; done.outputs.len()],
        "subseed_strength": 0,
        "width": job.width,
        "height": job.height,
        "sampler_name": first.as_ref().map(|i| i.sampler.to_string()),
        "scheduler": job.schedule_type,
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
        "styles": [],
        "job_timestamp": done.created_at,
        "index_of_first_image": 0,
    });
    Ok(Json(
        json!({"images": images, "parameters": echo, "info": info.to_string()}),
    ))
}

async fn txt2img(State(s): State<Shared>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let req: A1111Request = parse_body(&body)?;
    let echo: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let job = req.to_job()?;
    generate_a1111(s, req, job, echo).await
}

async fn img2img(State(s): State<Shared>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let req: A1111Request = parse_body(&body)?;
    let mut echo: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(o) = echo.as_object_mut() {
        // A1111 does not echo input images back.
        o.insert("init_images".into(), Value::Null);
    }
    let mut job = req.to_job()?;
    let first = req.init_images.first().ok_or_else(|| {
        ApiError::field(
            "init_images",
            "img2img needs at least one init image (base64 or data URL)",
        )
    })?;
    let b64 = first
        .split_once(";base64,")
        .map_or(first.as_str(), |(_, d)| d);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| {
            ApiError::field(
                "init_images",
                format!("init image is not valid base64: {e}"),
            )
        })?;
    let image = ra_engine::pipeline::load_image(&bytes)
        .map_err(|e| ApiError::field("init_images", e.to_string()))?;
    if image.width > s.max_image_side || image.height > s.max_image_side {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "image_too_large",
            format!(
                "init image is {}x{}; the limit is {} pixels a side",
                image.width, image.height, s.max_image_side
            ),
        ));
    }
    tokio::fs::create_dir_all(&s.input_dir)
        .await
        .map_err(ApiError::internal)?;
    let path = s.input_dir.join(format!(
        "{}-{}.png",
        std::process::id(),
        ra_engine::pipeline::random_seed()
    ));
    let png = image.encode(None).map_err(ApiError::internal)?;
    ra_engine::output::write_atomic(&path, &png).map_err(ApiError::internal)?;
    job.init_image = Some(path.to_string_lossy().into_owned());
    job.denoising_strength = Some(req.denoising_strength.unwrap_or(0.75));
    generate_a1111(s, req, job, echo).await
}

async fn progress(State(s): State<Shared>) -> Json<Value> {
    let live = s
        .worker
        .shared
        .live
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    let fraction = if live.total > 0 {
        f64::from(live.step) / f64::from(live.total)
    } else {
        0.0
    };
    let eta = match (live.started, live.step) {
        (Some(t), step) if step > 0 => {
            t.elapsed().as_secs_f64() / f64::from(step) * f64::from(live.total - step)
        }
        _ => 0.0,
    };
    let queued = s.worker.shared.store.queued_count().unwrap_or(0);
    Json(json!({
        "progress": fraction,
        "eta_relative": eta,
        "state": {
            "skipped": false,
            "interrupted": false,
            "job": live.job.map(|j| format!("job {j}")).unwrap_or_default(),
            "job_count": queued + u32::from(live.job.is_some()),
            "job_timestamp": "",
            "job_no": 0,
            "sampling_step": live.step,
            "sampling_steps": live.total,
        },
        "current_image": Value::Null,
        "textinfo": live.job.map(|j| format!("job {j}: step {} of {}", live.step, live.total)),
    }))
}

async fn interrupt(State(s): State<Shared>) -> Json<Value> {
    Json(json!({"interrupted": s.worker.interrupt()}))
}

async fn skip(State(s): State<Shared>) -> Json<Value> {
    Json(json!({"skipped": s.worker.skip()}))
}

async fn sd_models(State(s): State<Shared>) -> Json<Value> {
    let models = s
        .worker
        .shared
        .models
        .read()
        .map(|m| m.clone())
        .unwrap_or_default();
    Json(Value::Array(
        models
            .iter()
            .filter(|m| m.kind == crate::models::ModelKind::Checkpoint)
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
            .map(|s| json!({"name": s.a1111_name().to_lowercase(), "label": s.a1111_name(), "aliases": Value::Null}))
            .collect(),
    ))
}

async fn submit_job(
    State(s): State<Shared>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let job: JobRequest = parse_body(&body)?;
    if job.init_image.is_some() {
        return Err(ApiError::field(
            "init_image",
            "use /sdapi/v1/img2img to send an image",
        ));
    }
    SamplerName::parse_with_schedule(&job.sampler)
        .map_err(|e| ApiError::field("sampler", e.to_string()))?;
    let id = submit(&s, &job)?;
    Ok((StatusCode::ACCEPTED, Json(json!({"id": id}))))
}

async fn get_job(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<i64>,
) -> Result<Json<Value>, ApiError> {
    let job = s
        .worker
        .shared
        .store
        .get(id)
        .map_err(ApiError::internal)?
        .ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, "no_such_job", format!("no job {id}"))
        })?;
    Ok(Json(serde_json::to_value(job).map_err(ApiError::internal)?))
}

async fn cancel_job(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<i64>,
) -> Result<Json<Value>, ApiError> {
    if s.worker.cancel(id).map_err(ApiError::internal)? {
        Ok(Json(json!({"cancelled": id})))
    } else {
        Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_cancellable",
            format!("job {id} is not queued or running"),
        ))
    }
}

#[derive(Deserialize)]
struct Page {
    before: Option<i64>,
    limit: Option<u32>,
}

async fn list_jobs(
    State(s): State<Shared>,
    Query(p): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let jobs = s
        .worker
        .shared
        .store
        .list(p.before, p.limit.unwrap_or(50).min(500))
        .map_err(ApiError::internal)?;
    Ok(Json(json!({"jobs": jobs})))
}

/// Resolves `file` inside `root`, refusing anything that could leave it.
pub fn safe_output_path(root: &Path, file: &str) -> Option<PathBuf> {
    if file.is_empty() || file.contains(['\\', '\0']) || file.starts_with('/') {
        return None;
    }
    let rel = Path::new(file);
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    let root = root.canonicalize().ok()?;
    let full = root.join(rel).canonicalize().ok()?;
    // Symlinks pointing out of the folder resolve outside `root`.
    full.starts_with(&root).then_some(full)
}

async fn output_file(
    State(s): State<Shared>,
    UrlPath(file): UrlPath<String>,
    _h: HeaderMap,
) -> Result<Response, ApiError> {
    let path = safe_output_path(&s.output_dir, &file).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_output",
            "no such output file",
        )
    })?;
    let bytes = tokio::fs::read(&path).await.map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_such_output",
            "no such output file",
        )
    })?;
    Ok(([(header::CONTENT_TYPE, "image/png")], bytes).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths_stay_inside_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("outputs");
        std::fs::create_dir_all(out.join("sub")).unwrap();
        std::fs::write(out.join("a..b.png"), b"x").unwrap();
        std::fs::write(out.join("sub/c.png"), b"x").unwrap();
        std::fs::write(dir.path().join("secret.txt"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), out.join("link.png")).unwrap();
        assert!(safe_output_path(&out, "a..b.png").is_some());
        assert!(safe_output_path(&out, "sub/c.png").is_some());
        for bad in [
            "../secret.txt",
            "/etc/passwd",
            "sub/../../secret.txt",
            "..\\secret.txt",
            "a\0.png",
            "link.png",
            "",
            "./a..b.png",
        ] {
            assert!(safe_output_path(&out, bad).is_none(), "{bad:?} got through");
        }
    }
}
