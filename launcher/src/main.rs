//! `ra-launcher`: the desktop window. Everything it shows comes from `qml/`; the
//! logic lives in `ra-launcher-core`; `bridge` connects the two.

pub mod bridge;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use ra_launcher_core::settings::{self, LauncherSettings};
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

static RESTART_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
static LATEST_START: AtomicU64 = AtomicU64::new(0);

/// A ticket for (re)starting the supervisor; only the latest ticket's start happens.
pub fn start_ticket() -> u64 {
    LATEST_START.fetch_add(1, Ordering::SeqCst) + 1
}

/// Waits until no other restart is between stop and start, then says whether `ticket`
/// is still the latest (an older one gives way: its settings are out of date).
pub async fn restart_turn(ticket: u64) -> Option<tokio::sync::MutexGuard<'static, ()>> {
    let turn = RESTART_TURN.lock().await;
    (LATEST_START.load(Ordering::SeqCst) == ticket).then_some(turn)
}

/// The running supervisor, to stop it (on quit, or to restart with new settings).
pub fn take_supervisor() -> Option<Supervisor> {
    SUPERVISOR.lock().unwrap_or_else(|p| p.into_inner()).take()
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

/// Where the build puts the `RA` QML module in the resources.
const QML_IMPORT_PATH: &str = "qrc:/qt/qml";

/// `$RA_LAUNCHER_CONFIG`, else `~/.config/ra/launcher.toml`.
pub fn settings_path() -> PathBuf {
    std::env::var_os("RA_LAUNCHER_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(settings::default_path)
}

fn main() -> std::process::ExitCode {
    // `--qml-test DIR` runs the Qt Quick Test files in DIR against this binary's QML
    // module (the pages and the real `Launcher` object); the exit code counts failures.
    let args: Vec<String> = std::env::args().collect();
    // Answered before Qt starts: an update's start check runs it without a display.
    if let [_, flag] = args.as_slice() {
        if flag == "--version" {
            println!("ra-launcher {}", env!("CARGO_PKG_VERSION"));
            return std::process::ExitCode::SUCCESS;
        }
    }
    if let [_, flag, dir] = args.as_slice() {
        if flag == "--qml-test" {
            let failures = bridge::qobject::run_qml_tests(&cxx_qt_lib::QString::from(dir.as_str()));
            stop_daemon();
            return std::process::ExitCode::from(failures.clamp(0, 255) as u8);
        }
    }
    let mut app = QGuiApplication::new();
    let mut engine = QQmlApplicationEngine::new();
    if let Some(mut engine) = engine.as_mut() {
        // Qt 6.4 does not search the resource tree for modules by itself (6.5 does);
        // without this, `import RA` finds the Rust types but not the QML singleton.
        engine.as_mut().add_import_path(&cxx_qt_lib::QString::from(QML_IMPORT_PATH));
        engine.load(&QUrl::from("qrc:/qt/qml/RA/qml/Main.qml"));
    }
    if let Some(app) = app.as_mut() {
        app.exec();
    }
    stop_daemon();
    std::process::ExitCode::SUCCESS
}

/// The window is gone: stop the daemon unless the user chose to keep it running.
fn stop_daemon() {
    let keep = LauncherSettings::load(&settings_path()).0.keep_daemon_running;
    if let Some(s) = take_supervisor() {
        runtime().block_on(s.stop(keep));
    }
}
