//! HTTP routes for plugins: RA's own `/ra/v1/plugins` (list, install a `.raplugin`
//! sent as the request body, enable, disable, settings, uninstall, actions) and the
//! A1111 routes plugins serve (`/sdapi/v1/extra-single-image`,
//! `/sdapi/v1/prompt-styles`). Plugin calls run off the async threads.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use ra_plugins::{Image, PluginError, Plugins};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::{parse_body, ApiError, Shared};

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/ra/v1/plugins", get(list).post(install))
        .route("/ra/v1/plugins/{id}", get(one).delete(uninstall))
        .route("/ra/v1/plugins/{id}/enable", post(enable))
        .route("/ra/v1/plugins/{id}/disable", post(disable))
        .route("/ra/v1/plugins/{id}/settings", axum::routing::put(settings))
        .route("/ra/v1/plugins/{id}/actions/{name}", post(action))
        .route("/sdapi/v1/extra-single-image", post(extra_single_image))
        .route("/sdapi/v1/prompt-styles", get(prompt_styles))
}

impl From<PluginError> for ApiError {
    fn from(e: PluginError) -> Self {
        let status = match &e {
            PluginError::NotFound(_) | PluginError::NoSuch { .. } => StatusCode::NOT_FOUND,
            PluginError::Disabled(_) | PluginError::Bundled(_) => StatusCode::CONFLICT,
            e if e.is_client_error() => StatusCode::UNPROCESSABLE_ENTITY,
            PluginError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            // The plugin failed, not the client and not the daemon.
            _ => StatusCode::BAD_GATEWAY,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

fn host(s: &Shared) -> Result<Arc<Plugins>, ApiError> {
    s.service.worker.plugins().cloned().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "plugins_unavailable", "this daemon runs without plugins")
    })
}

/// Runs a plugin call on a blocking thread.
async fn call<T: Send + 'static>(
    s: &Shared,
    f: impl FnOnce(&Plugins) -> Result<T, PluginError> + Send + 'static,
) -> Result<T, ApiError> {
    let plugins = host(s)?;
    tokio::task::spawn_blocking(move || f(&plugins))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

async fn list(State(s): State<Shared>) -> Result<Json<Value>, ApiError> {
    let plugins = call(&s, |p| Ok(p.list())).await?;
    Ok(Json(json!({ "plugins": plugins, "supported_apis": ra_plugins::SUPPORTED_APIS })))
}

async fn one(State(s): State<Shared>, UrlPath(id): UrlPath<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(call(&s, move |p| p.get(&id)).await?)))
}

/// The body is the `.raplugin` file itself.
async fn install(State(s): State<Shared>, body: Bytes) -> Result<(StatusCode, Json<Value>), ApiError> {
    if body.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "plugin_package",
            "send the .raplugin file as the request body (Content-Type: application/zip)",
        ));
    }
    let info = call(&s, move |p| {
        let upload = tempfile::Builder::new()
            .prefix(".upload-")
            .suffix(".raplugin")
            .tempfile_in(p.user_dir())
            .map_err(|e| PluginError::Io { path: p.user_dir().to_path_buf(), source: e })?;
        std::fs::write(upload.path(), &body).map_err(|e| PluginError::Io { path: upload.path().to_path_buf(), source: e })?;
        p.install(upload.path())
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!(info))))
}

async fn uninstall(State(s): State<Shared>, UrlPath(id): UrlPath<String>) -> Result<StatusCode, ApiError> {
    call(&s, move |p| p.uninstall(&id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn enable(State(s): State<Shared>, UrlPath(id): UrlPath<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(call(&s, move |p| p.set_enabled(&id, true)).await?)))
}

async fn disable(State(s): State<Shared>, UrlPath(id): UrlPath<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(call(&s, move |p| p.set_enabled(&id, false)).await?)))
}

async fn settings(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let values: serde_json::Map<String, Value> = parse_body(&body)?;
    Ok(Json(json!(call(&s, move |p| p.set_settings(&id, &values)).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    #[serde(default)]
    input: Value,
    /// Base64 PNG/JPEG/WebP (or data URLs).
    #[serde(default)]
    images: Vec<String>,
}

fn decode_image(s: &Shared, field: &str, data: &str) -> Result<Image, ApiError> {
    let bytes = crate::service::decode_base64(data)
        .map_err(|e| ApiError::field(field, format!("not base64: {e}")))?;
    let image = ra_engine::pipeline::load_image(&bytes).map_err(|e| ApiError::field(field, e.to_string()))?;
    let max = s.service.settings.max_image_side;
    if image.width > max || image.height > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "image_too_large",
            format!("{field} is {}x{}; the largest side allowed is {max}", image.width, image.height),
        ));
    }
    Ok(crate::plugins::to_image(&image))
}

fn encode_image(image: &Image) -> Result<String, ApiError> {
    let png = crate::plugins::from_image(image)
        .and_then(|i| i.encode(None).map_err(|e| e.to_string()))
        .map_err(ApiError::internal)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(png))
}

/// `{"input": any JSON, "images": [base64…]}` → `{"output": JSON, "images": [base64 PNG…]}`.
async fn action(
    State(s): State<Shared>,
    UrlPath((id, name)): UrlPath<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: ActionBody = if body.is_empty() { ActionBody { input: Value::Null, images: Vec::new() } } else { parse_body(&body)? };
    let images = body
        .images
        .iter()
        .enumerate()
        .map(|(i, data)| decode_image(&s, &format!("images.{i}"), data))
        .collect::<Result<Vec<_>, _>>()?;
    let input = if body.input.is_null() { "{}".to_string() } else { body.input.to_string() };
    let out = call(&s, move |p| p.action(&id, &name, &input, images)).await?;
    let output: Value = serde_json::from_str(&out.json).map_err(ApiError::internal)?;
    let images = out.images.iter().map(encode_image).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "output": output, "images": images })))
}

/// A1111's extras tab, single image: upscale by `upscaling_resize` with `upscaler_1`.
/// Its other fields (face restoration, a second upscaler) are ignored.
#[derive(Deserialize)]
#[serde(default)]
struct ExtraSingleImage {
    image: String,
    upscaling_resize: f32,
    upscaler_1: String,
    /// 0 = by factor (what RA serves); 1 = to `upscaling_resize_w` × `_h`.
    resize_mode: u32,
    upscaling_resize_w: u32,
    upscaling_resize_h: u32,
}

impl Default for ExtraSingleImage {
    fn default() -> Self {
        ExtraSingleImage {
            image: String::new(),
            upscaling_resize: 2.0,
            upscaler_1: "None".into(),
            resize_mode: 0,
            upscaling_resize_w: 512,
            upscaling_resize_h: 512,
        }
    }
}

async fn extra_single_image(State(s): State<Shared>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let req: ExtraSingleImage = parse_body(&body)?;
    if req.image.is_empty() {
        return Err(ApiError::field("image", "send the image to upscale as base64"));
    }
    let image = decode_image(&s, "image", &req.image)?;
    let scale = match req.resize_mode {
        0 => req.upscaling_resize,
        1 => req.upscaling_resize_w as f32 / image.width as f32,
        other => return Err(ApiError::field("resize_mode", format!("{other} is not 0 (by factor) or 1 (to size)"))),
    };
    if !(scale.is_finite() && scale > 0.0 && scale <= 8.0) {
        return Err(ApiError::field("upscaling_resize", format!("{scale} is not a factor between 0 and 8")));
    }
    let out_side = |v: u32| (v as f32 * scale).round() as u32;
    let max = s.service.settings.max_image_side.saturating_mul(4);
    if out_side(image.width) > max || out_side(image.height) > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "image_too_large",
            format!("the result would be {}x{}; the largest side allowed is {max}", out_side(image.width), out_side(image.height)),
        ));
    }
    let name = req.upscaler_1.clone();
    let result = if name == "None" {
        image
    } else {
        call(&s, move |p| p.upscale(&name, image, scale)).await?
    };
    Ok(Json(json!({ "html_info": "", "image": encode_image(&result)? })))
}

/// The styles plugin's styles, as A1111 lists them; empty without that plugin.
async fn prompt_styles(State(s): State<Shared>) -> Result<Json<Value>, ApiError> {
    let out = call(&s, |p| match p.action("styles", "list", "{}", Vec::new()) {
        Ok(out) => Ok(out.json),
        Err(PluginError::NotFound(_) | PluginError::Disabled(_)) => Ok("[]".to_string()),
        Err(e) => Err(e),
    })
    .await?;
    Ok(Json(serde_json::from_str(&out).map_err(ApiError::internal)?))
}
