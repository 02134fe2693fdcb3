//! `ra-launcher`: the desktop window. Everything it shows comes from `qml/`; the
//! logic lives in `ra-launcher-core`; `bridge` connects the two.

pub mod bridge;

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use ra_launcher_core::supervisor::Supervisor;

use cxx_qt_lib::{QGuiApplication, QQmlApplicationEngine, QUrl};

/// The one tokio runtime for D-Bus and the supervisor, off the GUI thread.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the async runtime: {e}"))
    })
}

static SUPERVISOR: Mutex<Option<Supervisor>> = Mutex::new(None);

/// Keeps the daemon's supervisor until the window closes.
pub fn keep_supervisor(s: Supervisor) {
    *SUPERVISOR.lock().unwrap_or_else(|p| p.into_inner()) = Some(s);
}

/// Users' own skins: `$XDG_DATA_HOME/ra/skins` (or `~/.local/share/ra/skins`).
pub fn user_skins() -> Option<PathBuf> {
    Some(ra_wire::paths::data_dir().join("skins"))
}

/// Extra `serve` arguments, from `RA_DAEMON_ARGS` (space-separated), for tests and
/// admins; the daemon's own config file covers everything else.
pub fn daemon_args() -> Vec<String> {
    std::env::var("RA_DAEMON_ARGS")
        .map(|a| a.split_whitespace().map(String::from).collect())
        .unwrap_or_default()
}

fn main() {
    let mut app = QGuiApplication::new();
    let mut engine = QQmlApplicationEngine::new();
    if let Some(engine) = engine.as_mut() {
        engine.load(&QUrl::from("qrc:/qt/qml/RA/qml/Main.qml"));
    }
    if let Some(app) = app.as_mut() {
        app.exec();
    }
    // The window is gone: stop the daemon (keeping it running is a setting to come).
    let supervisor = SUPERVISOR.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(s) = supervisor {
        runtime().block_on(s.stop(false));
    }
}
