//! The launcher's conversation with a running daemon over D-Bus, as plain async
//! functions the Qt bridge calls on the tokio runtime: submit a form, follow jobs,
//! read the history and the models, delete and cancel. Every failure comes back as a
//! [`Notice`] the window can show in its language.

use std::path::Path;

use futures_util::stream::{self, BoxStream, StreamExt};
use ra_wire::dbus::DaemonProxy;
use ra_wire::{DaemonStatus, JobEvent, JobInfo, ModelInfo, ModelKind};
use serde::Serialize;

use crate::form::GenerateForm;
use crate::job_view::{self, GalleryItem};
use crate::notice::Notice;

/// How many recent jobs the Gallery reads.
pub const GALLERY_JOBS: u32 = 200;

fn dbus(e: zbus::Error) -> Notice {
    Notice::from_dbus(&e)
}

fn parse<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, Notice> {
    serde_json::from_str(json)
        .map_err(|e| Notice::new("error-daemon-unreachable").arg("detail", e))
}

/// Checks the form, then queues it; the id comes back at once.
pub async fn submit(proxy: &DaemonProxy<'_>, form: &GenerateForm) -> Result<i64, Notice> {
    let request = form.to_request()?;
    let json = serde_json::to_string(&request)
        .map_err(|e| Notice::new("error-internal").arg("detail", e))?;
    proxy.submit(&json).await.map_err(dbus)
}

pub async fn cancel(proxy: &DaemonProxy<'_>, id: i64) -> Result<(), Notice> {
    match proxy.cancel(id).await {
        // It ended on its own meanwhile: nothing left to cancel, nothing to report.
        Err(e) if ra_wire::dbus::error_code(&e).as_deref() == Some("not_cancellable") => Ok(()),
        other => other.map_err(dbus),
    }
}

pub async fn delete(proxy: &DaemonProxy<'_>, id: i64) -> Result<(), Notice> {
    proxy.delete_job(id).await.map_err(dbus)
}

pub async fn status(proxy: &DaemonProxy<'_>) -> Result<DaemonStatus, Notice> {
    parse(&proxy.status().await.map_err(dbus)?)
}

/// Images of recent finished jobs, newest first.
pub async fn gallery(proxy: &DaemonProxy<'_>) -> Result<Vec<GalleryItem>, Notice> {
    let status = status(proxy).await?;
    let jobs: Vec<JobInfo> = parse(&proxy.list_jobs(0, GALLERY_JOBS).await.map_err(dbus)?)?;
    Ok(job_view::gallery(&jobs, Path::new(&status.output_dir)))
}

/// The checkpoints to choose from, and which one is in use.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Models {
    pub checkpoints: Vec<String>,
    pub current: String,
    /// Why the chosen checkpoint did not load, if it did not.
    pub error: String,
}

pub async fn models(proxy: &DaemonProxy<'_>) -> Result<Models, Notice> {
    let all: Vec<ModelInfo> = parse(&proxy.list_models().await.map_err(dbus)?)?;
    let status = status(proxy).await?;
    Ok(Models {
        checkpoints: all
            .into_iter()
            .filter(|m| m.kind == ModelKind::Checkpoint)
            .map(|m| m.title)
            .collect(),
        current: status.model.unwrap_or_default(),
        error: status.model_error.unwrap_or_default(),
    })
}

pub async fn switch_model(proxy: &DaemonProxy<'_>, title: &str) -> Result<String, Notice> {
    proxy.switch_model(title).await.map_err(dbus)
}

/// Every job signal of the daemon as one stream of [`JobEvent`]s.
pub async fn events(proxy: &DaemonProxy<'static>) -> zbus::Result<BoxStream<'static, JobEvent>> {
    let started = proxy
        .receive_started()
        .await?
        .filter_map(|s| async move { s.args().ok().map(|a| JobEvent::Started { id: a.id }) });
    let progress = proxy.receive_progress().await?.filter_map(|s| async move {
        let a = s.args().ok()?;
        Some(JobEvent::Progress {
            id: a.id,
            step: a.step,
            total: a.total,
            eta_seconds: a.eta_seconds,
            preview: job_view::preview_base64(&a.preview_png),
        })
    });
    let finished = proxy.receive_finished().await?.filter_map(|s| async move {
        let a = s.args().ok()?;
        Some(JobEvent::Finished {
            id: a.id,
            outputs: a.outputs,
        })
    });
    let failed = proxy.receive_failed().await?.filter_map(|s| async move {
        let a = s.args().ok()?;
        Some(JobEvent::Failed {
            id: a.id,
            error: a.error,
        })
    });
    let cancelled = proxy
        .receive_cancelled()
        .await?
        .filter_map(|s| async move { s.args().ok().map(|a| JobEvent::Cancelled { id: a.id }) });
    Ok(stream::select_all([
        started.boxed(),
        progress.boxed(),
        finished.boxed(),
        failed.boxed(),
        cancelled.boxed(),
    ])
    .boxed())
}
