//! The D-Bus face of the daemon: `org.ra_studio.Daemon1` at `/org/ra_studio/Daemon1`
//! (names and the client proxy in [`ra_wire::dbus`], documented in `docs/DBUS.md`).
//! Methods are thin shells over [`Service`]; job events become signals.
//!
//! Two ways in: the session bus under the well-known name, and a private Unix socket
//! where each client gets a peer-to-peer connection (what the launcher uses when there
//! is no session bus, and what the tests use). The socket is created mode 0600, so only
//! the user who runs the daemon can connect.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use ra_wire::dbus::{BUS_NAME, OBJECT_PATH};
use ra_wire::JobEvent;
use tokio::sync::broadcast;
use zbus::object_server::SignalEmitter;
use zbus::Connection;

use crate::service::{Service, ServiceError};

/// Errors as D-Bus sees them: `org.ra_studio.Daemon1.Error.<Variant>`. The variant
/// names are the HTTP API's codes in CamelCase ([`ra_wire::dbus::error_code`] turns
/// them back).
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.ra_studio.Daemon1.Error")]
pub enum DbusError {
    #[zbus(error)]
    ZBus(zbus::Error),
    InvalidField(String),
    InvalidJson(String),
    ImageTooLarge(String),
    QueueFull(String),
    NoSuchJob(String),
    NotCancellable(String),
    JobActive(String),
    NoSuchModel(String),
    NoModelInstalled(String),
    Internal(String),
    PluginManifest(String),
    PluginApiUnsupported(String),
    PluginPackage(String),
    PluginComponent(String),
    PluginNotFound(String),
    PluginDisabled(String),
    PluginBundled(String),
    PluginSetting(String),
    PluginHookNotFound(String),
    PluginTimeout(String),
    PluginMemoryCap(String),
    PluginCrashed(String),
    PluginFailed(String),
    PluginBadReturn(String),
    PluginStorage(String),
    PluginsUnavailable(String),
}

impl From<ra_plugins::PluginError> for DbusError {
    fn from(e: ra_plugins::PluginError) -> Self {
        let m = e.to_string();
        match e.code() {
            "plugin_manifest" => Self::PluginManifest(m),
            "plugin_api_unsupported" => Self::PluginApiUnsupported(m),
            "plugin_package" => Self::PluginPackage(m),
            "plugin_component" => Self::PluginComponent(m),
            "plugin_not_found" => Self::PluginNotFound(m),
            "plugin_disabled" => Self::PluginDisabled(m),
            "plugin_bundled" => Self::PluginBundled(m),
            "plugin_setting" => Self::PluginSetting(m),
            "plugin_hook_not_found" => Self::PluginHookNotFound(m),
            "plugin_timeout" => Self::PluginTimeout(m),
            "plugin_memory_cap" => Self::PluginMemoryCap(m),
            "plugin_crashed" => Self::PluginCrashed(m),
            "plugin_failed" => Self::PluginFailed(m),
            "plugin_bad_return" => Self::PluginBadReturn(m),
            _ => Self::PluginStorage(m),
        }
    }
}

impl From<ServiceError> for DbusError {
    fn from(e: ServiceError) -> Self {
        let m = e.to_string();
        match e {
            ServiceError::Invalid { field, .. } => Self::InvalidField(format!("{field}: {m}")),
            ServiceError::ImageTooLarge { .. } => Self::ImageTooLarge(m),
            ServiceError::QueueFull(_) => Self::QueueFull(m),
            ServiceError::NoSuchJob(_) => Self::NoSuchJob(m),
            ServiceError::NotCancellable(_) => Self::NotCancellable(m),
            ServiceError::JobActive(_) => Self::JobActive(m),
            ServiceError::NoSuchModel(_) => Self::NoSuchModel(m),
            ServiceError::NoModelInstalled(_) => Self::NoModelInstalled(m),
            ServiceError::SaveInput(_) | ServiceError::Store(_) | ServiceError::Internal(_) => {
                Self::Internal(m)
            }
        }
    }
}

/// Runs a plugin host call off the async threads.
async fn plugin_call<T: Send + 'static>(
    service: &Service,
    f: impl FnOnce(&ra_plugins::Plugins) -> Result<T, ra_plugins::PluginError> + Send + 'static,
) -> Reply<T> {
    let plugins = service
        .worker
        .plugins()
        .cloned()
        .ok_or_else(|| DbusError::PluginsUnavailable("this daemon runs without plugins".into()))?;
    tokio::task::spawn_blocking(move || f(&plugins))
        .await
        .map_err(|e| DbusError::Internal(e.to_string()))?
        .map_err(DbusError::from)
}

/// (zbus's interface macro needs `Result` spelled out in its methods.)
type Reply<T> = Result<T, DbusError>;

fn to_json<T: serde::Serialize>(v: &T) -> Reply<String> {
    serde_json::to_string(v).map_err(|e| DbusError::Internal(e.to_string()))
}

/// Runs blocking service work (SQLite, image decoding) off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Reply<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DbusError::Internal(e.to_string()))?
        .map_err(DbusError::from)
}

pub struct DaemonInterface {
    service: Arc<Service>,
}

#[zbus::interface(name = "org.ra_studio.Daemon1")]
impl DaemonInterface {
    async fn submit(&self, request_json: String) -> Result<i64, DbusError> {
        let req: ra_wire::JobRequest = serde_json::from_str(&request_json)
            .map_err(|e| DbusError::InvalidJson(format!("the job request is not valid: {e}")))?;
        let s = self.service.clone();
        blocking(move || s.submit(req)).await
    }

    async fn cancel(&self, id: i64) -> Result<(), DbusError> {
        let s = self.service.clone();
        blocking(move || s.cancel(id)).await
    }

    async fn interrupt(&self) -> i64 {
        self.service.worker.interrupt().unwrap_or(-1)
    }

    async fn skip(&self) -> i64 {
        self.service.worker.skip().unwrap_or(-1)
    }

    async fn get_job(&self, id: i64) -> Result<String, DbusError> {
        let s = self.service.clone();
        to_json(&blocking(move || s.job(id)).await?)
    }

    async fn delete_job(&self, id: i64) -> Result<(), DbusError> {
        let s = self.service.clone();
        Ok(blocking(move || s.delete(id)).await?)
    }

    async fn list_jobs(&self, before: i64, limit: u32) -> Result<String, DbusError> {
        let s = self.service.clone();
        let before = (before > 0).then_some(before);
        to_json(&blocking(move || s.jobs(before, limit)).await?)
    }

    async fn list_models(&self) -> Result<String, DbusError> {
        let models: Vec<_> = self.service.models(None).iter().map(|m| m.info()).collect();
        to_json(&models)
    }

    async fn refresh_models(&self) -> Result<u32, DbusError> {
        let s = self.service.clone();
        let n = blocking(move || Ok(s.refresh_models())).await?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn switch_model(&self, name: String) -> Result<String, DbusError> {
        let s = self.service.clone();
        blocking(move || s.switch_model(&name)).await
    }

    async fn status(&self) -> Result<String, DbusError> {
        let s = self.service.clone();
        to_json(&blocking(move || s.status()).await?)
    }

    async fn list_plugins(&self) -> Result<String, DbusError> {
        to_json(&plugin_call(&self.service, |p| Ok(p.list())).await?)
    }

    /// D-Bus callers are local, so they may name a file or folder to install.
    async fn install_plugin(&self, path: String) -> Result<String, DbusError> {
        to_json(&plugin_call(&self.service, move |p| p.install(Path::new(&path))).await?)
    }

    async fn uninstall_plugin(&self, id: String) -> Result<(), DbusError> {
        plugin_call(&self.service, move |p| p.uninstall(&id)).await
    }

    async fn set_plugin_enabled(&self, id: String, enabled: bool) -> Result<String, DbusError> {
        to_json(&plugin_call(&self.service, move |p| p.set_enabled(&id, enabled)).await?)
    }

    async fn set_plugin_settings(&self, id: String, settings_json: String) -> Result<String, DbusError> {
        let values: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&settings_json)
            .map_err(|e| DbusError::InvalidJson(format!("the settings are not a JSON object: {e}")))?;
        to_json(&plugin_call(&self.service, move |p| p.set_settings(&id, &values)).await?)
    }

    /// Images travel as encoded image files (PNG, JPEG, …) in and PNG out.
    async fn run_plugin_action(
        &self,
        id: String,
        name: String,
        input_json: String,
        images: Vec<Vec<u8>>,
    ) -> Result<(String, Vec<Vec<u8>>), DbusError> {
        serde_json::from_str::<serde_json::Value>(&input_json)
            .map_err(|e| DbusError::InvalidJson(format!("the action input is not JSON: {e}")))?;
        let images = images
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                ra_engine::pipeline::load_image(bytes)
                    .map(|image| crate::plugins::to_image(&image))
                    .map_err(|e| DbusError::InvalidField(format!("images.{i}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = plugin_call(&self.service, move |p| p.action(&id, &name, &input_json, images)).await?;
        let pngs = out
            .images
            .iter()
            .map(|i| crate::plugins::from_image(i).and_then(|p| p.encode(None).map_err(|e| e.to_string())))
            .collect::<Result<Vec<_>, _>>()
            .map_err(DbusError::Internal)?;
        Ok((out.json, pngs))
    }

    #[zbus(signal)]
    async fn started(emitter: &SignalEmitter<'_>, id: i64) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn progress(
        emitter: &SignalEmitter<'_>,
        id: i64,
        step: u32,
        total: u32,
        eta_seconds: f64,
        preview_png: &[u8],
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn finished(
        emitter: &SignalEmitter<'_>,
        id: i64,
        outputs: Vec<String>,
    ) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn failed(emitter: &SignalEmitter<'_>, id: i64, error: &str) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn cancelled(emitter: &SignalEmitter<'_>, id: i64) -> zbus::Result<()>;
}

/// Sends one job event as its signal.
async fn emit(e: &SignalEmitter<'_>, event: &JobEvent, output_dir: &Path) -> zbus::Result<()> {
    match event {
        JobEvent::Started { id } => DaemonInterface::started(e, *id).await,
        JobEvent::Progress {
            id,
            step,
            total,
            eta_seconds,
            preview,
        } => {
            let png = preview
                .as_deref()
                .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
                .unwrap_or_default();
            DaemonInterface::progress(e, *id, *step, *total, *eta_seconds, &png).await
        }
        JobEvent::Finished { id, outputs } => {
            let paths = outputs
                .iter()
                .map(|f| output_dir.join(f).display().to_string())
                .collect();
            DaemonInterface::finished(e, *id, paths).await
        }
        JobEvent::Failed { id, error } => DaemonInterface::failed(e, *id, error).await,
        JobEvent::Cancelled { id } => DaemonInterface::cancelled(e, *id).await,
    }
}

/// Turns worker events into signals on `conn` until either side goes away. A client
/// that reads slowly loses progress signals (the channel lags), never the worker's time.
fn forward_events(conn: Connection, service: &Service) {
    let mut rx = service.worker.subscribe();
    let output_dir = service.settings.output_dir.clone();
    tokio::spawn(async move {
        let Ok(emitter) = SignalEmitter::new(&conn, OBJECT_PATH) else {
            return;
        };
        loop {
            match rx.recv().await {
                Ok(event) => {
                    if emit(&emitter, &event, &output_dir).await.is_err() && conn.is_closed() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

/// Builds `builder` with the interface at [`OBJECT_PATH`] and starts its signals.
async fn serve_on(
    builder: zbus::connection::Builder<'_>,
    service: Arc<Service>,
) -> zbus::Result<Connection> {
    let iface = DaemonInterface {
        service: service.clone(),
    };
    let conn = builder.serve_at(OBJECT_PATH, iface).build().await?;
    forward_events(conn.clone(), &service);
    Ok(conn)
}

/// Serves the interface on the session bus under [`BUS_NAME`].
pub async fn serve_session_bus(service: Arc<Service>) -> zbus::Result<Connection> {
    serve_on(zbus::connection::Builder::session().name(BUS_NAME), service).await
}

/// Serves the interface to one peer over `stream` (the server end of a p2p connection).
pub async fn serve_peer(
    stream: std::os::unix::net::UnixStream,
    service: Arc<Service>,
) -> zbus::Result<Connection> {
    let builder = zbus::connection::Builder::unix_stream(stream)
        .server(zbus::Guid::generate())
        .p2p();
    serve_on(builder, service).await
}

/// Listens on the Unix socket `path` (mode 0600) and serves each client peer-to-peer.
/// A stale socket file from a crashed daemon is replaced; one that a live daemon still
/// answers on is refused, so a second daemon never steals the first one's clients.
pub async fn serve_socket(path: PathBuf, service: Arc<Service>) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if std::os::unix::net::UnixStream::connect(&path).is_ok() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "another ra-daemon is serving it; stop that one or choose another --dbus-socket",
        ));
    }
    if let Err(e) = std::fs::remove_file(&path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(e);
        }
    }
    let listener = tokio::net::UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    eprintln!("ra-daemon: D-Bus socket: {e}");
                    continue;
                }
            };
            let service = service.clone();
            tokio::spawn(async move {
                let Ok(stream) = stream.into_std() else {
                    return;
                };
                match serve_peer(stream, service).await {
                    // The connection lives in its own tasks; keep a handle until it closes.
                    Ok(conn) => conn.closed().await,
                    Err(e) => eprintln!("ra-daemon: a D-Bus client failed to connect: {e}"),
                }
            });
        }
    });
    Ok(())
}
