//! The daemon's lifecycle as the launcher sees it: find `ra-daemon` next to the
//! launcher, start it with a private D-Bus socket, connect to it peer-to-peer, notice
//! when it dies and start it again after a growing pause, and stop it on quit unless
//! the user chose to keep it running.
//!
//! A daemon that is already serving the socket (kept running by an earlier launcher) is
//! adopted, not started twice. The UI learns everything through [`DaemonState`] on a
//! watch channel, and gets the live connection from [`Supervisor::proxy`].

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use ra_wire::dbus::DaemonProxy;
use tokio::process::{Child, Command};
use tokio::sync::{oneshot, watch};

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("cannot find ra-daemon next to the launcher ({0}); reinstall RA, or set RA_DAEMON to the daemon's path")]
    NoBinary(String),
}

/// What the UI shows about the daemon.
#[derive(Debug, Clone, PartialEq)]
pub enum DaemonState {
    Starting,
    Running {
        pid: Option<u32>,
    },
    /// It stopped unexpectedly; the next start is `delay` away.
    Restarting {
        attempt: u32,
        delay: Duration,
        reason: String,
    },
    Stopped,
}

/// How to start the daemon.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub binary: PathBuf,
    /// The private D-Bus socket the launcher passes to the daemon.
    pub socket: PathBuf,
    /// Extra arguments for `serve` (`--data-dir`, `--models-dir`, `--listen`, …).
    pub serve_args: Vec<String>,
    /// Environment for the daemon (the API token, kept off the command line).
    pub env: Vec<(String, String)>,
    /// How long a fresh daemon may take to open its socket (first start hashes models).
    pub start_timeout: Duration,
    pub backoff: Backoff,
}

impl DaemonOptions {
    /// The daemon next to the running launcher, with the socket in the runtime folder.
    pub fn installed(
        serve_args: Vec<String>,
        env: Vec<(String, String)>,
    ) -> Result<Self, SupervisorError> {
        Ok(Self {
            binary: find_daemon()?,
            socket: default_socket(),
            serve_args,
            env,
            start_timeout: Duration::from_secs(300),
            backoff: Backoff::standard(),
        })
    }
}

/// `$RA_DAEMON`, else `ra-daemon` in the launcher's own folder.
pub fn find_daemon() -> Result<PathBuf, SupervisorError> {
    if let Some(p) = std::env::var_os("RA_DAEMON").map(PathBuf::from) {
        return if p.is_file() {
            Ok(p)
        } else {
            Err(SupervisorError::NoBinary(p.display().to_string()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| SupervisorError::NoBinary(e.to_string()))?;
    let candidate = exe.with_file_name("ra-daemon");
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(SupervisorError::NoBinary(candidate.display().to_string()))
    }
}

/// `$XDG_RUNTIME_DIR/ra/daemon.sock`, else under the temporary folder per user.
pub fn default_socket() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(d) if d.is_absolute() => d.join("ra/daemon.sock"),
        _ => std::env::temp_dir().join(format!(
            "ra-{}/daemon.sock",
            std::env::var("USER").unwrap_or_else(|_| "user".into())
        )),
    }
}

/// Pauses between restarts: doubling from `first` up to `max`, and back to `first`
/// once the daemon has stayed up for `stable`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub stable: Duration,
}

impl Backoff {
    pub fn standard() -> Self {
        Self {
            first: Duration::from_secs(1),
            max: Duration::from_secs(30),
            stable: Duration::from_secs(60),
        }
    }

    /// The pause before restart number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.first.saturating_mul(factor).min(self.max)
    }
}

pub struct Supervisor {
    state: watch::Receiver<DaemonState>,
    conn: watch::Receiver<Option<zbus::Connection>>,
    stop: Option<oneshot::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

impl Supervisor {
    /// Starts (or adopts) the daemon and keeps it alive. Call inside a tokio runtime.
    pub fn start(options: DaemonOptions) -> Self {
        let (state_tx, state) = watch::channel(DaemonState::Starting);
        let (conn_tx, conn) = watch::channel(None);
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(supervise(options, state_tx, conn_tx, stop_rx));
        Self {
            state,
            conn,
            stop: Some(stop_tx),
            task,
        }
    }

    pub fn state(&self) -> watch::Receiver<DaemonState> {
        self.state.clone()
    }

    /// The current connection; it changes each time the daemon is (re)started.
    pub fn connections(&self) -> watch::Receiver<Option<zbus::Connection>> {
        self.conn.clone()
    }

    /// A proxy on the current connection, once the daemon is up.
    pub async fn proxy(&self) -> Option<DaemonProxy<'static>> {
        let conn = self.conn.borrow().clone()?;
        DaemonProxy::new(&conn).await.ok()
    }

    /// Waits until a connection is up and returns a proxy on it.
    pub async fn wait_proxy(&self) -> DaemonProxy<'static> {
        let mut conn = self.conn.clone();
        loop {
            if let Some(c) = conn.borrow_and_update().clone() {
                if let Ok(p) = DaemonProxy::new(&c).await {
                    return p;
                }
            }
            if conn.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Stops supervising. The daemon is stopped too unless `keep_running`.
    pub async fn stop(mut self, keep_running: bool) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(keep_running);
        }
        let _ = (&mut self.task).await;
    }
}

/// Connects to the daemon's socket, if something serves it.
async fn connect(socket: &Path) -> Option<zbus::Connection> {
    let stream = std::os::unix::net::UnixStream::connect(socket).ok()?;
    zbus::connection::Builder::unix_stream(stream)
        .p2p()
        .build()
        .await
        .ok()
}

fn spawn(options: &DaemonOptions) -> std::io::Result<Child> {
    Command::new(&options.binary)
        .arg("serve")
        .arg("--dbus-socket")
        .arg(&options.socket)
        .args(&options.serve_args)
        .envs(options.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(false)
        .spawn()
}

/// Asks the daemon to finish (SIGTERM), then kills it if it does not within 10 s.
async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id().and_then(|p| libc::pid_t::try_from(p).ok()) {
        // SAFETY: kill(2) touches no memory of ours, and the pid is our own child that
        // has not been reaped, so it cannot name another process.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

async fn supervise(
    options: DaemonOptions,
    state: watch::Sender<DaemonState>,
    conn: watch::Sender<Option<zbus::Connection>>,
    mut stop: oneshot::Receiver<bool>,
) {
    let mut attempt = 0u32;
    loop {
        // A daemon kept running by an earlier launcher: adopt it.
        if let Some(c) = connect(&options.socket).await {
            let _ = state.send(DaemonState::Running { pid: None });
            let closed = c.clone();
            let _ = conn.send(Some(c));
            tokio::select! {
                _ = closed.closed() => {}
                // Not ours to stop: an adopted daemon keeps running either way.
                _ = &mut stop => {
                    let _ = state.send(DaemonState::Stopped);
                    return;
                }
            }
            let _ = conn.send(None);
            continue;
        }
        let _ = state.send(DaemonState::Starting);
        let started = Instant::now();
        let reason = match spawn(&options) {
            Err(e) => format!("cannot start {}: {e}", options.binary.display()),
            Ok(mut child) => {
                match run_child(&options, &mut child, &state, &conn, &mut stop).await {
                    Ended::Stop(keep) => {
                        if !keep {
                            terminate(&mut child).await;
                        }
                        let _ = conn.send(None);
                        let _ = state.send(DaemonState::Stopped);
                        return;
                    }
                    Ended::Died(reason) => reason,
                }
            }
        };
        let _ = conn.send(None);
        if started.elapsed() >= options.backoff.stable {
            attempt = 0;
        }
        attempt += 1;
        let delay = options.backoff.delay(attempt);
        let _ = state.send(DaemonState::Restarting {
            attempt,
            delay,
            reason,
        });
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = &mut stop => {
                let _ = state.send(DaemonState::Stopped);
                return;
            }
        }
    }
}

enum Ended {
    Stop(bool),
    Died(String),
}

async fn run_child(
    options: &DaemonOptions,
    child: &mut Child,
    state: &watch::Sender<DaemonState>,
    conn: &watch::Sender<Option<zbus::Connection>>,
    stop: &mut oneshot::Receiver<bool>,
) -> Ended {
    let deadline = Instant::now() + options.start_timeout;
    // Wait for the socket, watching for an early exit.
    let c = loop {
        if let Some(c) = connect(&options.socket).await {
            break c;
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Ended::Died(format!("the daemon exited while starting ({status})"));
        }
        if Instant::now() > deadline {
            terminate(child).await;
            return Ended::Died("the daemon did not open its socket in time".into());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            keep = &mut *stop => return Ended::Stop(keep.unwrap_or(false)),
        }
    };
    let _ = conn.send(Some(c));
    let _ = state.send(DaemonState::Running { pid: child.id() });
    tokio::select! {
        status = child.wait() => Ended::Died(match status {
            Ok(s) => format!("the daemon stopped ({s})"),
            Err(e) => format!("the daemon was lost: {e}"),
        }),
        keep = &mut *stop => Ended::Stop(keep.unwrap_or(false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let b = Backoff::standard();
        let secs: Vec<u64> = (1..=7).map(|a| b.delay(a).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(b.delay(200).as_secs(), 30);
    }

    #[test]
    fn a_missing_daemon_says_how_to_fix_it() {
        std::env::set_var("RA_DAEMON", "/nonexistent/ra-daemon");
        let err = find_daemon().unwrap_err().to_string();
        std::env::remove_var("RA_DAEMON");
        assert!(
            err.contains("/nonexistent/ra-daemon") && err.contains("RA_DAEMON"),
            "{err}"
        );
    }
}
