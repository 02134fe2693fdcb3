//! Health checks that decide whether a freshly installed version stays. A check gets the
//! directory of the new version (`<install>/current`) and returns why it is unhealthy, if
//! it is; the updater rolls back on any `Err`.
//!
//! [`reports_version`] is the one the launcher uses: the new binary must start, exit 0
//! and print its version. It catches the failures an update can bring (a truncated or
//! foreign binary, a missing shared library, a crash on start) without starting the whole
//! studio.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::Version;

/// Runs `<dir>/<binary> --version`, which must exit 0 within `timeout` and print
/// `version` as a word of its output (`ra-daemon 0.2.0`, `v0.2.0` both do).
pub fn reports_version(
    binary: &str,
    version: &Version,
    timeout: Duration,
) -> impl FnOnce(&Path) -> Result<(), String> {
    let binary = binary.to_string();
    let version = version.to_string();
    move |dir| {
        let path = dir.join(&binary);
        let mut child = spawn(Command::new(&path).arg("--version"))
            .map_err(|e| format!("{} could not be started: {e}", path.display()))?;
        // Read both pipes on their own threads: a binary that writes more than a pipe
        // holds would otherwise block and look hung.
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let deadline = Instant::now() + timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                Ok(None) => {
                    // Killing is all that is left to do; its own failure changes nothing.
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("`{binary} --version` did not finish within {} s", timeout.as_secs()));
                }
                Err(e) => return Err(format!("`{binary} --version` could not be waited for: {e}")),
            }
        };
        let out = stdout.join().unwrap_or_default();
        let err = stderr.join().unwrap_or_default();
        if !status.success() {
            let detail = err.lines().chain(out.lines()).find(|l| !l.trim().is_empty()).unwrap_or("no output");
            return Err(format!("`{binary} --version` failed ({status}): {}", detail.trim()));
        }
        let names_version = out.split_whitespace().any(|word| word.trim_start_matches('v') == version);
        if !names_version {
            return Err(format!("`{binary} --version` printed {:?}, not version {version}", out.trim()));
        }
        Ok(())
    }
}

/// Starts `command` with its output piped. Retries while the file is "busy": a binary
/// that was just written can be briefly held open for writing by a child that another
/// thread forked in that moment (until that child execs), and exec then fails with
/// ETXTBSY although nothing is wrong with the file.
fn spawn(command: &mut Command) -> std::io::Result<Child> {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut attempts = 0;
    loop {
        match command.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 50 => {
                attempts += 1;
                thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            // A read error only shortens the output the checks look at.
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}
