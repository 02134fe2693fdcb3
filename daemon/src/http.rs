//! The HTTP API's frame and RA's own routes. A1111's `/sdapi/v1/*` routes live in
//! [`crate::a1111`]; both are thin shells over [`Service`]. Errors are English JSON with
//! a machine-readable `code` the launcher translates, plus FastAPI's `detail` (a list
//! naming the field for 422s) so A1111 clients read them as they read A1111's.

use std::convert::Infallible;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use futures_util::Stream;
use ra_wire::{JobEvent, JobRequest};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::service::{Service, ServiceError};

pub struct AppState {
    pub service: Arc<Service>,
    pub token: Option<String>,
    pub basic: Option<(String, String)>,
}

pub(crate) type Shared = Arc<AppState>;

/// An API error: status, code and message, and the field at fault for a 422.
pub struct ApiError {
    pub(crate) status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub(crate) fn field(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.to_string()),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message)
        }
    }

    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }

    /// Renames the field at fault, for routes whose clients use other field names.
    pub(crate) fn rename_field(mut self, names: &[(&str, &str)]) -> Self {
        if let Some(f) = &self.field {
            if let Some((_, to)) = names.iter().find(|(from, _)| from == f) {
                self.field = Some((*to).to_string());
            }
        }
        self
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let field = match &e {
            ServiceError::Invalid { field, .. } => Some(field.clone()),
            ServiceError::NoSuchModel(_) => Some("model".to_string()),
            _ => None,
        };
        let status = match &e {
            ServiceError::Invalid { .. } | ServiceError::NoSuchModel(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ServiceError::ImageTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ServiceError::QueueFull(_) => StatusCode::SERVICE_UNAVAILABLE,
            ServiceError::NoSuchJob(_) => StatusCode::NOT_FOUND,
            ServiceError::NotCancellable(_)
            | ServiceError::JobActive(_)
            | ServiceError::NoModelInstalled(_) => StatusCode::CONFLICT,
            ServiceError::SaveInput(_) | ServiceError::Store(_) | ServiceError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        Self {
            field,
            ..Self::new(status, e.code(), e.to_string())
        }
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
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
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
        .merge(crate::a1111::routes())
        .merge(crate::plugin_api::routes())
        .route("/ra/v1/status", get(status))
        .route(
            "/ra/v1/jobs",
            axum::routing::post(submit_job).get(list_jobs),
        )
        .route("/ra/v1/jobs/{id}", get(get_job).delete(cancel_job))
        .route("/ra/v1/jobs/{id}/events", get(job_events))
        .route("/ra/v1/history/{id}", axum::routing::delete(delete_job))
        .route("/ra/v1/events", get(all_events))
        .route("/ra/v1/models", get(list_models))
        .route("/ra/v1/outputs/{*file}", get(output_file))
        .route("/openapi.json", get(openapi))
        .fallback(no_route)
        .layer(middleware::from_fn_with_state(state.clone(), auth))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(json_413))
        .with_state(state)
}

async fn no_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_such_route",
        "no such route; /openapi.json lists them",
    )
}

async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

/// Rewrites axum's plain-text "length limit exceeded" into our JSON error.
async fn json_413(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let ours = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && !ours {
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

async fn status(State(s): State<Shared>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(s.service.status()?)))
}

async fn submit_job(
    State(s): State<Shared>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let job: JobRequest = parse_body(&body)?;
    let id = submit_blocking(&s, job).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"id": id}))))
}

/// Submits off the async threads: an img2img job decodes and stores its image first.
pub(crate) async fn submit_blocking(s: &Shared, job: JobRequest) -> Result<i64, ServiceError> {
    blocking(s, move |service| service.submit(job)).await
}

/// Runs a service call that touches files off the async threads.
async fn blocking<T: Send + 'static>(
    s: &Shared,
    f: impl FnOnce(&Service) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    let service = s.service.clone();
    tokio::task::spawn_blocking(move || f(&service))
        .await
        .unwrap_or_else(|e| Err(ServiceError::Internal(e.to_string())))
}

async fn get_job(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<i64>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(s.service.job(id)?)))
}

async fn cancel_job(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<i64>,
) -> Result<Json<Value>, ApiError> {
    s.service.cancel(id)?;
    Ok(Json(json!({"cancelled": id})))
}

async fn delete_job(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<i64>,
) -> Result<Json<Value>, ApiError> {
    blocking(&s, move |service| service.delete(id)).await?;
    Ok(Json(json!({"deleted": id})))
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
    let jobs = s.service.jobs(p.before, p.limit.unwrap_or(50))?;
    Ok(Json(json!({"jobs": jobs})))
}

/// The models the daemon serves, each with what the model library says of it (pack,
/// categories, tier, rating, note) under `library` when it knows the file.
async fn list_models(State(s): State<Shared>) -> Json<Value> {
    let service = s.service.clone();
    let library = tokio::task::spawn_blocking(move || service.library_entries()).await.unwrap_or_default();
    let models: Vec<Value> = s
        .service
        .models(None)
        .iter()
        .map(|m| {
            let mut v = json!(m.info());
            if m.kind == ra_wire::ModelKind::Checkpoint {
                v["backend"] = json!(s.service.worker.backend_of(m).as_str());
            }
            if let Some(l) = library.get(&m.path) {
                v["library"] = json!({
                    "name": l.name, "architecture": l.architecture, "categories": l.categories,
                    "tier": l.tier, "rating": l.rating, "note": l.note, "packs": l.packs,
                    "trigger_words": l.trigger_words, "license": l.license, "source_url": l.source_url,
                });
            }
            v
        })
        .collect();
    Json(json!({"models": models}))
}

/// One server-sent event per job event; a slow client misses events (it is told how
/// many) rather than holding anything up.
fn event_stream(
    rx: broadcast::Receiver<JobEvent>,
    only: Option<i64>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    use broadcast::error::RecvError;
    futures_util::stream::unfold((rx, false), move |(mut rx, ended)| async move {
        if ended {
            return None;
        }
        loop {
            match rx.recv().await {
                Ok(e) if only.is_none_or(|id| e.job_id() == id) => {
                    let last = only.is_some() && e.is_final();
                    return Some((Ok(sse_event(&e)), (rx, last)));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    let note = Event::default().event("lagged").data(n.to_string());
                    return Some((Ok(note), (rx, false)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

fn sse_event(e: &JobEvent) -> Event {
    let name = match e {
        JobEvent::Started { .. } => "started",
        JobEvent::Progress { .. } => "progress",
        JobEvent::Finished { .. } => "finished",
        JobEvent::Failed { .. } => "failed",
        JobEvent::Cancelled { .. } => "cancelled",
    };
    Event::default()
        .event(name)
        .data(serde_json::to_string(e).unwrap_or_default())
}

async fn all_events(State(s): State<Shared>) -> impl IntoResponse {
    Sse::new(event_stream(s.service.worker.subscribe(), None)).keep_alive(KeepAlive::default())
}

/// A job's events until it ends. A job that has already ended gets its one final event.
async fn job_events(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<i64>,
) -> Result<Response, ApiError> {
    // Subscribe before reading the store, so an end between the two is not missed.
    let rx = s.service.worker.subscribe();
    let job = s.service.job(id)?;
    if job.status.is_final() {
        let e = JobEvent::from_final(&job);
        let once = futures_util::stream::iter([Ok::<_, Infallible>(sse_event(&e))]);
        return Ok(Sse::new(once).into_response());
    }
    Ok(Sse::new(event_stream(rx, Some(id)))
        .keep_alive(KeepAlive::default())
        .into_response())
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
) -> Result<Response, ApiError> {
    let path = safe_output_path(&s.service.settings.output_dir, &file).ok_or_else(|| {
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
