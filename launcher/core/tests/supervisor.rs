//! The supervisor with the real `ra-daemon` and the tiny model: it starts the daemon,
//! connects over the private socket, notices a SIGKILL, restarts it, and the next
//! generation works. Stopping it ends the daemon; "keep running" leaves it up.

mod common;

use std::process::Command;
use std::time::Duration;

use futures_util::StreamExt;
use ra_launcher_core::supervisor::{Backoff, DaemonOptions, DaemonState, Supervisor};
use ra_wire::dbus::DaemonProxy;
use ra_wire::{DaemonStatus, JobRequest};

use common::{binary, put_tiny_model};

/// A data folder with the tiny model in it.
fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    put_tiny_model(dir.path());
    dir
}

fn options(dir: &std::path::Path) -> DaemonOptions {
    DaemonOptions {
        binary: binary("ra-daemon"),
        socket: dir.join("run/daemon.sock"),
        serve_args: vec![
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            dir.display().to_string(),
            "--no-session-bus".into(),
        ],
        env: Vec::new(),
        start_timeout: Duration::from_secs(120),
        backoff: Backoff {
            first: Duration::from_millis(200),
            max: Duration::from_secs(2),
            stable: Duration::from_secs(60),
        },
    }
}

async fn wait_for(
    state: &mut tokio::sync::watch::Receiver<DaemonState>,
    want: impl Fn(&DaemonState) -> bool,
) -> DaemonState {
    let found = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let s = state.borrow_and_update().clone();
            if want(&s) {
                return s;
            }
            state.changed().await.unwrap();
        }
    })
    .await;
    found.expect("the daemon never reached the expected state")
}

async fn generate(proxy: &DaemonProxy<'_>) -> Vec<String> {
    let mut finished = proxy.receive_finished().await.unwrap();
    let req = JobRequest {
        prompt: "after a crash".into(),
        steps: 2,
        width: 64,
        height: 64,
        seed: 7,
        ..JobRequest::default()
    };
    let id = proxy
        .submit(&serde_json::to_string(&req).unwrap())
        .await
        .unwrap();
    let signal = tokio::time::timeout(Duration::from_secs(120), finished.next())
        .await
        .unwrap()
        .unwrap();
    let args = signal.args().unwrap();
    assert_eq!(args.id, id);
    args.outputs.clone()
}

/// Kills a daemon the test left running if the test fails half-way.
struct Reap(u32);

impl Drop for Reap {
    fn drop(&mut self) {
        if alive(self.0) {
            let _ = Command::new("kill").arg(self.0.to_string()).status();
        }
    }
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemon_is_restarted_and_the_next_generation_works() {
    let dir = data_dir();
    let sup = Supervisor::start(options(dir.path()));
    let mut state = sup.state();
    let DaemonState::Running { pid: Some(first) } =
        wait_for(&mut state, |s| matches!(s, DaemonState::Running { .. })).await
    else {
        panic!("not started by us")
    };
    let _reap_first = Reap(first);
    let proxy = sup.wait_proxy().await;
    let status: DaemonStatus = serde_json::from_str(&proxy.status().await.unwrap()).unwrap();
    assert!(status.model.unwrap().starts_with("tiny.safetensors ["));

    Command::new("kill")
        .args(["-9", &first.to_string()])
        .status()
        .unwrap();
    let restarting = wait_for(&mut state, |s| matches!(s, DaemonState::Restarting { .. })).await;
    let DaemonState::Restarting {
        attempt, reason, ..
    } = restarting
    else {
        unreachable!()
    };
    assert_eq!(attempt, 1);
    assert!(reason.contains("stopped"), "{reason}");
    let DaemonState::Running { pid: Some(second) } =
        wait_for(&mut state, |s| matches!(s, DaemonState::Running { .. })).await
    else {
        panic!("not restarted by us")
    };
    assert_ne!(first, second);
    let _reap_second = Reap(second);

    let proxy = sup.wait_proxy().await;
    let outputs = generate(&proxy).await;
    assert!(std::path::Path::new(&outputs[0]).is_file());

    sup.stop(false).await;
    for _ in 0..100 {
        if !alive(second) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!alive(second), "the daemon outlived the launcher");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_running_leaves_the_daemon_up_for_the_next_launcher_to_adopt() {
    let dir = data_dir();
    let sup = Supervisor::start(options(dir.path()));
    let mut state = sup.state();
    let DaemonState::Running { pid: Some(pid) } =
        wait_for(&mut state, |s| matches!(s, DaemonState::Running { .. })).await
    else {
        panic!("not started by us")
    };
    let _reap = Reap(pid);
    sup.stop(true).await;
    assert!(alive(pid));

    let again = Supervisor::start(options(dir.path()));
    let mut state = again.state();
    // Adopted: running, but not a child of this supervisor.
    assert_eq!(
        wait_for(&mut state, |s| matches!(s, DaemonState::Running { .. })).await,
        DaemonState::Running { pid: None }
    );
    let proxy = again.wait_proxy().await;
    assert!(!generate(&proxy).await.is_empty());
    again.stop(false).await;
}
