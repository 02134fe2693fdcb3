//! Verified, resumable downloads with mirrors, and a queue that runs several at once.
//!
//! # Contract
//!
//! A [`Download`] names its sources (the main URL first, then mirrors), the sha256 the file
//! must have, optionally its size, and the path it is installed at. [`Downloader::download`]
//! either leaves a file at that path whose sha256 (and size) it checked, or returns an error
//! and puts nothing there: a file at the final path is always complete and verified.
//!
//! - **Where bytes go.** Data is written to `<final>.part` beside the final path. A sidecar,
//!   `<final>.part.json`, records the URL the bytes came from, the server's validator (ETag or
//!   Last-Modified) and the expected sha256. It is written atomically (temp file, rename)
//!   before the first byte lands, so a `.part` without a matching sidecar is of unknown
//!   origin and is deleted rather than resumed.
//! - **Install.** When the last byte is in, size and sha256 are checked; only a match is
//!   synced and renamed into place (same directory, so the rename is atomic) and the
//!   sidecar removed. A final path that already holds the expected file counts as done; one
//!   that holds something else is an error, never overwritten.
//! - **Resume** relies on the `.part`, its sidecar and the server. The next request asks for
//!   `Range: bytes=N-` with `If-Range: <validator>`. A `206` whose `Content-Range` starts at
//!   N and whose validator is unchanged is appended to the `.part`; a `200` (the server
//!   ignores ranges, or the file changed), a changed ETag or Last-Modified, or a range that
//!   starts elsewhere starts the file over. A `.part` holds bytes from one URL only: moving to
//!   another source starts over, because a validator means nothing to another host and a
//!   mismatch could not be blamed on either. The sha256 is computed as bytes arrive; a
//!   resumed run reads the existing `.part` once first.
//! - **The `.part` is kept** when the download is paused, when the disk fills up, and when
//!   every URL failed with network trouble (refused, cut off, stalled, 5xx), so the next run
//!   resumes it. **It is deleted** on cancel, on a hash or size mismatch, and when its sidecar
//!   is missing or describes another file.
//! - **Failures.** Transient trouble on a URL (connection errors, stalls, cut-off bodies,
//!   408/429/5xx) is retried `retries_per_url` times with doubling backoff, resuming each
//!   time; other 4xx answers and hash or size mismatches move to the next URL at once. When
//!   every URL has failed, one error lists each URL and why. A full disk, a failed local
//!   write, pause and cancel stop the download at once: another mirror would not help.
//! - **Free space** is checked before anything is created (expected size − bytes already in
//!   the `.part` + a margin), and again when the server names the size of a download that
//!   did not say it.
//! - **Pause and cancel** ([`Control`]) are checked between reads and during backoff. A
//!   stalled read notices them within `stall_timeout`.
//!
//! [`Manager`] runs a queue of downloads on up to `max_concurrent` threads and reports each
//! file's progress together with the queue's total.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{LibraryError, Result};
use crate::hash::hex;

/// One file to fetch: where from, what it must hash to, where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// The main URL first, then mirrors, tried in this order.
    pub urls: Vec<String>,
    /// The expected size in bytes, when the publisher states it. Without it the free-space
    /// check waits for the server to name the size.
    pub size: Option<u64>,
    /// The expected sha256 as 64 hex digits (either case).
    pub sha256: String,
    /// Where the verified file is installed.
    pub dest: PathBuf,
}

impl Download {
    /// A download without a stated size; add one with [`Download::with_size`] when known.
    pub fn new<U: Into<String>>(
        urls: impl IntoIterator<Item = U>,
        sha256: impl Into<String>,
        dest: impl Into<PathBuf>,
    ) -> Self {
        Download {
            urls: urls.into_iter().map(Into::into).collect(),
            size: None,
            sha256: sha256.into(),
            dest: dest.into(),
        }
    }

    /// States the expected size: checked before install, and used for the free-space check
    /// before anything starts.
    pub fn with_size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }

    /// `<final>.part`: the bytes so far.
    pub fn part_path(&self) -> PathBuf {
        suffixed(&self.dest, ".part")
    }

    /// `<final>.part.json`: what the `.part` holds and how to resume it.
    pub fn sidecar_path(&self) -> PathBuf {
        suffixed(&self.dest, ".part.json")
    }
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name: OsString = path.file_name().map(OsString::from).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// How patient and how parallel downloads are.
#[derive(Debug, Clone, Copy)]
pub struct DownloadConfig {
    /// Time allowed to open a connection (DNS, TCP, TLS).
    pub connect_timeout: Duration,
    /// An attempt that receives no bytes (headers or body) for this long has stalled.
    pub stall_timeout: Duration,
    /// Further attempts on the same URL after transient trouble, before the next URL.
    pub retries_per_url: u32,
    /// Wait before the first retry; doubled for each further one, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Downloads a [`Manager`] runs at the same time (at least one).
    pub max_concurrent: usize,
    /// Space left free beyond the file itself, in bytes.
    pub free_space_margin: u64,
    /// Free bytes in a directory. Replaceable so tests need not fill a disk.
    pub free_space: fn(&Path) -> io::Result<u64>,
    /// Least time between progress reports for one file; zero reports every read.
    pub progress_interval: Duration,
}

impl DownloadConfig {
    /// For people on ordinary and slow connections: generous timeouts, a few retries.
    pub const DEFAULT: DownloadConfig = DownloadConfig {
        connect_timeout: Duration::from_secs(15),
        stall_timeout: Duration::from_secs(30),
        retries_per_url: 3,
        backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(30),
        max_concurrent: 2,
        free_space_margin: 16 << 20,
        free_space,
        progress_interval: Duration::from_millis(250),
    };

    /// For tests against a local server: faults show up within a fraction of a second.
    pub const TEST: DownloadConfig = DownloadConfig {
        connect_timeout: Duration::from_secs(2),
        stall_timeout: Duration::from_millis(300),
        retries_per_url: 2,
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_concurrent: 2,
        free_space_margin: 0,
        free_space,
        progress_interval: Duration::ZERO,
    };
}

impl Default for DownloadConfig {
    fn default() -> Self {
        DownloadConfig::DEFAULT
    }
}

/// Free bytes for an unprivileged user in the file system holding `dir`.
#[cfg(unix)]
pub fn free_space(dir: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is NUL-terminated and outlives the call; `stat` is a valid place for
    // statvfs to write a `struct statvfs` into.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled in the whole struct.
    let stat = unsafe { stat.assume_init() };
    // The field widths differ between platforms (u32 on some 32-bit ones).
    #[allow(clippy::unnecessary_cast)]
    Ok((stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64))
}

/// Free bytes in the file system holding `dir`; unknown here, so never blocks a download.
#[cfg(not(unix))]
pub fn free_space(_dir: &Path) -> io::Result<u64> {
    Ok(u64::MAX)
}

/// Pause or cancel a running (or queued) download from another thread. Clones share state.
///
/// Cancel wins over pause and cannot be undone; pause can be lifted with [`Control::resume`]
/// before the download is started again.
#[derive(Debug, Clone, Default)]
pub struct Control(Arc<AtomicU8>);

const RUNNING: u8 = 0;
const PAUSED: u8 = 1;
const CANCELLED: u8 = 2;

impl Control {
    pub fn new() -> Self {
        Control::default()
    }

    /// Stop soon and keep the `.part` for resuming.
    pub fn pause(&self) {
        let _ = self
            .0
            .compare_exchange(RUNNING, PAUSED, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Lift a pause, so the next run of the download goes ahead.
    pub fn resume(&self) {
        let _ = self
            .0
            .compare_exchange(PAUSED, RUNNING, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Stop soon and delete the `.part` and its sidecar.
    pub fn cancel(&self) {
        self.0.store(CANCELLED, Ordering::SeqCst);
    }

    pub fn is_paused(&self) -> bool {
        self.0.load(Ordering::SeqCst) == PAUSED
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst) == CANCELLED
    }
}

/// How far one file (or a whole queue) has come.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Progress {
    /// Bytes on disk, including those a resumed `.part` already held.
    pub done: u64,
    /// Total bytes, once known.
    pub total: Option<u64>,
    /// Smoothed transfer rate of this run.
    pub bytes_per_sec: f64,
    /// Time left at that rate, when the total and a rate are known.
    pub eta: Option<Duration>,
}

impl Progress {
    fn with_eta(mut self) -> Self {
        self.eta = match self.total {
            Some(total) if self.bytes_per_sec > 0.0 => Some(Duration::from_secs_f64(
                total.saturating_sub(self.done) as f64 / self.bytes_per_sec,
            )),
            _ => None,
        };
        self
    }
}

/// A verified file in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    pub path: PathBuf,
    /// Lowercase hex, equal to the expected one.
    pub sha256: String,
    pub size: u64,
    /// The URL that served it; `None` when the file was already in place.
    pub url: Option<String>,
}

/// Why one URL of a download did not give the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlFailure {
    pub url: String,
    pub reason: FailReason,
}

/// What went wrong with one URL; its message is what the user reads after the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FailReason {
    #[error("network error: {0}")]
    Network(String),
    #[error("the server answered HTTP {0}")]
    Status(u16),
    #[error("stalled: no data for {:.1} s", .0.as_secs_f64())]
    Stalled(Duration),
    #[error("the connection closed after {done} of {total} bytes")]
    Truncated { done: u64, total: u64 },
    #[error("sha256 mismatch: expected {expected}, got {actual} (the partial file was deleted)")]
    HashMismatch { expected: String, actual: String },
    #[error(
        "size mismatch: expected {expected} bytes, the server has {actual} (the partial file was deleted)"
    )]
    SizeMismatch { expected: u64, actual: u64 },
    #[error("unusable answer: {0}")]
    BadResponse(String),
    #[error("not a usable URL: {0}")]
    InvalidUrl(String),
}

/// What the sidecar records about a `.part`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Sidecar {
    url: String,
    sha256: String,
    #[serde(default)]
    etag: Option<String>,
    #[serde(default)]
    last_modified: Option<String>,
    #[serde(default)]
    size: Option<u64>,
}

impl Sidecar {
    /// What `If-Range` may carry: a strong ETag, else Last-Modified (weak ETags are not
    /// allowed there).
    fn validator(&self) -> Option<&str> {
        match &self.etag {
            Some(etag) if !etag.starts_with("W/") => Some(etag),
            _ => self.last_modified.as_deref(),
        }
    }

    /// Whether an answer's validators say the file differs from the one the `.part` holds.
    fn changed(&self, etag: Option<&str>, last_modified: Option<&str>) -> bool {
        match (self.etag.as_deref(), etag) {
            (Some(old), Some(new)) => old != new,
            _ => match (self.last_modified.as_deref(), last_modified) {
                (Some(old), Some(new)) => old != new,
                _ => false,
            },
        }
    }
}

/// The `.part` of one download as this run sees it.
struct Part {
    path: PathBuf,
    sidecar_path: PathBuf,
    len: u64,
    sidecar: Option<Sidecar>,
    /// The sha256 state of the first `len` bytes, when this run has it; otherwise the `.part`
    /// is read again before appending.
    hasher: Option<Sha256>,
}

impl Part {
    /// Looks at what an earlier run left, deleting what cannot be resumed safely.
    fn open(download: &Download, sha256: &str) -> Result<Part> {
        let mut part = Part {
            path: download.part_path(),
            sidecar_path: download.sidecar_path(),
            len: 0,
            sidecar: None,
            hasher: None,
        };
        let len = match fs::metadata(&part.path) {
            Ok(meta) => Some(meta.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(LibraryError::io(&part.path)(e)),
        };
        let sidecar = fs::read(&part.sidecar_path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Sidecar>(&bytes).ok());
        let usable = match (&sidecar, len) {
            (Some(side), Some(len)) => {
                side.sha256 == sha256
                    && download.urls.contains(&side.url)
                    && match (side.size.or(download.size), download.size) {
                        (Some(known), Some(expected)) => known == expected && len <= expected,
                        (Some(known), None) => len <= known,
                        (None, _) => true,
                    }
            }
            _ => false,
        };
        if usable {
            part.len = len.unwrap_or(0);
            part.sidecar = sidecar;
        } else {
            part.discard().map_err(LibraryError::io(&part.path))?;
        }
        Ok(part)
    }

    /// Deletes the bytes and the sidecar: what they held cannot be trusted or is unwanted.
    fn discard(&mut self) -> io::Result<()> {
        self.len = 0;
        self.sidecar = None;
        self.hasher = None;
        remove_if_present(&self.path)?;
        remove_if_present(&self.sidecar_path)
    }

    fn exists(&self) -> bool {
        self.path.exists()
    }

    /// Records (atomically) where the bytes about to be written come from.
    fn write_sidecar(&mut self, sidecar: Sidecar) -> io::Result<()> {
        let tmp = suffixed(&self.sidecar_path, ".tmp");
        let json = serde_json::to_vec_pretty(&sidecar).map_err(io::Error::other)?;
        {
            let mut file = File::create(&tmp)?;
            file.write_all(&json)?;
            file.sync_all()?;
        }
        fs::rename(&tmp, &self.sidecar_path)?;
        self.sidecar = Some(sidecar);
        Ok(())
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// How one attempt ended, and what the caller does next.
enum Fail {
    /// Transient: try this URL again after a backoff, resuming.
    Retry(FailReason),
    /// This URL will not give the file: go to the next one.
    Next(FailReason),
    /// The `.part` was discarded for a reason that needs no backoff (the file changed on the
    /// server): ask again at once, from byte 0.
    Restart,
    /// Stop the whole download (disk full, local I/O error, pause, cancel, no space).
    Stop(LibraryError),
}

/// Fetches one download at a time on the calling thread; share it between threads freely.
#[derive(Debug, Clone)]
pub struct Downloader {
    config: DownloadConfig,
    agent: ureq::Agent,
}

impl Downloader {
    pub fn new(config: DownloadConfig) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            // Statuses are decisions here (resume, retry, next mirror), not errors.
            .http_status_as_error(false)
            .timeout_connect(Some(config.connect_timeout))
            .timeout_recv_response(Some(config.stall_timeout))
            .timeout_per_read(Some(config.stall_timeout))
            .user_agent(concat!("ra-library/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Downloader { config, agent }
    }

    pub fn config(&self) -> &DownloadConfig {
        &self.config
    }

    /// Fetches, verifies and installs `download`, resuming what an earlier run left. See the
    /// module documentation for what is kept and deleted on each way out.
    pub fn download(
        &self,
        download: &Download,
        control: &Control,
        on_progress: &mut dyn FnMut(&Progress),
    ) -> Result<Downloaded> {
        let sha256 = checked_sha256(download)?;
        if let Some(stop) = stop_requested(control, download) {
            return Err(stop);
        }
        if let Some(done) = already_installed(download, &sha256)? {
            on_progress(&Progress {
                done: done.size,
                total: Some(done.size),
                ..Progress::default()
            });
            return Ok(done);
        }
        let mut part = Part::open(download, &sha256)?;
        if let Some(size) = download.size {
            self.check_space(download, size, part.len)?;
        }
        if let Some(dir) = download.dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(LibraryError::io(dir))?;
        }

        // The URL the `.part` came from goes first, so its bytes are resumed, not dropped.
        let first = part.sidecar.as_ref().map(|side| side.url.as_str());
        let order: Vec<&String> = download
            .urls
            .iter()
            .filter(|u| Some(u.as_str()) == first)
            .chain(download.urls.iter().filter(|u| Some(u.as_str()) != first))
            .collect();

        let mut meter = Meter::new(self.config.progress_interval, download.size);
        let mut failures = Vec::new();
        for url in order {
            match self.try_url(
                url,
                download,
                &sha256,
                &mut part,
                control,
                &mut meter,
                on_progress,
            ) {
                Ok(done) => return Ok(done),
                Err(Fail::Stop(e)) => return Err(e),
                Err(Fail::Retry(reason) | Fail::Next(reason)) => failures.push(UrlFailure {
                    url: url.clone(),
                    reason,
                }),
                // `try_url` answers a restart itself; it never comes back here.
                Err(Fail::Restart) => {}
            }
        }
        let kept = part.exists().then(|| part.path.clone());
        Err(LibraryError::DownloadFailed {
            dest: download.dest.clone(),
            failures,
            kept,
        })
    }

    /// All attempts on one URL.
    #[allow(clippy::too_many_arguments)]
    fn try_url(
        &self,
        url: &str,
        download: &Download,
        sha256: &str,
        part: &mut Part,
        control: &Control,
        meter: &mut Meter,
        on_progress: &mut dyn FnMut(&Progress),
    ) -> std::result::Result<Downloaded, Fail> {
        if part.sidecar.as_ref().is_some_and(|side| side.url != url) {
            part.discard()
                .map_err(|e| Fail::Stop(LibraryError::io(&part.path)(e)))?;
        }
        let mut retries = 0;
        loop {
            match self.attempt(url, download, sha256, part, control, meter, on_progress) {
                Err(Fail::Restart) => continue,
                Err(Fail::Retry(_)) if retries < self.config.retries_per_url => {
                    let wait = self.config.backoff.saturating_mul(1 << retries.min(16));
                    retries += 1;
                    sleep_unless_stopped(wait.min(self.config.max_backoff), control, download, part)?;
                }
                other => return other,
            }
        }
    }

    /// One request: asks for what is missing, appends it, and installs the file when whole.
    #[allow(clippy::too_many_arguments)]
    fn attempt(
        &self,
        url: &str,
        download: &Download,
        sha256: &str,
        part: &mut Part,
        control: &Control,
        meter: &mut Meter,
        on_progress: &mut dyn FnMut(&Progress),
    ) -> std::result::Result<Downloaded, Fail> {
        let stop_io = |path: &Path| {
            let path = path.to_path_buf();
            move |e: io::Error| Fail::Stop(LibraryError::io(&path)(e))
        };
        let resuming = part.len > 0;
        let mut request = self.agent.get(url).header("Accept-Encoding", "identity");
        if resuming {
            request = request.header("Range", format!("bytes={}-", part.len));
            if let Some(validator) = part.sidecar.as_ref().and_then(Sidecar::validator) {
                request = request.header("If-Range", validator);
            }
        }
        let response = request.call().map_err(|e| self.call_failure(e))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header("etag");
        let last_modified = header("last-modified");
        let content_length = header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
        let content_range = header("content-range");

        let (start, total) = match status {
            206 if resuming => {
                let Some((start, total)) = content_range.as_deref().and_then(parse_content_range) else {
                    part.discard().map_err(stop_io(&part.path))?;
                    return Err(Fail::Retry(FailReason::BadResponse(
                        "a partial answer without a usable Content-Range".into(),
                    )));
                };
                let changed = part
                    .sidecar
                    .as_ref()
                    .is_some_and(|side| side.changed(etag.as_deref(), last_modified.as_deref()));
                if changed {
                    // The server ignored If-Range and sent bytes of another version.
                    part.discard().map_err(stop_io(&part.path))?;
                    return Err(Fail::Restart);
                }
                if start != part.len {
                    part.discard().map_err(stop_io(&part.path))?;
                    return Err(Fail::Retry(FailReason::BadResponse(format!(
                        "asked for bytes from {} and got a range starting at {start}",
                        part.len
                    ))));
                }
                (start, total.or_else(|| content_length.map(|n| start + n)))
            }
            200 => (0, content_length),
            416 if resuming => {
                // Nothing past the end: either the `.part` is whole already, or it is longer
                // than the file now is.
                let total = content_range.as_deref().and_then(parse_unsatisfied_range);
                if total == Some(part.len) {
                    drop(response);
                    return self.install(url, download, sha256, part, control);
                }
                part.discard().map_err(stop_io(&part.path))?;
                return Err(Fail::Restart);
            }
            408 | 429 | 500..=599 => return Err(Fail::Retry(FailReason::Status(status))),
            201..=299 => {
                return Err(Fail::Next(FailReason::BadResponse(format!(
                    "unexpected HTTP {status}"
                ))))
            }
            _ => return Err(Fail::Next(FailReason::Status(status))),
        };

        if let (Some(expected), Some(actual)) = (download.size, total) {
            if expected != actual {
                part.discard().map_err(stop_io(&part.path))?;
                return Err(Fail::Next(FailReason::SizeMismatch { expected, actual }));
            }
        }
        if start == 0 {
            if download.size.is_none() {
                if let Some(total) = total {
                    self.check_space(download, total, 0).map_err(Fail::Stop)?;
                }
            }
            // A fresh start: whatever the `.part` held is replaced, and the sidecar names the
            // new source before any of its bytes land.
            part.hasher = Some(Sha256::new());
            part.len = 0;
            part.write_sidecar(Sidecar {
                url: url.to_owned(),
                sha256: sha256.to_owned(),
                etag,
                last_modified,
                size: total.or(download.size),
            })
            .map_err(stop_io(&part.sidecar_path))?;
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(start == 0)
            .append(start > 0)
            .open(&part.path)
            .map_err(stop_io(&part.path))?;
        let mut hasher = match part.hasher.take() {
            Some(hasher) => hasher,
            None => rehash(&part.path, part.len, control, download)?,
        };
        meter.total = total.or(download.size);
        meter.restart(part.len);

        let mut body = response.into_body().into_reader();
        let mut buf = vec![0u8; 256 << 10];
        loop {
            if let Some(stop) = stop_requested(control, download) {
                return Err(Fail::Stop(stop));
            }
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    part.hasher = Some(hasher);
                    return Err(Fail::Retry(self.read_failure(e, part.len, total)));
                }
            };
            if let Err(e) = file.write_all(&buf[..n]) {
                // The `.part` may now end in a partly written chunk; the next run reads it
                // again rather than trust this run's hasher.
                part.len = fs::metadata(&part.path).map(|m| m.len()).unwrap_or(part.len);
                return Err(Fail::Stop(write_failure(e, &part.path, part.len)));
            }
            hasher.update(&buf[..n]);
            part.len += n as u64;
            if let Some(limit) = total.or(download.size) {
                if part.len > limit {
                    part.discard().map_err(stop_io(&part.path))?;
                    return Err(Fail::Next(FailReason::BadResponse(format!(
                        "the server sent more than the {limit} bytes it announced"
                    ))));
                }
            }
            if let Some(progress) = meter.update(part.len, false) {
                on_progress(&progress);
            }
        }
        drop(file);
        if let Some(total) = total.or(download.size) {
            if part.len < total {
                part.hasher = Some(hasher);
                return Err(Fail::Retry(FailReason::Truncated {
                    done: part.len,
                    total,
                }));
            }
        }
        if let Some(progress) = meter.update(part.len, true) {
            on_progress(&progress);
        }
        part.hasher = Some(hasher);
        self.install(url, download, sha256, part, control)
    }

    /// Checks the whole `.part` and renames it into place, or deletes it.
    fn install(
        &self,
        url: &str,
        download: &Download,
        sha256: &str,
        part: &mut Part,
        control: &Control,
    ) -> std::result::Result<Downloaded, Fail> {
        let stop_io = |path: &Path| {
            let path = path.to_path_buf();
            move |e: io::Error| Fail::Stop(LibraryError::io(&path)(e))
        };
        let hasher = match part.hasher.take() {
            Some(hasher) => hasher,
            None => rehash(&part.path, part.len, control, download)?,
        };
        let actual = hex(&hasher.finalize());
        if let Some(expected) = download.size {
            if part.len != expected {
                part.discard().map_err(stop_io(&part.path))?;
                return Err(Fail::Next(FailReason::SizeMismatch {
                    expected,
                    actual: part.len,
                }));
            }
        }
        if actual != sha256 {
            part.discard().map_err(stop_io(&part.path))?;
            return Err(Fail::Next(FailReason::HashMismatch {
                expected: sha256.to_owned(),
                actual,
            }));
        }
        // Durable before visible: a crash after the rename must not leave a short file.
        File::open(&part.path)
            .and_then(|f| f.sync_all())
            .map_err(stop_io(&part.path))?;
        fs::rename(&part.path, &download.dest).map_err(stop_io(&download.dest))?;
        if let Some(dir) = download.dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Best effort: not every platform can sync a directory.
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        remove_if_present(&part.sidecar_path).map_err(stop_io(&part.sidecar_path))?;
        Ok(Downloaded {
            path: download.dest.clone(),
            sha256: actual,
            size: part.len,
            url: Some(url.to_owned()),
        })
    }

    /// Refuses to start when the file system cannot take what is still missing.
    fn check_space(&self, download: &Download, size: u64, have: u64) -> Result<()> {
        let needed = size
            .saturating_sub(have)
            .saturating_add(self.config.free_space_margin);
        let dir = nearest_existing_dir(&download.dest);
        match (self.config.free_space)(&dir) {
            Ok(free) if free < needed => Err(LibraryError::NotEnoughSpace {
                dest: download.dest.clone(),
                dir,
                needed,
                free,
            }),
            // An unknown amount of free space does not block a download; a full disk is
            // still caught while writing.
            _ => Ok(()),
        }
    }

    fn call_failure(&self, error: ureq::Error) -> Fail {
        match error {
            ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
                Fail::Retry(FailReason::Network(format!(
                    "no connection within {:.1} s",
                    self.config.connect_timeout.as_secs_f64()
                )))
            }
            ureq::Error::Timeout(_) => Fail::Retry(FailReason::Stalled(self.config.stall_timeout)),
            ureq::Error::BadUri(uri) => Fail::Next(FailReason::InvalidUrl(uri)),
            ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => {
                Fail::Next(FailReason::BadResponse(error.to_string()))
            }
            other => Fail::Retry(FailReason::Network(other.to_string())),
        }
    }

    fn read_failure(&self, error: io::Error, done: u64, total: Option<u64>) -> FailReason {
        let timed_out = error.kind() == io::ErrorKind::TimedOut
            || error
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<ureq::Error>())
                .is_some_and(|e| matches!(e, ureq::Error::Timeout(_)));
        if timed_out {
            FailReason::Stalled(self.config.stall_timeout)
        } else if let Some(total) = total.filter(|_| error.kind() == io::ErrorKind::UnexpectedEof) {
            FailReason::Truncated { done, total }
        } else {
            FailReason::Network(error.to_string())
        }
    }
}

/// A lowercase, well-formed expected hash, and at least one URL.
fn checked_sha256(download: &Download) -> Result<String> {
    let invalid = |reason: &str| LibraryError::InvalidDownload {
        dest: download.dest.clone(),
        reason: reason.to_owned(),
    };
    if download.urls.is_empty() {
        return Err(invalid("no URL to download from"));
    }
    if download.dest.file_name().is_none() {
        return Err(invalid("the destination has no file name"));
    }
    let sha256 = download.sha256.trim().to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid("the expected sha256 is not 64 hex digits"));
    }
    Ok(sha256)
}

/// A final path that already holds the expected file means there is nothing to do.
fn already_installed(download: &Download, sha256: &str) -> Result<Option<Downloaded>> {
    let meta = match fs::metadata(&download.dest) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LibraryError::io(&download.dest)(e)),
    };
    let actual = crate::hash::sha256_file(&download.dest)?;
    if actual != sha256 {
        return Err(LibraryError::DestinationExists {
            dest: download.dest.clone(),
            expected: sha256.to_owned(),
            actual,
        });
    }
    Ok(Some(Downloaded {
        path: download.dest.clone(),
        sha256: actual,
        size: meta.len(),
        url: None,
    }))
}

/// The error for a pause or cancel, after deleting what a cancel throws away.
fn stop_requested(control: &Control, download: &Download) -> Option<LibraryError> {
    if control.is_cancelled() {
        let _ = remove_if_present(&download.part_path());
        let _ = remove_if_present(&download.sidecar_path());
        Some(LibraryError::DownloadCancelled {
            dest: download.dest.clone(),
        })
    } else if control.is_paused() {
        let done = fs::metadata(download.part_path()).map(|m| m.len()).unwrap_or(0);
        Some(LibraryError::DownloadPaused {
            dest: download.dest.clone(),
            done,
        })
    } else {
        None
    }
}

/// Waits out a backoff, noticing pause and cancel within a few tens of milliseconds.
fn sleep_unless_stopped(
    wait: Duration,
    control: &Control,
    download: &Download,
    part: &mut Part,
) -> std::result::Result<(), Fail> {
    let until = Instant::now() + wait;
    loop {
        if let Some(stop) = stop_requested(control, download) {
            if control.is_cancelled() {
                part.len = 0;
                part.sidecar = None;
                part.hasher = None;
            }
            return Err(Fail::Stop(stop));
        }
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        std::thread::sleep((until - now).min(Duration::from_millis(25)));
    }
}

/// The sha256 state of the first `len` bytes of the `.part`, for appending to it.
fn rehash(
    path: &Path,
    len: u64,
    control: &Control,
    download: &Download,
) -> std::result::Result<Sha256, Fail> {
    let mut file = File::open(path).map_err(|e| Fail::Stop(LibraryError::io(path)(e)))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        if let Some(stop) = stop_requested(control, download) {
            return Err(Fail::Stop(stop));
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = file
            .read(&mut buf[..want])
            .map_err(|e| Fail::Stop(LibraryError::io(path)(e)))?;
        if n == 0 {
            return Err(Fail::Stop(LibraryError::io(path)(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the partial file shrank while it was being read",
            ))));
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(hasher)
}

/// A failed write to the `.part`: a full disk gets its own error so the message can say
/// that resuming later works.
fn write_failure(error: io::Error, part: &Path, done: u64) -> LibraryError {
    if is_disk_full(&error) {
        LibraryError::DiskFull {
            part: part.to_path_buf(),
            done,
        }
    } else {
        LibraryError::io(part)(error)
    }
}

fn is_disk_full(error: &io::Error) -> bool {
    #[cfg(unix)]
    if error.raw_os_error() == Some(libc::ENOSPC) || error.raw_os_error() == Some(libc::EDQUOT) {
        return true;
    }
    matches!(
        error.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

/// The closest directory at or above the destination's that exists, for asking about free
/// space before anything is created.
fn nearest_existing_dir(dest: &Path) -> PathBuf {
    let mut dir = dest
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    loop {
        if dir.is_dir() {
            return dir.to_path_buf();
        }
        match dir.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(parent) => dir = parent,
            None => return PathBuf::from("."),
        }
    }
}

/// `bytes START-END/TOTAL` (TOTAL may be `*`) → (START, TOTAL).
fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.trim().split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    if end < start {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        n => Some(n.parse::<u64>().ok().filter(|t| *t > end)?),
    };
    Some((start, total))
}

/// `bytes */TOTAL`, as a 416 answer carries it → TOTAL.
fn parse_unsatisfied_range(value: &str) -> Option<u64> {
    value
        .trim()
        .strip_prefix("bytes")?
        .trim_start()
        .strip_prefix("*/")?
        .trim()
        .parse()
        .ok()
}

/// Transfer rate smoothed over a few seconds, and when to report.
struct Meter {
    interval: Duration,
    total: Option<u64>,
    sample_at: Instant,
    sample_bytes: u64,
    rate: f64,
    last_report: Option<Instant>,
    last_done: u64,
}

/// How long the rate remembers: long enough to calm jitter, short enough to follow a
/// change of connection.
const RATE_MEMORY_SECS: f64 = 3.0;
/// Shorter samples are too noisy to count.
const MIN_SAMPLE: Duration = Duration::from_millis(100);

impl Meter {
    fn new(interval: Duration, total: Option<u64>) -> Self {
        Meter {
            interval,
            total,
            sample_at: Instant::now(),
            sample_bytes: 0,
            rate: 0.0,
            last_report: None,
            last_done: 0,
        }
    }

    /// A new connection: bytes already on disk do not count towards the rate.
    fn restart(&mut self, done: u64) {
        self.sample_at = Instant::now();
        self.sample_bytes = done;
        self.last_done = done;
    }

    /// Takes the bytes done now; gives a report when one is due (or `force`d).
    fn update(&mut self, done: u64, force: bool) -> Option<Progress> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.sample_at);
        if elapsed >= MIN_SAMPLE || (force && self.rate == 0.0 && !elapsed.is_zero()) {
            let instant = done.saturating_sub(self.sample_bytes) as f64 / elapsed.as_secs_f64();
            self.rate = if self.rate == 0.0 {
                instant
            } else {
                let weight = 1.0 - (-elapsed.as_secs_f64() / RATE_MEMORY_SECS).exp();
                self.rate + weight * (instant - self.rate)
            };
            self.sample_at = now;
            self.sample_bytes = done;
        }
        self.last_done = done;
        let due = force
            || self.interval.is_zero()
            || self
                .last_report
                .is_none_or(|at| now.duration_since(at) >= self.interval);
        if !due {
            return None;
        }
        self.last_report = Some(now);
        Some(
            Progress {
                done,
                total: self.total,
                bytes_per_sec: self.rate,
                eta: None,
            }
            .with_eta(),
        )
    }
}

/// One progress report from a [`Manager`]: a file's and the whole queue's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueProgress {
    /// The file's position in the order it was added.
    pub index: usize,
    pub file: Progress,
    /// Sums over the queue: bytes done (finished files included), the total when every
    /// file's size is known, the combined rate and the time left at it.
    pub total: Progress,
}

/// A queue of downloads run on up to `max_concurrent` threads at once.
#[derive(Debug)]
pub struct Manager {
    downloader: Downloader,
    queue: Vec<(Download, Control)>,
}

impl Manager {
    /// An empty queue; `config.max_concurrent` bounds how many run at once.
    pub fn new(config: DownloadConfig) -> Self {
        Manager {
            downloader: Downloader::new(config),
            queue: Vec::new(),
        }
    }

    /// Queues a download; the returned [`Control`] pauses or cancels just this one.
    pub fn add(&mut self, download: Download) -> Control {
        let control = Control::new();
        self.add_controlled(download, control.clone());
        control
    }

    /// Queues a download under a [`Control`] the caller already holds (a window that
    /// shows pause buttons before the queue runs).
    pub fn add_controlled(&mut self, download: Download, control: Control) {
        self.queue.push((download, control));
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Runs the queue to the end, calling `on_progress` from the download threads, and gives
    /// each download's outcome in the order they were added.
    pub fn run(&self, on_progress: impl Fn(&QueueProgress) + Sync) -> Vec<Result<Downloaded>> {
        let count = self.queue.len();
        let files: Vec<Progress> = self
            .queue
            .iter()
            .map(|(d, _)| Progress {
                total: d.size,
                ..Progress::default()
            })
            .collect();
        let table = Mutex::new(files);
        let next = AtomicUsize::new(0);
        let workers = self.downloader.config.max_concurrent.max(1).min(count);
        let mut outcomes: Vec<(usize, Result<Downloaded>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let index = next.fetch_add(1, Ordering::SeqCst);
                            let Some((download, control)) = self.queue.get(index) else {
                                break;
                            };
                            let mut report = |file: &Progress| {
                                let total = {
                                    let mut table = table.lock().unwrap_or_else(PoisonError::into_inner);
                                    table[index] = *file;
                                    queue_total(&table)
                                };
                                on_progress(&QueueProgress {
                                    index,
                                    file: *file,
                                    total,
                                });
                            };
                            let outcome = self.downloader.download(download, control, &mut report);
                            if let Ok(done) = &outcome {
                                // A finished file no longer adds to the rate.
                                report(&Progress {
                                    done: done.size,
                                    total: Some(done.size),
                                    bytes_per_sec: 0.0,
                                    eta: None,
                                });
                            }
                            mine.push((index, outcome));
                        }
                        mine
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect()
        });
        outcomes.sort_by_key(|(index, _)| *index);
        outcomes.into_iter().map(|(_, outcome)| outcome).collect()
    }
}

fn queue_total(files: &[Progress]) -> Progress {
    let done = files.iter().map(|f| f.done).sum();
    let total = files.iter().map(|f| f.total).sum::<Option<u64>>();
    let bytes_per_sec = files.iter().map(|f| f.bytes_per_sec).sum();
    Progress {
        done,
        total,
        bytes_per_sec,
        eta: None,
    }
    .with_eta()
}

/// Megabytes with one decimal, for messages.
pub(crate) fn mib(bytes: &u64) -> String {
    format!("{:.1}", *bytes as f64 / (1u64 << 20) as f64)
}

/// Each URL and why it failed, one per line, then what to do, for
/// [`LibraryError::DownloadFailed`].
pub(crate) fn describe_failures(failures: &[UrlFailure], kept: &Option<PathBuf>) -> String {
    let mut text: String = failures
        .iter()
        .map(|f| format!("\n  {}: {}", f.url, f.reason))
        .collect();
    let mismatch = failures.iter().any(|f| {
        matches!(
            f.reason,
            FailReason::HashMismatch { .. } | FailReason::SizeMismatch { .. }
        )
    });
    if mismatch {
        text.push_str(
            "\nA mismatch means that source serves other bytes than expected; report it to whoever published the link.",
        );
    }
    if failures.iter().any(|f| {
        !matches!(
            f.reason,
            FailReason::HashMismatch { .. } | FailReason::SizeMismatch { .. }
        )
    }) {
        text.push_str("\nCheck the internet connection and the links, then start the download again.");
    }
    if let Some(part) = kept {
        text.push_str(&format!(
            "\nThe bytes so far are kept in {} and the next try resumes from them.",
            part.display()
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parses_and_rejects() {
        assert_eq!(parse_content_range("bytes 100-199/200"), Some((100, Some(200))));
        assert_eq!(parse_content_range("bytes 0-9/*"), Some((0, None)));
        assert_eq!(parse_content_range("bytes 10-5/200"), None);
        assert_eq!(parse_content_range("bytes 100-199/150"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
        assert_eq!(parse_unsatisfied_range("bytes */4096"), Some(4096));
    }

    #[test]
    fn enospc_is_a_disk_full_error_that_keeps_the_part() {
        let error = write_failure(
            io::Error::from(io::ErrorKind::StorageFull),
            Path::new("m.safetensors.part"),
            42,
        );
        assert!(matches!(error, LibraryError::DiskFull { done: 42, .. }));
        let message = error.to_string();
        assert!(
            message.contains("m.safetensors.part") && message.contains("resume"),
            "{message}"
        );
        #[cfg(unix)]
        assert!(matches!(
            write_failure(io::Error::from_raw_os_error(libc::ENOSPC), Path::new("p"), 1),
            LibraryError::DiskFull { .. }
        ));
        assert!(matches!(
            write_failure(
                io::Error::from(io::ErrorKind::PermissionDenied),
                Path::new("p"),
                1
            ),
            LibraryError::Io { .. }
        ));
    }

    #[test]
    fn part_and_sidecar_sit_beside_the_final_path() {
        let d = Download::new(["http://x/a"], "0".repeat(64), "/lib/models/a.safetensors");
        assert_eq!(d.part_path(), Path::new("/lib/models/a.safetensors.part"));
        assert_eq!(d.sidecar_path(), Path::new("/lib/models/a.safetensors.part.json"));
    }

    #[test]
    fn if_range_uses_strong_etags_only() {
        let side = |etag: Option<&str>, lm: Option<&str>| Sidecar {
            url: "u".into(),
            sha256: "s".into(),
            etag: etag.map(Into::into),
            last_modified: lm.map(Into::into),
            size: None,
        };
        assert_eq!(side(Some("\"v1\""), Some("lm")).validator(), Some("\"v1\""));
        assert_eq!(side(Some("W/\"v1\""), Some("lm")).validator(), Some("lm"));
        assert_eq!(side(None, None).validator(), None);
        assert!(side(Some("\"v1\""), None).changed(Some("\"v2\""), None));
        assert!(!side(Some("\"v1\""), None).changed(None, Some("lm")));
    }

    #[test]
    fn queue_total_sums_and_estimates() {
        let files = [
            Progress {
                done: 50,
                total: Some(100),
                bytes_per_sec: 10.0,
                eta: None,
            },
            Progress {
                done: 0,
                total: Some(100),
                bytes_per_sec: 40.0,
                eta: None,
            },
        ];
        let total = queue_total(&files);
        assert_eq!((total.done, total.total), (50, Some(200)));
        assert_eq!(total.eta, Some(Duration::from_secs(3)));
        let unknown = queue_total(&[
            Progress {
                total: None,
                ..files[0]
            },
            files[1],
        ]);
        assert_eq!((unknown.total, unknown.eta), (None, None));
    }

    #[test]
    fn bad_downloads_are_refused_before_anything_happens() {
        let no_urls = Download::new(Vec::<String>::new(), "0".repeat(64), "a");
        assert!(matches!(
            checked_sha256(&no_urls),
            Err(LibraryError::InvalidDownload { .. })
        ));
        let short = Download::new(["http://x/a"], "abc", "a");
        assert!(matches!(
            checked_sha256(&short),
            Err(LibraryError::InvalidDownload { .. })
        ));
        let upper = Download::new(["http://x/a"], "A".repeat(64), "a");
        assert_eq!(checked_sha256(&upper).ok(), Some("a".repeat(64)));
    }
}
