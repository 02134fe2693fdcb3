//! `ra-daemon serve` assembled: the store (recovering jobs a crash cut short), the model
//! folders, the worker thread, the HTTP listener and D-Bus, until SIGINT or SIGTERM.
//! Everything here runs once at start-up; the parts carry their own contracts.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::Config;
use crate::service::{Service, ServiceSettings, SELECTED_MODEL_KEY};
use crate::store::{Store, StoreError};
use crate::worker::{Worker, WorkerSettings};
use crate::{dbus, http, models};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source} (is another RA or A1111 running? choose another port with --listen)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot serve D-Bus on the socket {path}: {source}")]
    DbusSocket {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot create {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Plugins(#[from] ra_plugins::PluginError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Runs the daemon until a shutdown signal. `config` has passed
/// [`Config::check_access`]; `dtype` is the one to load models in.
pub fn run(config: &Config, dtype: ra_engine::candle::DType) -> Result<(), ServerError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServerError::CreateDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let store = Arc::new(Store::open(&config.data_dir.join("ra.db"))?);
    let recovered = store.recover()?;
    if recovered > 0 {
        eprintln!("ra-daemon: {recovered} job(s) were running when the daemon last stopped; marked interrupted");
    }
    let found = models::scan(&config.models_dirs, &store);
    eprintln!(
        "ra-daemon: {} model file(s) in {:?}",
        found.len(),
        config.models_dirs
    );
    let selected = store.setting(SELECTED_MODEL_KEY)?;
    let plugins = crate::plugins::open(config)?;
    crate::plugins::log_list(&plugins);
    let worker = Arc::new(Worker::start(
        WorkerSettings {
            output_dir: config.output_dir(),
            dtype,
            default_model: config.default_model.clone(),
            networks: models::network_dirs(&config.models_dirs),
            plugins: Some(plugins),
            backends: config.backends()?,
        },
        store,
        found,
        selected,
    )?);
    let service = Arc::new(Service::new(
        worker,
        ServiceSettings {
            library: ra_library::store::Library::path_in(&config.data_dir),
            input_dir: config.data_dir.join("inputs"),
            output_dir: config.output_dir(),
            models_dirs: config.models_dirs.clone(),
            queue_limit: config.queue_limit,
            max_image_side: config.max_image_side,
        },
    ));
    if service.worker.current_model().is_none() {
        eprintln!(
            "ra-daemon: no checkpoint found; put a .safetensors checkpoint (or a diffusers folder) in {}, or pass --models-dir pointing at an A1111 or ComfyUI install",
            service.checkpoint_folder()
        );
    }
    let state = Arc::new(http::AppState {
        service: service.clone(),
        token: config.api_token.clone().filter(|t| !t.is_empty()),
        basic: config.basic_auth()?,
    });
    let app = http::router(state, config.max_body_mib * 1024 * 1024);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Bind {
                addr: config.listen,
                source,
            })?;
        if let Some(path) = &config.dbus_socket {
            dbus::serve_socket(path.clone(), service.clone())
                .await
                .map_err(|source| ServerError::DbusSocket {
                    path: path.display().to_string(),
                    source,
                })?;
            eprintln!("ra-daemon: D-Bus peer-to-peer on {}", path.display());
        }
        // Held for the daemon's lifetime: dropping it would leave the bus.
        let _session = if config.dbus_session {
            match dbus::serve_session_bus(service.clone()).await {
                Ok(conn) => {
                    eprintln!(
                        "ra-daemon: D-Bus on the session bus as {}",
                        ra_wire::dbus::BUS_NAME
                    );
                    Some(conn)
                }
                Err(e) => {
                    eprintln!("ra-daemon: no D-Bus session bus ({e}); serving HTTP only");
                    None
                }
            }
        } else {
            None
        };
        let addr = listener.local_addr()?;
        println!("ra-daemon listening on http://{addr}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await?;
        if let Some(path) = &config.dbus_socket {
            let _ = std::fs::remove_file(path);
        }
        Ok(())
    })
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
