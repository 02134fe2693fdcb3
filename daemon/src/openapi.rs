//! The OpenAPI 3.1 document served at `/openapi.json`, for both APIs. It is written out
//! by hand from one table of routes; a test in `tests/serve.rs` checks that every route
//! listed here is served and answers with something other than "no such route".

use serde_json::{json, Map, Value};

/// One documented operation.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    /// Component schema of the JSON body, if any.
    pub body: Option<&'static str>,
    /// Component schema of the 200/202 answer, if it has one of ours.
    pub answer: Option<&'static str>,
}

const fn route(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    body: Option<&'static str>,
    answer: Option<&'static str>,
) -> Route {
    Route {
        method,
        path,
        summary,
        body,
        answer,
    }
}

pub const ROUTES: &[Route] = &[
    route(
        "post",
        "/sdapi/v1/txt2img",
        "Generate images from a prompt and wait for them (A1111).",
        Some("A1111Generate"),
        Some("A1111Images"),
    ),
    route(
        "post",
        "/sdapi/v1/img2img",
        "Generate images from init_images and a prompt and wait for them (A1111).",
        Some("A1111Generate"),
        Some("A1111Images"),
    ),
    route(
        "get",
        "/sdapi/v1/progress",
        "Progress of the running job, with a preview in current_image (A1111).",
        None,
        None,
    ),
    route(
        "post",
        "/sdapi/v1/interrupt",
        "Stop the running job within one step (A1111).",
        None,
        None,
    ),
    route(
        "post",
        "/sdapi/v1/skip",
        "End the current image and go on with the next of the job (A1111).",
        None,
        None,
    ),
    route(
        "get",
        "/sdapi/v1/sd-models",
        "Installed checkpoints with title, hash and sha256 (A1111).",
        None,
        None,
    ),
    route(
        "post",
        "/sdapi/v1/refresh-checkpoints",
        "Scan the model folders again (A1111).",
        None,
        None,
    ),
    route(
        "get",
        "/sdapi/v1/options",
        "Current options, including sd_model_checkpoint (A1111).",
        None,
        None,
    ),
    route(
        "post",
        "/sdapi/v1/options",
        "Change options; sd_model_checkpoint switches the model (A1111).",
        Some("A1111Options"),
        None,
    ),
    route(
        "get",
        "/sdapi/v1/samplers",
        "Sampler names (A1111).",
        None,
        None,
    ),
    route(
        "get",
        "/sdapi/v1/schedulers",
        "Schedule types (A1111).",
        None,
        None,
    ),
    route(
        "get",
        "/sdapi/v1/upscalers",
        "Upscalers (A1111).",
        None,
        None,
    ),
    route(
        "get",
        "/sdapi/v1/loras",
        "LoRA files with their safetensors metadata (A1111).",
        None,
        None,
    ),
    route(
        "get",
        "/sdapi/v1/embeddings",
        "Textual-inversion embeddings (A1111).",
        None,
        None,
    ),
    route(
        "post",
        "/sdapi/v1/png-info",
        "Read the generation parameters of a PNG (A1111).",
        Some("A1111PngInfo"),
        None,
    ),
    route(
        "get",
        "/sdapi/v1/memory",
        "System memory (A1111).",
        None,
        None,
    ),
    route(
        "get",
        "/ra/v1/status",
        "What runs, how far it is, what waits, which model is loaded.",
        None,
        Some("DaemonStatus"),
    ),
    route(
        "post",
        "/ra/v1/jobs",
        "Queue a job; answers 202 with its id at once.",
        Some("JobRequest"),
        Some("JobId"),
    ),
    route(
        "get",
        "/ra/v1/jobs",
        "History, newest first; page with ?before=<id>&limit=<n>.",
        None,
        Some("JobList"),
    ),
    route(
        "get",
        "/ra/v1/jobs/{id}",
        "One job: status, position, parameters, outputs, infotexts.",
        None,
        Some("JobInfo"),
    ),
    route(
        "delete",
        "/ra/v1/jobs/{id}",
        "Cancel a queued job, or the running one within one step.",
        None,
        None,
    ),
    route(
        "delete",
        "/ra/v1/history/{id}",
        "Remove an ended job from the history, with its images; 409 job_active while it runs.",
        None,
        None,
    ),
    route(
        "get",
        "/ra/v1/jobs/{id}/events",
        "Server-sent events for one job until it ends.",
        None,
        None,
    ),
    route(
        "get",
        "/ra/v1/events",
        "Server-sent events for every job.",
        None,
        None,
    ),
    route(
        "get",
        "/ra/v1/models",
        "Every model file found, of every kind; `library` holds what the model library says of it (pack, categories, tier, the user's rating and note) when it knows the file.",
        None,
        None,
    ),
    route(
        "get",
        "/ra/v1/outputs/{file}",
        "An output image; only files inside the output folder are served.",
        None,
        None,
    ),
    route("get", "/openapi.json", "This document.", None, None),
];

fn obj(props: &[(&str, Value)]) -> Value {
    let p: Map<String, Value> = props
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect();
    json!({"type": "object", "properties": p})
}

fn schemas() -> Value {
    let s = || json!({"type": "string"});
    let i = || json!({"type": "integer"});
    let n = || json!({"type": "number"});
    let strings = || json!({"type": "array", "items": {"type": "string"}});
    let event = |name: &str, extra: &[(&str, Value)]| {
        let mut props = vec![("event", json!({"const": name})), ("id", i())];
        props.extend(extra.iter().cloned());
        obj(&props)
    };
    json!({
        "A1111Generate": obj(&[
            ("prompt", s()), ("negative_prompt", s()), ("seed", i()),
            ("sampler_name", s()), ("scheduler", s()), ("steps", i()), ("cfg_scale", n()),
            ("width", i()), ("height", i()), ("batch_size", i()), ("n_iter", i()),
            ("denoising_strength", n()), ("init_images", strings()),
            ("override_settings", json!({"type": "object"})),
        ]),
        "A1111Images": obj(&[
            ("images", strings()),
            ("parameters", json!({"type": "object"})),
            ("info", json!({"type": "string", "description": "A JSON object as a string: seed, all_seeds, infotexts, sd_model_hash, …"})),
        ]),
        "A1111Options": obj(&[("sd_model_checkpoint", s())]),
        "A1111PngInfo": obj(&[("image", json!({"type": "string", "description": "base64 PNG or data URL"}))]),
        "JobRequest": obj(&[
            ("prompt", s()), ("negative_prompt", s()), ("steps", i()),
            ("sampler", s()), ("schedule_type", s()), ("cfg_scale", n()), ("seed", i()),
            ("width", i()), ("height", i()), ("count", i()),
            ("init_image", json!({"type": "string", "description": "base64 image or data URL, for img2img"})),
            ("denoising_strength", n()), ("model", s()), ("priority", i()),
        ]),
        "JobId": obj(&[("id", i())]),
        "JobInfo": obj(&[
            ("id", i()),
            ("status", json!({"enum": ["queued", "running", "done", "failed", "cancelled", "interrupted"]})),
            ("request", json!({"$ref": "#/components/schemas/JobRequest"})),
            ("created_at", n()), ("started_at", n()), ("finished_at", n()), ("error", s()),
            ("outputs", strings()), ("seeds", json!({"type": "array", "items": {"type": "integer"}})),
            ("infotexts", strings()), ("position", i()),
        ]),
        "JobList": obj(&[("jobs", json!({"type": "array", "items": {"$ref": "#/components/schemas/JobInfo"}}))]),
        "JobEvent": {"oneOf": [
            event("started", &[]),
            event("progress", &[("step", i()), ("total", i()), ("eta_seconds", n()), ("preview", s())]),
            event("finished", &[("outputs", strings())]),
            event("failed", &[("error", s())]),
            event("cancelled", &[]),
        ]},
        "DaemonStatus": obj(&[
            ("version", s()), ("job", i()), ("step", i()), ("total", i()),
            ("eta_seconds", n()), ("queued", i()), ("model", s()), ("model_error", s()),
            ("preview", s()),
        ]),
        "Error": obj(&[
            ("code", json!({"type": "string", "description": "machine-readable, stable"})),
            ("error", json!({"type": "string", "description": "English, for people"})),
            ("detail", json!({"description": "FastAPI-style: for 422, a list naming the field"})),
        ]),
    })
}

pub fn document() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let mut op = Map::new();
        op.insert("summary".into(), r.summary.into());
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            op.insert("parameters".into(), params.into());
        }
        if let Some(b) = r.body {
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{b}")}}}}),
            );
        }
        let ok = match r.answer {
            Some(a) => {
                json!({"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{a}")}}}})
            }
            None => json!({"description": "OK"}),
        };
        let error = json!({"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
        let code = if r.path == "/ra/v1/jobs" && r.method == "post" {
            "202"
        } else {
            "200"
        };
        op.insert("responses".into(), json!({code: ok, "default": error}));
        let entry = paths
            .entry(r.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(r.method.into(), Value::Object(op));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "RA daemon",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A1111-compatible routes under /sdapi/v1 and RA's job API under /ra/v1. Job events stream as server-sent events whose data is a JobEvent.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            },
        },
    })
}
