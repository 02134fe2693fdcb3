//! Downloads against a real HTTP/1.1 server on 127.0.0.1 that misbehaves on purpose. Every
//! fault ends either in a verified file at the final path or in a clear error with nothing
//! there.

#[path = "support/http_server.rs"]
mod http_server;

use std::path::Path;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use http_server::{payload, refused_url, Fault, Served, Server};
use ra_library::download::{
    Control, Download, DownloadConfig, Downloader, FailReason, Manager, Progress, QueueProgress,
};
use ra_library::hash::sha256_reader;
use ra_library::LibraryError;

const SIZE: usize = 300_000;

fn sha(bytes: &[u8]) -> String {
    sha256_reader(bytes).unwrap()
}

/// A download of `body` from `urls` into `dir/model.safetensors`.
fn download_of(body: &[u8], urls: &[String], dir: &Path) -> Download {
    Download::new(
        urls.to_vec(),
        sha(body),
        dir.join("models").join("model.safetensors"),
    )
    .with_size(body.len() as u64)
}

fn fetch(
    config: DownloadConfig,
    download: &Download,
) -> ra_library::Result<ra_library::download::Downloaded> {
    Downloader::new(config).download(download, &Control::new(), &mut |_| {})
}

fn assert_installed(download: &Download, body: &[u8]) {
    assert_eq!(
        std::fs::read(&download.dest).unwrap(),
        body,
        "the installed file is the served one"
    );
    assert!(!download.part_path().exists(), "no .part left");
    assert!(!download.sidecar_path().exists(), "no sidecar left");
}

fn failures(error: &LibraryError) -> Vec<(String, FailReason)> {
    match error {
        LibraryError::DownloadFailed { failures, .. } => failures
            .iter()
            .map(|f| (f.url.clone(), f.reason.clone()))
            .collect(),
        other => panic!("expected DownloadFailed, got {other:?}"),
    }
}

#[test]
fn plain_download_verifies_and_renames() {
    let server = Server::start();
    let body = payload(SIZE, 1);
    server.serve("/m", Served::new(body.clone()).etag("\"v1\""));
    let dir = tempfile::tempdir().unwrap();
    let download = download_of(&body, &[server.url("/m")], dir.path());

    let mut reports: Vec<Progress> = Vec::new();
    let done = Downloader::new(DownloadConfig::TEST)
        .download(&download, &Control::new(), &mut |p| reports.push(*p))
        .unwrap();

    assert_eq!(done.sha256, sha(&body));
    assert_eq!(done.size, SIZE as u64);
    assert_eq!(done.url.as_deref(), Some(server.url("/m").as_str()));
    assert_installed(&download, &body);
    let last = reports.last().unwrap();
    assert_eq!((last.done, last.total), (SIZE as u64, Some(SIZE as u64)));
    assert!(
        reports.windows(2).all(|w| w[0].done <= w[1].done),
        "progress only grows"
    );

    // Run again: the verified file in place is the answer, without asking the server.
    let requests = server.seen().len();
    let again = fetch(DownloadConfig::TEST, &download).unwrap();
    assert_eq!((again.url, server.seen().len()), (None, requests));
}

#[test]
fn a_download_cut_off_halfway_resumes_with_a_range_request_in_a_fresh_downloader() {
    let server = Server::start();
    let body = payload(SIZE, 2);
    let half = SIZE / 2;
    server.serve(
        "/m",
        Served::new(body.clone())
            .etag("\"v1\"")
            .then([Fault::DropAfter(half)]),
    );
    let dir = tempfile::tempdir().unwrap();
    let download = download_of(&body, &[server.url("/m")], dir.path());

    // No retries: the first run ends at the cut, like a closed app.
    let once = DownloadConfig {
        retries_per_url: 0,
        ..DownloadConfig::TEST
    };
    let error = fetch(once, &download).unwrap_err();
    assert!(
        matches!(failures(&error)[0].1, FailReason::Truncated { done, .. } if done == half as u64),
        "{error}"
    );
    assert!(error.to_string().contains("kept"), "{error}");
    assert!(!download.dest.exists());
    assert_eq!(
        std::fs::metadata(download.part_path()).unwrap().len(),
        half as u64
    );
    assert!(download.sidecar_path().exists());

    fetch(DownloadConfig::TEST, &download).unwrap();
    assert_installed(&download, &body);
    let seen = server.seen_for("/m");
    assert_eq!(seen[1].range.as_deref(), Some(format!("bytes={half}-").as_str()));
    assert_eq!(seen[1].if_range.as_deref(), Some("\"v1\""));
}

#[test]
fn a_200_answer_to_a_range_request_starts_over() {
    let server = Server::start();
    let body = payload(SIZE, 3);
    server.serve(
        "/m",
        Served::new(body.clone())
            .etag("\"v1\"")
            .then([Fault::DropAfter(SIZE / 3)])
            .always(Fault::IgnoreRange),
    );
    let dir = tempfile::tempdir().unwrap();
    let download = download_of(&body, &[server.url("/m")], dir.path());

    fetch(DownloadConfig::TEST, &download).unwrap();

    assert_installed(&download, &body);
    let seen = server.seen_for("/m");
    assert_eq!(
        seen[1].range.as_deref(),
        Some(format!("bytes={}-", SIZE / 3).as_str())
    );
}

#[test]
fn a_changed_etag_starts_over() {
    // A server that honours If-Range answers the old validator with the whole file.
    let server = Server::start();
    let body = payload(SIZE, 4);
    server.serve(
        "/m",
        Served::new(body.clone())
            .etag("\"v1\"")
            .then([Fault::DropAfter(SIZE / 2)]),
    );
    let dir = tempfile::tempdir().unwrap();
    let download = download_of(&body, &[server.url("/m")], dir.path());
    let once = DownloadConfig {
        retries_per_url: 0,
        ..DownloadConfig::TEST
    };
    fetch(once, &download).unwrap_err();
    server.set_etag("/m", "\"v2\"");
    fetch(once, &download).unwrap();
    assert_installed(&download, &body);
    assert_eq!(server.seen_for("/m")[1].if_range.as_deref(), Some("\"v1\""));

    // A server that ignores If-Range sends a 206 of the new version: the client notices
    // the new ETag itself, drops the old bytes and asks for the whole file.
    let server = Server::start();
    server.serve(
        "/m",
        Served::new(body.clone())
            .etag("\"v1\"")
            .then([Fault::DropAfter(SIZE / 2)])
            .always(Fault::IgnoreIfRange),
    );
    let dir = tempfile::tempdir().unwrap();
    let download = download_of(&body, &[server.url("/m")], dir.path());
    fetch(once, &download).unwrap_err();
    server.set_etag("/m", "\"v2\"");
    fetch(once, &download).unwrap();
    assert_installed(&download, &body);
    let ranges: Vec<_> = server.seen_for("/m").into_iter().map(|s| s.range).collect();
    assert_eq!(ranges[..3], [None, Some(format!("bytes={}-", SIZE / 2)), None]);
}

#[test]
fn a_stall_is_retried_and_resumed() {
    let server = Server::start();
    let body = payload(SIZE, 5);
    server.serve(
        "/m",
        Served::new(body.clone())
            .etag("\"v1\"")
            .then([Fault::StallAfter(SIZE / 4)]),
    );
    let dir = tempfile::tempdir().unwrap();
    let download = download_of(&body, &[server.url("/m")], dir.path());

    fetch(DownloadConfig::TEST, &download).unwrap();

    assert_installed(&download, &body);
    let seen = server.seen_for("/m");
    assert_eq!(
        seen[1].range.as_deref(),
        Some(format!("bytes={}-", SIZE / 4).as_str())
    );
}

#[test]
fn a_url_that_always_stalls_fails_clearly_and_installs_nothing() {
    let server = Server::start();
    let body = payload(SIZE, 6);
    server.serve(
        "/m",
        Served::new(body.clone())
            .etag("\"v1\"")
            .always(Fault::StallAfter(1000)),
    );
    let dir = tempfile::tempdir().unwrap();
    let download = download_of(&body, &[server.url("/m")], dir.path());

    let error = fetch(DownloadConfig::TEST, &download).unwrap_err();

    let failed = failures(&error);
    assert_eq!(failed.len(), 1);
    assert!(matches!(failed[0].1, FailReason::Stalled(_)), "{error}");
    let message = error.to_string();
    assert!(
        message.contains(&server.url("/m")) && message.contains("stalled"),
        "{message}"
    );
    assert!(!download.dest.exists(), "nothing at the final path");
    // Network trouble keeps the bytes so far (outside the library's view: `.part`) for a
    // later run, and the message says so.
    assert!(
        download.part_path().exists() && message.contains("resumes"),
        "{message}"
    );
    // 1 + retries_per_url attempts, each after the first resuming the kept bytes.
    let seen = server.seen_for("/m");
    assert_eq!(seen.len(), 1 + DownloadConfig::TEST.retries_per_url as usize);
    assert_eq!(seen[1].range.as_deref(), Some("bytes=1000-"));
}

#[test]
fn a_corrupt_byte_is_a_hash_mismatch_that_leaves_nothing() {
    let server = Server::start();
    let body = payload(SIZE, 7);
    server.serve("/m", Served::new(body.clone()).always(Fault::CorruptByte(12_345)));
    let dir = tempfile::tempdir().unwrap();
    let download = download_of(&body, &[server.url("/m")], dir.path());

    let error = fetch(DownloadConfig::TEST, &download).unwrap_err();

    let failed = failures(&error);
    let mut corrupt = body.to_vec();
    corrupt[12_345] ^= 0xFF;
    assert_eq!(
        failed,
        [(
            server.url("/m"),
            FailReason::HashMismatch {
                expected: sha(&body),
                actual: sha(&corrupt)
            }
        )]
    );
    let message = error.to_string();
    assert!(
        message.contains(&sha(&body)) && message.contains(&sha(&corrupt)),
        "{message}"
    );
    assert!(!download.dest.exists() && !download.part_path().exists() && !download.sidecar_path().exists());
    assert_eq!(
        server.seen_for("/m").len(),
        1,
        "a mismatch is not retried on the same URL"
    );
}

#[test]
fn a_corrupt_mirror_falls_back_to_a_good_one() {
    let server = Server::start();
    let body = payload(SIZE, 8);
    server.serve(
        "/bad",
        Served::new(body.clone()).always(Fault::CorruptByte(SIZE - 1)),
    );
    server.serve("/good", Served::new(body.clone()));
    let dir = tempfile::tempdir().unwrap();
    let download = download_of(&body, &[server.url("/bad"), server.url("/good")], dir.path());

    let done = fetch(DownloadConfig::TEST, &download).unwrap();

    assert_eq!(done.url.as_deref(), Some(server.url("/good").as_str()));
    assert_installed(&download, &body);
    // The mirror started from byte 0: nothing of the corrupt copy was kept.
    assert_eq!(server.seen_for("/good")[0].range, None);
}

#[test]
fn a_missing_or_refused_main_url_falls_back_to_the_mirror() {
    let server = Server::start();
    let body = payload(SIZE, 9);
    server.serve("/mirror", Served::new(body.clone()));
    for main in [server.url("/gone"), refused_url("/m")] {
        let dir = tempfile::tempdir().unwrap();
        let download = download_of(&body, &[main.clone(), server.url("/mirror")], dir.path());
        let done = fetch(DownloadConfig::TEST, &download).unwrap();
        assert_eq!(
            done.url.as_deref(),
            Some(server.url("/mirror").as_str()),
            "after {main}"
        );
        assert_installed(&download, &body);
    }
    assert_eq!(server.seen_for("/gone").len(), 1, "a 404 is not retried");
}

#[test]
fn every_url_failing_gives_one_error_listing_each() {
    let server = Server::start();
    let body = payload(SIZE, 10);
    server.serve("/busy", Served::new(body.clone()).always(Fault::Status(503)));
    let refused = refused_url("/m");
    let dir = tempfile::tempdir().unwrap();
    let download = download_of(
        &body,
        &[server.url("/gone"), server.url("/busy"), refused.clone()],
        dir.path(),
    );

    let error = fetch(DownloadConfig::TEST, &download).unwrap_err();

    let failed = failures(&error);
    assert_eq!(failed[0], (server.url("/gone"), FailReason::Status(404)));
    assert_eq!(failed[1], (server.url("/busy"), FailReason::Status(503)));
    assert_eq!(failed[2].0, refused);
    assert!(matches!(failed[2].1, FailReason::Network(_)));
    let message = error.to_string();
    for url in [server.url("/gone"), server.url("/busy"), refused] {
        assert!(message.contains(&url), "{message}");
    }
    assert!(!download.dest.exists() && !download.part_path().exists());
    assert_eq!(
        server.seen_for("/busy").len(),
        1 + DownloadConfig::TEST.retries_per_url as usize
    );
}

#[test]
fn not_enough_free_space_starts_nothing() {
    let server = Server::start();
    let body = payload(SIZE, 11);
    server.serve("/m", Served::new(body.clone()));
    let dir = tempfile::tempdir().unwrap();
    let download = download_of(&body, &[server.url("/m")], dir.path());
    let cramped = DownloadConfig {
        free_space: |_| Ok(100 << 10),
        ..DownloadConfig::TEST
    };

    let error = fetch(cramped, &download).unwrap_err();

    assert!(
        matches!(error, LibraryError::NotEnoughSpace { needed, free, .. }
        if needed == SIZE as u64 && free == 100 << 10),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("0.3 MiB") && message.contains("0.1 MiB"),
        "{message}"
    );
    assert!(message.contains(&dir.path().display().to_string()), "{message}");
    assert!(
        !dir.path().join("models").exists(),
        "not even the folder was created"
    );
    assert!(server.seen().is_empty(), "no request was made");
}

#[test]
fn free_space_counts_the_bytes_already_in_the_part() {
    let server = Server::start();
    let body = payload(SIZE, 12);
    server.serve(
        "/m",
        Served::new(body.clone())
            .etag("\"v1\"")
            .then([Fault::DropAfter(SIZE - 1000)]),
    );
    let dir = tempfile::tempdir().unwrap();
    let download = download_of(&body, &[server.url("/m")], dir.path());
    let once = DownloadConfig {
        retries_per_url: 0,
        ..DownloadConfig::TEST
    };
    fetch(once, &download).unwrap_err();

    // 1000 bytes missing fit in 4 KiB.
    let cramped = DownloadConfig {
        free_space: |_| Ok(4096),
        ..DownloadConfig::TEST
    };
    fetch(cramped, &download).unwrap();
    assert_installed(&download, &body);
}

/// A `.part` that is a link to /dev/full makes every write fail with ENOSPC, as a full disk
/// would.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_keeps_the_part_and_says_so() {
    let server = Server::start();
    let body = payload(SIZE, 13);
    server.serve(
        "/m",
        Served::new(body.clone())
            .etag("\"v1\"")
            .then([Fault::DropAfter(1000)]),
    );
    let dir = tempfile::tempdir().unwrap();
    let download = download_of(&body, &[server.url("/m")], dir.path());
    let once = DownloadConfig {
        retries_per_url: 0,
        ..DownloadConfig::TEST
    };
    fetch(once, &download).unwrap_err();
    std::fs::remove_file(download.part_path()).unwrap();
    std::os::unix::fs::symlink("/dev/full", download.part_path()).unwrap();

    let error = fetch(DownloadConfig::TEST, &download).unwrap_err();

    assert!(matches!(error, LibraryError::DiskFull { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("disk filled up") && message.contains("resume"),
        "{message}"
    );
    assert!(
        std::fs::symlink_metadata(download.part_path()).is_ok(),
        "the .part is kept"
    );
    assert!(download.sidecar_path().exists(), "the sidecar is kept");
    assert!(!download.dest.exists());
}

/// Starts `download` on its own thread and waits until some bytes have arrived.
fn start_slow(
    download: &Download,
    control: &Control,
) -> std::thread::JoinHandle<ra_library::Result<ra_library::download::Downloaded>> {
    let (tx, rx) = mpsc::channel();
    let (download, control) = (download.clone(), control.clone());
    let handle = std::thread::spawn(move || {
        Downloader::new(DownloadConfig::TEST).download(&download, &control, &mut |p| {
            if p.done > 0 {
                let _ = tx.send(p.done);
            }
        })
    });
    rx.recv().expect("some bytes arrive");
    handle
}

#[test]
fn pause_keeps_the_part_and_a_later_run_resumes_it() {
    let server = Server::start();
    let body = payload(SIZE, 14);
    server.serve(
        "/m",
        Served::new(body.clone())
            .etag("\"v1\"")
            .throttle(4096, Duration::from_millis(5)),
    );
    let dir = tempfile::tempdir().unwrap();
    let download = download_of(&body, &[server.url("/m")], dir.path());
    let control = Control::new();

    let running = start_slow(&download, &control);
    control.pause();
    let error = running.join().unwrap().unwrap_err();

    let LibraryError::DownloadPaused { done, .. } = error else {
        panic!("expected a pause, got {error:?}")
    };
    assert!(done > 0 && done < SIZE as u64, "paused at {done}");
    assert_eq!(std::fs::metadata(download.part_path()).unwrap().len(), done);
    assert!(download.sidecar_path().exists() && !download.dest.exists());

    // Still paused: nothing happens.
    assert!(matches!(
        fetch_with(&download, &control),
        Err(LibraryError::DownloadPaused { .. })
    ));
    control.resume();
    fetch_with(&download, &control).unwrap();
    assert_installed(&download, &body);
    assert_eq!(
        server.seen_for("/m")[1].range.as_deref(),
        Some(format!("bytes={done}-").as_str())
    );
}

fn fetch_with(
    download: &Download,
    control: &Control,
) -> ra_library::Result<ra_library::download::Downloaded> {
    Downloader::new(DownloadConfig::TEST).download(download, control, &mut |_| {})
}

#[test]
fn cancel_deletes_the_part() {
    let server = Server::start();
    let body = payload(SIZE, 15);
    server.serve(
        "/m",
        Served::new(body.clone())
            .etag("\"v1\"")
            .throttle(4096, Duration::from_millis(5)),
    );
    let dir = tempfile::tempdir().unwrap();
    let download = download_of(&body, &[server.url("/m")], dir.path());
    let control = Control::new();

    let running = start_slow(&download, &control);
    control.cancel();
    let error = running.join().unwrap().unwrap_err();

    assert!(
        matches!(error, LibraryError::DownloadCancelled { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("cancelled"), "{error}");
    assert!(!download.part_path().exists() && !download.sidecar_path().exists() && !download.dest.exists());
}

#[test]
fn a_part_without_its_sidecar_is_not_trusted() {
    let server = Server::start();
    let body = payload(SIZE, 16);
    server.serve("/m", Served::new(body.clone()));
    let dir = tempfile::tempdir().unwrap();
    let download = download_of(&body, &[server.url("/m")], dir.path());
    std::fs::create_dir_all(download.dest.parent().unwrap()).unwrap();
    std::fs::write(download.part_path(), vec![0u8; 1000]).unwrap();

    fetch(DownloadConfig::TEST, &download).unwrap();

    assert_installed(&download, &body);
    assert_eq!(server.seen_for("/m")[0].range, None);
}

#[test]
fn a_different_file_at_the_final_path_is_never_overwritten() {
    let server = Server::start();
    let body = payload(SIZE, 17);
    server.serve("/m", Served::new(body.clone()));
    let dir = tempfile::tempdir().unwrap();
    let download = download_of(&body, &[server.url("/m")], dir.path());
    std::fs::create_dir_all(download.dest.parent().unwrap()).unwrap();
    std::fs::write(&download.dest, b"mine").unwrap();

    let error = fetch(DownloadConfig::TEST, &download).unwrap_err();

    assert!(
        matches!(error, LibraryError::DestinationExists { .. }),
        "{error:?}"
    );
    assert_eq!(std::fs::read(&download.dest).unwrap(), b"mine");
}

#[test]
fn the_manager_keeps_to_its_concurrency_limit_and_totals_add_up() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let mut manager = Manager::new(DownloadConfig {
        max_concurrent: 2,
        ..DownloadConfig::TEST
    });
    let mut bodies = Vec::new();
    for i in 0..5 {
        let body = payload(SIZE / 2 + i * 1000, 100 + i as u64);
        let path = format!("/m{i}");
        server.serve(
            &path,
            Served::new(body.clone()).throttle(16 << 10, Duration::from_millis(10)),
        );
        let download = Download::new(
            [server.url(&path)],
            sha(&body),
            dir.path().join(format!("m{i}.safetensors")),
        )
        .with_size(body.len() as u64);
        manager.add(download);
        bodies.push(body);
    }
    let reports: Mutex<Vec<QueueProgress>> = Mutex::new(Vec::new());

    let outcomes = manager.run(|p| reports.lock().unwrap().push(*p));

    assert_eq!(outcomes.len(), 5);
    for (i, outcome) in outcomes.iter().enumerate() {
        let done = outcome.as_ref().unwrap();
        assert_eq!(std::fs::read(&done.path).unwrap(), *bodies[i]);
    }
    assert_eq!(server.max_active(), 2, "two at a time, never more");
    let reports = reports.into_inner().unwrap();
    let sum: u64 = bodies.iter().map(|b| b.len() as u64).sum();
    let last = reports.last().unwrap();
    assert_eq!((last.total.done, last.total.total), (sum, Some(sum)));
    assert!(
        reports.windows(2).all(|w| w[0].total.done <= w[1].total.done),
        "the total only grows"
    );
    for report in &reports {
        assert_eq!(report.total.total, Some(sum));
        assert!(report.file.done <= report.file.total.unwrap());
    }
    assert!(reports
        .iter()
        .any(|r| r.total.bytes_per_sec > 0.0 && r.total.eta.is_some()));
}

#[test]
fn the_manager_pauses_and_cancels_single_files() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let body = payload(SIZE, 200);
    server.serve("/m", Served::new(body.clone()));
    let mut manager = Manager::new(DownloadConfig::TEST);
    let to = |name: &str| {
        Download::new([server.url("/m")], sha(&body), dir.path().join(name)).with_size(SIZE as u64)
    };
    manager.add(to("a.safetensors"));
    manager.add(to("b.safetensors")).pause();
    manager.add(to("c.safetensors")).cancel();

    let outcomes = manager.run(|_| {});

    assert!(outcomes[0].is_ok());
    assert!(matches!(
        outcomes[1],
        Err(LibraryError::DownloadPaused { done: 0, .. })
    ));
    assert!(matches!(outcomes[2], Err(LibraryError::DownloadCancelled { .. })));
    assert!(!dir.path().join("b.safetensors").exists() && !dir.path().join("c.safetensors").exists());
}
