//! The D-Bus interface over a real peer-to-peer connection (no bus daemon): a job
//! submitted over D-Bus runs on the real worker with the tiny model, and the client
//! sees progress signals with previews and the finished signal with the output path.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;

mod common;
use ra_daemon::service::{Service, ServiceSettings};
use ra_daemon::store::Store;
use ra_daemon::worker::{Worker, WorkerSettings};
use ra_daemon::{dbus, models};
use ra_engine::make_model::{MakeModel, OutputLayout, Preset};
use ra_wire::dbus::{error_code, DaemonProxy};
use ra_wire::{DaemonStatus, JobInfo, JobRequest, JobStatus, ModelInfo};

struct Setup {
    dir: tempfile::TempDir,
    service: Arc<Service>,
}

fn setup() -> Setup {
    setup_with(false)
}

/// `plugins`: also run the shipped plugins.
fn setup_with(plugins: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins.then(|| {
        let config = ra_plugins::PluginsConfig::under(dir.path(), Some(common::built_plugins().0.clone()));
        Arc::new(ra_plugins::Plugins::open(config, Arc::new(ra_plugins::NoModels)).unwrap())
    });
    let ckpts = dir.path().join("models/Stable-diffusion");
    std::fs::create_dir_all(&ckpts).unwrap();
    for (name, seed) in [("first", 1), ("second", 2)] {
        MakeModel {
            preset: Preset::Tiny,
            layout: OutputLayout::SingleFile,
            seed,
            dtype: ra_engine::candle::DType::F32,
        }
        .write(&ckpts.join(format!("{name}.safetensors")))
        .unwrap();
    }
    let roots = vec![dir.path().join("models")];
    let store = Arc::new(Store::open(&dir.path().join("ra.db")).unwrap());
    let found = models::scan(&roots, &store);
    let output_dir = dir.path().join("outputs");
    let worker = Worker::start(
        WorkerSettings {
            output_dir: output_dir.clone(),
            dtype: ra_engine::candle::DType::F32,
            default_model: None,
            networks: Default::default(),
            plugins,
            backends: Default::default(),
        },
        store,
        found,
        None,
    )
    .unwrap();
    let service = Arc::new(Service::new(
        Arc::new(worker),
        ServiceSettings {
            library: dir.path().join("library.sqlite"),
            input_dir: dir.path().join("inputs"),
            output_dir,
            models_dirs: roots,
            queue_limit: 8,
            max_image_side: 256,
        },
    ));
    Setup { dir, service }
}

/// A client proxy on one end of a socket pair whose other end the daemon serves.
async fn connect(service: Arc<Service>) -> (zbus::Connection, DaemonProxy<'static>) {
    let (server, client) = std::os::unix::net::UnixStream::pair().unwrap();
    let serve = tokio::spawn(dbus::serve_peer(server, service));
    let conn = zbus::connection::Builder::unix_stream(client)
        .p2p()
        .build()
        .await
        .unwrap();
    let _server_conn = serve.await.unwrap().unwrap();
    let proxy = DaemonProxy::new(&conn).await.unwrap();
    (conn, proxy)
}

fn tiny_job(steps: u32) -> JobRequest {
    JobRequest {
        prompt: "a lighthouse at dusk".into(),
        steps,
        width: 64,
        height: 64,
        seed: 42,
        ..JobRequest::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_submitted_over_dbus_reports_progress_and_its_output_path() {
    let s = setup();
    let (_conn, proxy) = connect(s.service.clone()).await;
    let mut progress = proxy.receive_progress().await.unwrap();
    let mut finished = proxy.receive_finished().await.unwrap();

    let id = proxy
        .submit(&serde_json::to_string(&tiny_job(3)).unwrap())
        .await
        .unwrap();

    let mut steps = Vec::new();
    while steps.len() < 3 {
        let signal = tokio::time::timeout(Duration::from_secs(120), progress.next())
            .await
            .expect("no progress signal")
            .unwrap();
        let args = signal.args().unwrap();
        assert_eq!((args.id, args.total), (id, 3));
        // The preview is a real PNG of the latent's size: 64 px / 8.
        let preview = ra_wire::png_text::decode_rgb(&args.preview_png).unwrap();
        assert_eq!((preview.width, preview.height), (8, 8));
        steps.push(args.step);
    }
    assert_eq!(steps, vec![1, 2, 3]);

    let signal = tokio::time::timeout(Duration::from_secs(120), finished.next())
        .await
        .expect("no finished signal")
        .unwrap();
    let args = signal.args().unwrap();
    assert_eq!(args.id, id);
    assert_eq!(args.outputs.len(), 1);
    let path = std::path::Path::new(&args.outputs[0]);
    assert!(path.starts_with(s.dir.path().join("outputs")), "{path:?}");
    let text = ra_wire::png_text::read_parameters(&std::fs::read(path).unwrap())
        .unwrap()
        .unwrap();
    assert!(text.starts_with("a lighthouse at dusk\n"), "{text}");
    assert!(text.contains("Seed: 42"), "{text}");

    let job: JobInfo = serde_json::from_str(&proxy.get_job(id).await.unwrap()).unwrap();
    assert_eq!(job.status, JobStatus::Done);
    let history: Vec<JobInfo> =
        serde_json::from_str(&proxy.list_jobs(0, 10).await.unwrap()).unwrap();
    assert_eq!(history.iter().map(|j| j.id).collect::<Vec<_>>(), vec![id]);
    let status: DaemonStatus = serde_json::from_str(&proxy.status().await.unwrap()).unwrap();
    assert_eq!(
        std::path::Path::new(&status.output_dir).join(&job.outputs[0]),
        path
    );

    // Deleting from the history takes the row and the image.
    proxy.delete_job(id).await.unwrap();
    assert!(!path.exists());
    assert_eq!(proxy.list_jobs(0, 10).await.unwrap(), "[]");
    let err = proxy.delete_job(id).await.unwrap_err();
    assert_eq!(error_code(&err).as_deref(), Some("no_such_job"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_status_and_refusals_over_dbus() {
    let s = setup();
    let (_conn, proxy) = connect(s.service.clone()).await;

    let models: Vec<ModelInfo> = serde_json::from_str(&proxy.list_models().await.unwrap()).unwrap();
    let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, vec!["first", "second"]);
    let title = proxy.switch_model("second").await.unwrap();
    assert_eq!(title, models[1].title);
    let status: DaemonStatus = serde_json::from_str(&proxy.status().await.unwrap()).unwrap();
    assert_eq!(status.model.as_deref(), Some(title.as_str()));
    assert_eq!(status.job, None);
    // The choice survives a restart: it is stored.
    assert_eq!(
        s.service
            .worker
            .shared
            .store
            .setting("sd_model_checkpoint")
            .unwrap(),
        Some(title)
    );

    let too_wide = serde_json::to_string(&JobRequest {
        width: 65,
        ..tiny_job(1)
    })
    .unwrap();
    let refusals: [(zbus::Error, &str); 6] = [
        (
            proxy.switch_model("nope").await.unwrap_err(),
            "no_such_model",
        ),
        (proxy.submit("{not json").await.unwrap_err(), "invalid_json"),
        (proxy.submit(&too_wide).await.unwrap_err(), "invalid_field"),
        (proxy.cancel(999).await.unwrap_err(), "no_such_job"),
        (proxy.get_job(999).await.unwrap_err(), "no_such_job"),
        (proxy.delete_job(999).await.unwrap_err(), "no_such_job"),
    ];
    for (err, code) in refusals {
        assert_eq!(error_code(&err).as_deref(), Some(code), "{err}");
        // The message is for people: it says what is wrong.
        assert!(err.to_string().len() > 20, "{err}");
    }
    let err = proxy.submit(&too_wide).await.unwrap_err();
    assert!(err.to_string().contains("width"), "{err}");
    // Nothing was queued by the refused calls.
    assert!(s.service.jobs(None, 10).unwrap().is_empty());
    assert_eq!(proxy.interrupt().await.unwrap(), -1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_are_managed_and_run_over_dbus() {
    let s = setup_with(true);
    let (_conn, proxy) = connect(s.service.clone()).await;
    let list: serde_json::Value = serde_json::from_str(&proxy.list_plugins().await.unwrap()).unwrap();
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"upscale") && ids.contains(&"invisible-watermark"), "{list}");

    // Mark an image through the watermark's own action path: settings, then read.
    proxy.set_plugin_settings("invisible-watermark", r#"{"text": "DBus"}"#).await.unwrap();
    let card = image::RgbImage::from_fn(256, 256, |x, y| image::Rgb([(x ^ y) as u8, (x * 3) as u8, (y * 5) as u8]));
    let mut png = std::io::Cursor::new(Vec::new());
    card.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let (json, images) = proxy
        .run_plugin_action("invisible-watermark", "read", r#"{"length": 4}"#, vec![png.into_inner()])
        .await
        .unwrap();
    assert!(images.is_empty());
    assert_ne!(serde_json::from_str::<serde_json::Value>(&json).unwrap()["text"], "DBus");

    let disabled: serde_json::Value =
        serde_json::from_str(&proxy.set_plugin_enabled("upscale", false).await.unwrap()).unwrap();
    assert_eq!(disabled["enabled"], false);

    // Errors carry the HTTP API's codes.
    let err = proxy.uninstall_plugin("upscale").await.unwrap_err();
    assert_eq!(error_code(&err).as_deref(), Some("plugin_bundled"));
    let junk = s.dir.path().join("junk.raplugin");
    std::fs::write(&junk, b"junk").unwrap();
    let err = proxy.install_plugin(junk.to_str().unwrap()).await.unwrap_err();
    assert_eq!(error_code(&err).as_deref(), Some("plugin_package"));
    let err = proxy.run_plugin_action("invisible-watermark", "read", "not json", Vec::new()).await.unwrap_err();
    assert_eq!(error_code(&err).as_deref(), Some("invalid_json"));
    let err = proxy.run_plugin_action("nobody", "read", "{}", Vec::new()).await.unwrap_err();
    assert_eq!(error_code(&err).as_deref(), Some("plugin_not_found"));
}
