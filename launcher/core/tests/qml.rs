//! The pages' behaviour in Qt Quick Test (`qml/tests/tst_*.qml`), run by the real
//! `ra-launcher --qml-test` on the offscreen platform, with the real `Launcher` object
//! talking peer-to-peer D-Bus to a scripted fake daemon served from this test.
//!
//! The fake speaks `org.ra_studio.Daemon1` as the real daemon does, and its prompts are
//! its script: "refuse" → an `InvalidField` error, "fail" → a `Failed` signal, "slow" →
//! slow steps (for cancelling). Every other job runs its steps, sends a small preview
//! each step, and finishes with a real PNG whose infotext names its parameters.

mod common;
#[path = "../../../library/tests/support/safetensors.rs"]
mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::binary;
use ra_wire::{DaemonStatus, JobInfo, JobRequest, JobStatus, ModelInfo, ModelKind, PngImage};
use zbus::object_server::SignalEmitter;

const MODELS: [&str; 2] = ["tiny.safetensors [0000000001]", "other.safetensors [0000000002]"];

#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "org.ra_studio.Daemon1.Error")]
enum FakeError {
    #[zbus(error)]
    ZBus(zbus::Error),
    InvalidField(String),
    InvalidJson(String),
    NoSuchJob(String),
    NotCancellable(String),
    JobActive(String),
    NoSuchModel(String),
}

#[derive(Default)]
struct State {
    next: i64,
    jobs: HashMap<i64, JobInfo>,
    cancel: Vec<i64>,
    model: usize,
    peers: Vec<zbus::Connection>,
}

#[derive(Clone)]
struct Fake {
    state: Arc<Mutex<State>>,
    out: PathBuf,
}

impl Fake {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Sends a signal to every connected launcher.
    async fn broadcast(&self, f: impl Fn(SignalEmitter<'static>) -> futures_util::future::BoxFuture<'static, ()>) {
        let peers = self.state().peers.clone();
        for conn in peers {
            if let Ok(e) = SignalEmitter::new(&conn, ra_wire::dbus::OBJECT_PATH) {
                f(e.into_owned()).await;
            }
        }
    }

    async fn run(self, id: i64, req: JobRequest) {
        use futures_util::FutureExt;
        self.broadcast(|e| async move { let _ = Fake::started(&e, id).await; }.boxed()).await;
        let pause = if req.prompt.contains("slow") { 400 } else { 120 };
        let preview = PngImage::new(8, 8, vec![90; 192]).unwrap().encode(None).unwrap();
        for step in 1..=req.steps {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            if self.state().cancel.contains(&id) {
                self.end(id, JobStatus::Cancelled, None, Vec::new());
                self.broadcast(|e| async move { let _ = Fake::cancelled(&e, id).await; }.boxed()).await;
                return;
            }
            let (total, png) = (req.steps, preview.clone());
            let eta = f64::from(req.steps - step) * pause as f64 / 1000.0;
            self.broadcast(move |e| {
                let png = png.clone();
                async move { let _ = Fake::progress(&e, id, step, total, eta, &png).await; }.boxed()
            })
            .await;
        }
        if req.prompt.contains("fail") {
            self.end(id, JobStatus::Failed, Some("out of memory (fake)".into()), Vec::new());
            self.broadcast(|e| async move { let _ = Fake::failed(&e, id, "out of memory (fake)").await; }.boxed()).await;
            return;
        }
        let mut infotext = format!(
            "{}\nSteps: {}, Sampler: {}, CFG scale: {}, Seed: {}, Size: {}x{}",
            req.prompt, req.steps, req.sampler, req.cfg_scale, 1000 + id, req.width, req.height
        );
        if let Some(s) = req.denoising_strength {
            infotext.push_str(&format!(", Denoising strength: {s}"));
        }
        if req.rng != "GPU" {
            infotext.push_str(&format!(", RNG: {}", req.rng));
        }
        if req.enable_hr {
            infotext.push_str(&format!(", Hires upscale: {}", req.hr_scale));
        }
        if req.mask.as_deref().is_some_and(|m| m.starts_with("data:image/png;base64,")) {
            infotext.push_str(&format!(", Mask blur: {}", req.mask_blur));
        }
        let file = format!("{id:05}.png");
        let png = PngImage::new(16, 16, vec![200; 768]).unwrap().encode(Some(&infotext)).unwrap();
        std::fs::write(self.out.join(&file), png).unwrap();
        {
            let mut st = self.state();
            let job = st.jobs.get_mut(&id).unwrap();
            job.seeds = vec![1000 + id as u64];
            job.infotexts = vec![infotext];
        }
        self.end(id, JobStatus::Done, None, vec![file.clone()]);
        let path = self.out.join(file).display().to_string();
        self.broadcast(move |e| {
            let path = path.clone();
            async move { let _ = Fake::finished(&e, id, vec![path]).await; }.boxed()
        })
        .await;
    }

    fn end(&self, id: i64, status: JobStatus, error: Option<String>, outputs: Vec<String>) {
        let mut st = self.state();
        let job = st.jobs.get_mut(&id).unwrap();
        (job.status, job.error, job.outputs) = (status, error, outputs);
    }

    fn job(&self, id: i64) -> Result<JobInfo, FakeError> {
        self.state()
            .jobs
            .get(&id)
            .cloned()
            .ok_or_else(|| FakeError::NoSuchJob(format!("no job {id}")))
    }
}

#[zbus::interface(name = "org.ra_studio.Daemon1")]
impl Fake {
    async fn submit(&self, request_json: String) -> Result<i64, FakeError> {
        let req: JobRequest =
            serde_json::from_str(&request_json).map_err(|e| FakeError::InvalidJson(e.to_string()))?;
        if req.prompt.contains("refuse") {
            return Err(FakeError::InvalidField("prompt: the fake daemon refuses this prompt".into()));
        }
        let id = {
            let mut st = self.state();
            st.next += 1;
            let id = st.next;
            st.jobs.insert(
                id,
                JobInfo {
                    id,
                    status: JobStatus::Running,
                    request: req.clone(),
                    created_at: id as f64,
                    started_at: None,
                    finished_at: None,
                    error: None,
                    outputs: Vec::new(),
                    seeds: Vec::new(),
                    infotexts: Vec::new(),
                    position: None,
                },
            );
            id
        };
        tokio::spawn(self.clone().run(id, req));
        Ok(id)
    }

    async fn cancel(&self, id: i64) -> Result<(), FakeError> {
        let job = self.job(id)?;
        if job.status.is_final() {
            return Err(FakeError::NotCancellable(format!("job {id} is not queued or running")));
        }
        self.state().cancel.push(id);
        Ok(())
    }

    async fn interrupt(&self) -> i64 {
        -1
    }

    async fn skip(&self) -> i64 {
        -1
    }

    async fn delete_job(&self, id: i64) -> Result<(), FakeError> {
        let job = self.job(id)?;
        if !job.status.is_final() {
            return Err(FakeError::JobActive(format!("job {id} is still running")));
        }
        for f in &job.outputs {
            std::fs::remove_file(self.out.join(f)).unwrap();
        }
        self.state().jobs.remove(&id);
        Ok(())
    }

    async fn get_job(&self, id: i64) -> Result<String, FakeError> {
        Ok(serde_json::to_string(&self.job(id)?).unwrap())
    }

    async fn list_jobs(&self, _before: i64, limit: u32) -> String {
        let mut jobs: Vec<JobInfo> = self.state().jobs.values().cloned().collect();
        jobs.sort_by_key(|j| -j.id);
        jobs.truncate(limit as usize);
        serde_json::to_string(&jobs).unwrap()
    }

    async fn list_models(&self) -> String {
        let models: Vec<ModelInfo> = MODELS
            .iter()
            .map(|title| ModelInfo {
                kind: ModelKind::Checkpoint,
                name: title.split('.').next().unwrap().into(),
                title: title.to_string(),
                path: format!("/models/{title}"),
                size: 1,
                sha256: None,
            })
            .collect();
        serde_json::to_string(&models).unwrap()
    }

    async fn refresh_models(&self) -> u32 {
        MODELS.len() as u32
    }

    async fn switch_model(&self, name: String) -> Result<String, FakeError> {
        let i = MODELS
            .iter()
            .position(|m| *m == name)
            .ok_or_else(|| FakeError::NoSuchModel(format!("no checkpoint named '{name}'")))?;
        self.state().model = i;
        Ok(MODELS[i].to_string())
    }

    async fn status(&self) -> String {
        let status = DaemonStatus {
            version: "fake".into(),
            model: Some(MODELS[self.state().model].to_string()),
            output_dir: self.out.display().to_string(),
            ..Default::default()
        };
        serde_json::to_string(&status).unwrap()
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
    async fn finished(emitter: &SignalEmitter<'_>, id: i64, outputs: Vec<String>) -> zbus::Result<()>;
    #[zbus(signal)]
    async fn failed(emitter: &SignalEmitter<'_>, id: i64, error: &str) -> zbus::Result<()>;
    #[zbus(signal)]
    async fn cancelled(emitter: &SignalEmitter<'_>, id: i64) -> zbus::Result<()>;
}

/// Serves the fake on `socket` until the test ends.
async fn serve(socket: &Path, fake: Fake) {
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    let listener = tokio::net::UnixListener::bind(socket).unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let Ok(stream) = stream.into_std() else { continue };
            let conn = zbus::connection::Builder::unix_stream(stream)
                .server(zbus::Guid::generate())
                .p2p()
                .serve_at(ra_wire::dbus::OBJECT_PATH, fake.clone())
                .build()
                .await;
            if let Ok(conn) = conn {
                fake.state().peers.push(conn);
            }
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_behaves_against_a_fake_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("run");
    let out = dir.path().join("outputs");
    for d in [&runtime, &out] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::set_permissions(&runtime, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let fake = Fake {
        state: Arc::default(),
        out: out.clone(),
    };
    serve(&runtime.join("ra/daemon.sock"), fake.clone()).await;

    // A LoRA in RA's own models folder, for the Models page's test.
    let lora = dir.path().join("data/ra/models/Lora/inked.safetensors");
    std::fs::create_dir_all(lora.parent().unwrap()).unwrap();
    std::fs::write(&lora, support::lora(4, 0)).unwrap();

    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../qml/tests");
    let run = tokio::process::Command::new(binary("ra-launcher"))
        .arg("--qml-test")
        .arg(&tests)
        .env("QT_QPA_PLATFORM", "offscreen")
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LANGUAGE")
        .env("HOME", dir.path())
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        // Adopting the fake's socket comes first; this binary is never started.
        .env("RA_DAEMON", "/bin/false")
        .kill_on_drop(true)
        .output();
    let result = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("the QML tests hung")
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(result.status.success(), "{log}");
    assert!(log.contains(", 0 failed,"), "{log}");
    for bad in ["QWARN", "ReferenceError", "TypeError", "Binding loop", "Unable to assign"] {
        assert!(!log.contains(bad), "a QML test logged a problem:\n{log}");
    }
    // What the pages did reached the daemon: the gallery test deleted its job's image.
    let st = fake.state();
    assert!(st.jobs.len() >= 4, "{:?}", st.jobs.keys());
    let left: Vec<_> = std::fs::read_dir(&out).unwrap().flatten().collect();
    let done = st.jobs.values().filter(|j| j.status == JobStatus::Done).count();
    assert_eq!(left.len(), done, "deleted images are gone, the others remain");
}
