//! The worker thread with a real SQLite store and the tiny model: jobs run in order,
//! outputs land whole, cancel and skip act within a step.

use std::sync::Arc;
use std::time::Duration;

use ra_daemon::models;
use ra_daemon::store::Store;
use ra_daemon::worker::{Worker, WorkerSettings};
use ra_engine::make_model::{MakeModel, OutputLayout, Preset};
use ra_wire::{JobEvent, JobRequest, JobStatus};
use tokio::sync::broadcast::Receiver;

struct Setup {
    dir: tempfile::TempDir,
    worker: Worker,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let models_dir = dir.path().join("models/Stable-diffusion");
    std::fs::create_dir_all(&models_dir).unwrap();
    MakeModel {
        preset: Preset::Tiny,
        layout: OutputLayout::SingleFile,
        seed: 5,
        dtype: ra_engine::candle::DType::F32,
    }
    .write(&models_dir.join("tiny.safetensors"))
    .unwrap();
    let store = Arc::new(Store::open(&dir.path().join("ra.db")).unwrap());
    let found = models::scan(&[dir.path().to_path_buf()], &store);
    assert_eq!(found.len(), 1);
    let settings = WorkerSettings {
        output_dir: dir.path().join("outputs"),
        dtype: ra_engine::candle::DType::F32,
        default_model: None,
        networks: Default::default(),
        plugins: None,
        backends: Default::default(),
    };
    let worker = Worker::start(settings, store, found, None).unwrap();
    Setup { dir, worker }
}

fn request(steps: u32, count: u32) -> JobRequest {
    JobRequest {
        prompt: "a red kite".into(),
        steps,
        count,
        width: 64,
        height: 64,
        seed: 100,
        ..JobRequest::default()
    }
}

/// The next event of job `id` that is not progress.
fn wait_end(rx: &mut Receiver<JobEvent>, id: i64) -> JobEvent {
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        assert!(std::time::Instant::now() < deadline, "job {id} never ended");
        match rx.try_recv() {
            Ok(
                e @ (JobEvent::Finished { .. }
                | JobEvent::Failed { .. }
                | JobEvent::Cancelled { .. }),
            ) if e.job_id() == id => return e,
            Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

#[test]
fn jobs_run_and_record_every_image_with_consecutive_seeds() {
    let s = setup();
    let mut rx = s.worker.subscribe();
    let id = s.worker.submit(&request(3, 2), 10).unwrap().unwrap();
    let JobEvent::Finished { outputs, .. } = wait_end(&mut rx, id) else {
        panic!("job failed")
    };
    assert_eq!(outputs.len(), 2);
    let job = s.worker.shared.store.get(id).unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Done);
    assert_eq!(job.seeds, vec![100, 101]);
    for (file, info) in outputs.iter().zip(&job.infotexts) {
        let bytes = std::fs::read(s.dir.path().join("outputs").join(file)).unwrap();
        assert_eq!(
            ra_wire::png_text::read_parameters(&bytes)
                .unwrap()
                .as_deref(),
            Some(info.as_str())
        );
    }
}

#[test]
fn a_random_seed_is_drawn_once_in_a1111_range_and_images_count_up_from_it() {
    let s = setup();
    let mut rx = s.worker.subscribe();
    let id = s.worker.submit(&JobRequest { seed: -1, ..request(1, 2) }, 10).unwrap().unwrap();
    assert!(matches!(wait_end(&mut rx, id), JobEvent::Finished { .. }));
    let seeds = s.worker.shared.store.get(id).unwrap().unwrap().seeds;
    assert!(seeds[0] < 1 << 32, "{seeds:?}");
    assert_eq!(seeds[1], seeds[0] + 1);
}

#[test]
fn cancel_stops_the_running_job_within_a_step_and_leaves_no_file() {
    let s = setup();
    let mut rx = s.worker.subscribe();
    let long = s.worker.submit(&request(200, 1), 10).unwrap().unwrap();
    let queued = s.worker.submit(&request(2, 1), 10).unwrap().unwrap();
    // Cancelling the queued one takes effect at once.
    assert!(s.worker.cancel(queued).unwrap());
    assert_eq!(
        s.worker.shared.store.get(queued).unwrap().unwrap().status,
        JobStatus::Cancelled
    );
    let last_step = loop {
        if let Ok(JobEvent::Progress { id, step, .. }) = rx.try_recv() {
            if id == long && step >= 2 {
                assert!(s.worker.cancel(long).unwrap());
                break step;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut max_step = last_step;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let end = loop {
        assert!(std::time::Instant::now() < deadline);
        match rx.try_recv() {
            Ok(JobEvent::Progress { step, .. }) => max_step = max_step.max(step),
            Ok(e @ JobEvent::Cancelled { .. }) => break e,
            Ok(_) | Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    assert_eq!(end, JobEvent::Cancelled { id: long });
    assert!(
        max_step <= last_step + 1,
        "ran {max_step} after cancel at {last_step}"
    );
    assert_eq!(
        s.worker.shared.store.get(long).unwrap().unwrap().status,
        JobStatus::Cancelled
    );
    let files: Vec<_> = std::fs::read_dir(s.dir.path().join("outputs"))
        .unwrap()
        .collect();
    assert!(files.is_empty(), "{files:?}");
}

#[test]
fn unknown_model_fails_the_job_with_a_message() {
    let s = setup();
    let mut rx = s.worker.subscribe();
    let id = s
        .worker
        .submit(
            &JobRequest {
                model: Some("nope".into()),
                ..request(2, 1)
            },
            10,
        )
        .unwrap()
        .unwrap();
    let JobEvent::Failed { error, .. } = wait_end(&mut rx, id) else {
        panic!("expected failure")
    };
    assert!(error.contains("no model named 'nope'"), "{error}");
    // The next job still runs.
    let ok = s.worker.submit(&request(2, 1), 10).unwrap().unwrap();
    assert!(matches!(wait_end(&mut rx, ok), JobEvent::Finished { .. }));
}

#[test]
fn the_queue_limit_refuses_new_jobs() {
    let s = setup();
    let _running = s.worker.submit(&request(200, 1), 1).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let _waiting = s.worker.submit(&request(2, 1), 1).unwrap().unwrap();
    assert_eq!(s.worker.submit(&request(2, 1), 1).unwrap(), None);
}
