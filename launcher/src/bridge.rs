//! The QML-facing `Launcher` object: a thin shell over `ra-launcher-core`. It holds the
//! translator, the skin and the settings for the window, runs the daemon's supervisor
//! and every D-Bus call on the tokio runtime, and hands each result back to the Qt
//! thread with `qt_thread().queue`, so the window never waits on the daemon.
//!
//! Structured values reach QML as JSON text (`jobJson`, `galleryJson`, …); QML parses
//! them in bindings. Messages stay [`Notice`]s until rendered, so a language switch
//! re-renders errors too.

#[cxx_qt::bridge]
pub mod qobject {
    unsafe extern "C++" {
        include!("cxx-qt-lib/qstring.h");
        type QString = cxx_qt_lib::QString;
    }

    unsafe extern "C++" {
        include!("ra_qt.h");
        /// Puts the image file at `path` on the clipboard; false if it is unreadable.
        #[namespace = "ra"]
        #[cxx_name = "copyImageToClipboard"]
        fn copy_image_to_clipboard(path: &QString) -> bool;
        /// Runs Qt Quick Test on the `tst_*.qml` files in `dir`; returns the failures.
        #[namespace = "ra"]
        #[cxx_name = "runQmlTests"]
        fn run_qml_tests(dir: &QString) -> i32;
    }

    extern "RustQt" {
        #[qobject]
        #[qml_element]
        #[qproperty(QString, locale)]
        #[qproperty(QString, daemon_text, cxx_name = "daemonText")]
        #[qproperty(bool, daemon_ready, cxx_name = "daemonReady")]
        #[qproperty(QString, skin_id, cxx_name = "skinId")]
        #[qproperty(QString, skin_json, cxx_name = "skinJson")]
        #[qproperty(QString, skin_notice, cxx_name = "skinNotice")]
        #[qproperty(QString, screenshot_dir, cxx_name = "screenshotDir")]
        #[qproperty(QString, models_json, cxx_name = "modelsJson")]
        #[qproperty(QString, job_json, cxx_name = "jobJson")]
        #[qproperty(QString, gallery_json, cxx_name = "galleryJson")]
        #[qproperty(QString, settings_json, cxx_name = "settingsJson")]
        #[qproperty(QString, folders_json, cxx_name = "foldersJson")]
        #[qproperty(QString, choices_json, cxx_name = "choicesJson")]
        #[qproperty(QString, notice)]
        #[qproperty(bool, show_welcome, cxx_name = "showWelcome")]
        #[qproperty(QString, form_json, cxx_name = "formJson")]
        #[qproperty(QString, img2img_image, cxx_name = "img2imgImage")]
        #[qproperty(QString, library_json, cxx_name = "libraryJson")]
        #[qproperty(QString, packs_json, cxx_name = "packsJson")]
        #[qproperty(QString, downloads_json, cxx_name = "downloadsJson")]
        #[qproperty(QString, updates_json, cxx_name = "updatesJson")]
        type Launcher = super::LauncherRust;

        /// The message `id` in the current language. QML passes `locale` so that its
        /// bindings re-evaluate when the language changes.
        #[qinvokable]
        fn tr(self: &Launcher, id: &QString, locale: &QString) -> QString;

        /// Like `tr`, with arguments as a JSON object (`{"step": 3}`).
        #[qinvokable]
        fn tra(self: &Launcher, id: &QString, args_json: &QString, locale: &QString) -> QString;

        #[qinvokable]
        #[cxx_name = "setLanguage"]
        fn set_language(self: Pin<&mut Launcher>, locale: &QString);

        #[qinvokable]
        #[cxx_name = "setSkin"]
        fn set_skin(self: Pin<&mut Launcher>, id: &QString);

        /// Starts (or adopts) the daemon; the state arrives in `daemonText`.
        #[qinvokable]
        fn start(self: Pin<&mut Launcher>);

        /// Submits the Generate or img2img form (JSON); progress arrives in `jobJson`.
        #[qinvokable]
        fn generate(self: Pin<&mut Launcher>, form_json: &QString);

        #[qinvokable]
        fn cancel(self: Pin<&mut Launcher>);

        /// "12/75", as A1111's counter shows.
        #[qinvokable]
        #[cxx_name = "countTokens"]
        fn count_tokens(self: &Launcher, text: &QString) -> QString;

        #[qinvokable]
        #[cxx_name = "switchModel"]
        fn switch_model(self: Pin<&mut Launcher>, title: &QString);

        #[qinvokable]
        #[cxx_name = "refreshGallery"]
        fn refresh_gallery(self: Pin<&mut Launcher>);

        /// Removes a job and its images from the history.
        #[qinvokable]
        #[cxx_name = "deleteJob"]
        fn delete_job(self: Pin<&mut Launcher>, id: f64);

        /// Loads an infotext into the Generate form (`formJson`).
        #[qinvokable]
        fn reuse(self: Pin<&mut Launcher>, infotext: &QString);

        /// The PNG's parameters as JSON `{path, parameters, form}` or `{error}`.
        #[qinvokable]
        #[cxx_name = "readPngInfo"]
        fn read_png_info(self: &Launcher, url: &QString) -> QString;

        #[qinvokable]
        #[cxx_name = "sendToImg2img"]
        fn send_to_img2img(self: Pin<&mut Launcher>, path: &QString);

        /// Copies an image to `dest_url`; returns an error message, empty on success.
        #[qinvokable]
        #[cxx_name = "saveImageAs"]
        fn save_image_as(self: Pin<&mut Launcher>, path: &QString, dest_url: &QString);

        #[qinvokable]
        #[cxx_name = "copyImage"]
        fn copy_image(self: Pin<&mut Launcher>, path: &QString);

        /// A byte count for people (`2.0 GB`).
        #[qinvokable]
        #[cxx_name = "sizeText"]
        fn size_text(self: &Launcher, bytes: f64) -> QString;

        /// The `file://` URL of the folder holding `path`.
        #[qinvokable]
        #[cxx_name = "folderUrl"]
        fn folder_url(self: &Launcher, path: &QString) -> QString;

        /// `path` (or a URL) as a properly escaped `file://` URL for QML images.
        #[qinvokable]
        #[cxx_name = "fileUrl"]
        fn file_url(self: &Launcher, path: &QString) -> QString;

        /// A `file://` URL from a dialog as a local path.
        #[qinvokable]
        #[cxx_name = "localPath"]
        fn local_path(self: &Launcher, url: &QString) -> QString;

        /// Saves the settings (JSON); returns an error message, empty on success. A
        /// change to what the daemon serves restarts it.
        #[qinvokable]
        #[cxx_name = "saveSettings"]
        fn save_settings(self: Pin<&mut Launcher>, settings_json: &QString) -> QString;

        /// Adds an A1111/ComfyUI install or a folder of checkpoints; returns an error
        /// message, empty on success.
        #[qinvokable]
        #[cxx_name = "addModelFolder"]
        fn add_model_folder(self: Pin<&mut Launcher>, url: &QString) -> QString;

        #[qinvokable]
        #[cxx_name = "closeWelcome"]
        fn close_welcome(self: Pin<&mut Launcher>);

        /// Scans the model folders and lists the library for a filter (JSON
        /// `{kind, category, tier, min_rating, text, sort}`); arrives in `libraryJson`.
        #[qinvokable]
        #[cxx_name = "refreshLibrary"]
        fn refresh_library(self: Pin<&mut Launcher>, filter_json: &QString);

        /// 1–5 stars; 0 clears.
        #[qinvokable]
        #[cxx_name = "rateModel"]
        fn rate_model(self: Pin<&mut Launcher>, id: f64, stars: i32);

        #[qinvokable]
        #[cxx_name = "setModelNote"]
        fn set_model_note(self: Pin<&mut Launcher>, id: f64, note: &QString);

        /// Deletes a model's file (and preview) from disk.
        #[qinvokable]
        #[cxx_name = "deleteModel"]
        fn delete_model(self: Pin<&mut Launcher>, id: f64);

        /// Reads every known pack manifest and the installed packs; arrives in `packsJson`.
        #[qinvokable]
        #[cxx_name = "refreshPacks"]
        fn refresh_packs(self: Pin<&mut Launcher>);

        /// Reads a manifest (file, `file://` URL or http(s) URL); when it is a valid pack,
        /// remembers it and shows its card.
        #[qinvokable]
        #[cxx_name = "addPackSource"]
        fn add_pack_source(self: Pin<&mut Launcher>, source: &QString);

        /// Downloads and installs the pack at `source`; progress arrives in `downloadsJson`.
        #[qinvokable]
        #[cxx_name = "installPack"]
        fn install_pack(self: Pin<&mut Launcher>, source: &QString);

        #[qinvokable]
        #[cxx_name = "removePack"]
        fn remove_pack(self: Pin<&mut Launcher>, id: &QString);

        /// `action` is `pause`, `resume` or `cancel`, for one file of one pack.
        #[qinvokable]
        #[cxx_name = "controlDownload"]
        fn control_download(self: Pin<&mut Launcher>, action: &QString, pack: &QString, file: &QString);

        #[qinvokable]
        #[cxx_name = "clearDownloads"]
        fn clear_downloads(self: Pin<&mut Launcher>);

        /// Saves the update URL and checks it; the answer arrives in `updatesJson`.
        #[qinvokable]
        #[cxx_name = "checkUpdates"]
        fn check_updates(self: Pin<&mut Launcher>, url: &QString);

        #[qinvokable]
        #[cxx_name = "installUpdate"]
        fn install_update(self: Pin<&mut Launcher>);

        #[qinvokable]
        #[cxx_name = "rollbackUpdate"]
        fn rollback_update(self: Pin<&mut Launcher>);
    }

    impl cxx_qt::Threading for Launcher {}
}

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use cxx_qt::{CxxQtType, Threading};
use cxx_qt_lib::QString;
use ra_launcher_core::downloads::Board;
use ra_launcher_core::files;
use ra_launcher_core::folders;
use ra_launcher_core::model_library::{ModelFilter, ModelLibrary};
use ra_launcher_core::pack_list;
use ra_launcher_core::updates::{UpdateView, Updates};
use ra_launcher_core::form::{GenerateForm, FILL_MODES, HIRES_UPSCALERS, RNG_SOURCES, SIZE_PRESETS};
use ra_launcher_core::i18n::{self, Translator};
use ra_launcher_core::job_view::{GalleryItem, JobView, Phase};
use ra_launcher_core::notice::Notice;
use ra_launcher_core::pnginfo;
use ra_launcher_core::session::{self, Models};
use ra_launcher_core::settings::{self, LauncherSettings};
use ra_launcher_core::skin::{self, Skin};
use ra_launcher_core::supervisor::{DaemonOptions, DaemonState, Supervisor};
use ra_launcher_core::tokens;
use ra_wire::dbus::DaemonProxy;
use ra_wire::{JobEvent, SamplerName, ScheduleType};
use serde_json::json;

type Qt = cxx_qt::CxxQtThread<qobject::Launcher>;

pub struct LauncherRust {
    locale: QString,
    daemon_text: QString,
    daemon_ready: bool,
    skin_id: QString,
    skin_json: QString,
    skin_notice: QString,
    /// Screenshot mode (`RA_SCREENSHOT_DIR`): the window photographs every page in
    /// each language and quits; the screenshot test and the docs use it.
    screenshot_dir: QString,
    models_json: QString,
    job_json: QString,
    gallery_json: QString,
    settings_json: QString,
    folders_json: QString,
    choices_json: QString,
    notice: QString,
    show_welcome: bool,
    form_json: QString,
    img2img_image: QString,
    library_json: QString,
    packs_json: QString,
    downloads_json: QString,
    updates_json: QString,
    translator: Option<Translator>,
    state: DaemonState,
    skin_error: Option<String>,
    started: bool,
    settings: LauncherSettings,
    settings_path: PathBuf,
    /// Why the settings file could not be used, until the user saves.
    settings_error: Option<Notice>,
    proxy: Option<DaemonProxy<'static>>,
    job: JobView,
    models: Models,
    last_notice: Option<Notice>,
    /// The Models page's last filter, for refreshing after a change.
    model_filter: ModelFilter,
    /// Pack cards by source, or why a source could not be read.
    packs: Vec<(String, Result<pack_list::PackCard, Notice>)>,
    /// The installed packs as last read (off the Qt thread).
    installed_packs: Result<Vec<ra_library::store::InstalledPack>, Notice>,
    /// Shared with the install threads, which report into it.
    board: Arc<Mutex<Board>>,
    updates: Result<Updates, Notice>,
    update_view: UpdateView,
    update_error: Option<Notice>,
    /// The update the last check found, ready to install.
    pending_update: Option<ra_library::update::VerifiedUpdate>,
    update_busy: bool,
}

fn skin_json(s: &Skin) -> String {
    json!({
        "id": s.id,
        "palette": {
            "window": s.palette.window, "surface": s.palette.surface, "text": s.palette.text,
            "muted": s.palette.muted, "accent": s.palette.accent,
            "accentText": s.palette.accent_text, "border": s.palette.border,
            "danger": s.palette.danger,
        },
        "fonts": {"family": s.fonts.family, "size": s.fonts.size},
        "radii": {"small": s.radii.small, "large": s.radii.large},
        "background": s.background.as_ref().map(|p| format!("file://{}", p.display())),
    })
    .to_string()
}

/// The fixed choices of the Generate page.
fn choices_json() -> String {
    json!({
        "samplers": SamplerName::ALL.map(SamplerName::a1111_name),
        "schedules": ScheduleType::ALL.map(ScheduleType::a1111_name),
        "sizes": SIZE_PRESETS.map(|(w, h)| json!({"width": w, "height": h})),
        "fillModes": FILL_MODES,
        "rngs": RNG_SOURCES,
        "hiresUpscalers": HIRES_UPSCALERS,
        "skins": skin::available(crate::user_skins().as_deref())
            .iter()
            .filter_map(|id| skin::load(id, crate::user_skins().as_deref()).ok())
            .map(|s| json!({"id": s.id, "zh-CN": s.name("zh-CN"), "en-US": s.name("en-US")}))
            .collect::<Vec<_>>(),
        "locales": i18n::LOCALES,
    })
    .to_string()
}

fn qs(s: &str) -> QString {
    QString::from(s)
}

impl Default for LauncherRust {
    fn default() -> Self {
        let settings_path = crate::settings_path();
        let (settings, settings_error) = LauncherSettings::load(&settings_path);
        let locale = if settings.language.is_empty() {
            i18n::system_locale()
        } else {
            i18n::negotiate(&[settings.language.as_str()])
        };
        let (skin, error) = skin::load_or_default(&settings.skin, crate::user_skins().as_deref());
        Self {
            locale: qs(locale),
            daemon_text: QString::default(),
            daemon_ready: false,
            skin_id: qs(&skin.id),
            skin_json: qs(&skin_json(&skin)),
            skin_notice: QString::default(),
            screenshot_dir: qs(&std::env::var("RA_SCREENSHOT_DIR").unwrap_or_default()),
            models_json: qs("{\"checkpoints\":[],\"current\":\"\",\"error\":\"\"}"),
            job_json: QString::default(),
            gallery_json: qs("[]"),
            settings_json: qs(&serde_json::to_string(&settings).unwrap_or_default()),
            folders_json: qs("[]"),
            choices_json: qs(&choices_json()),
            notice: QString::default(),
            show_welcome: !settings.welcomed,
            form_json: QString::default(),
            img2img_image: QString::default(),
            translator: Translator::new(locale).ok(),
            state: DaemonState::Starting,
            skin_error: error.map(|e| e.to_string()),
            started: false,
            settings,
            settings_path,
            settings_error,
            proxy: None,
            job: JobView::default(),
            models: Models::default(),
            last_notice: None,
            library_json: qs("{\"models\":[],\"categories\":[],\"skipped\":[]}"),
            packs_json: qs("{\"installed\":[],\"available\":[]}"),
            downloads_json: QString::default(),
            updates_json: QString::default(),
            model_filter: ModelFilter::default(),
            packs: Vec::new(),
            installed_packs: Ok(Vec::new()),
            board: Arc::default(),
            updates: Updates::for_this_launcher(),
            update_view: UpdateView::Idle,
            update_error: None,
            pending_update: None,
            update_busy: false,
        }
    }
}

impl LauncherRust {
    fn text(&self, id: &str, args: &[(&str, &str)]) -> String {
        self.translator
            .as_ref()
            .map_or_else(|| format!("[{id}]"), |t| t.tr(id, args))
    }

    fn render(&self, n: &Notice) -> String {
        self.translator
            .as_ref()
            .map_or_else(|| format!("[{}]", n.id), |t| n.render(t))
    }

    fn daemon_message(&self) -> String {
        match &self.state {
            DaemonState::Starting => self.text("daemon-starting", &[]),
            DaemonState::Running { .. } => self.text("daemon-running", &[]),
            DaemonState::Restarting { delay, reason, .. } => self.text(
                "daemon-restarting",
                &[
                    ("seconds", &delay.as_secs().max(1).to_string()),
                    ("reason", reason),
                ],
            ),
            DaemonState::Stopped => self.text("daemon-stopped", &[]),
        }
    }

    fn skin_message(&self) -> String {
        match (&self.skin_error, &self.settings_error) {
            (Some(reason), _) => self.text(
                "skin-broken",
                &[("skin", &self.skin_id.to_string()), ("reason", reason)],
            ),
            (None, Some(n)) => self.render(n),
            (None, None) => String::new(),
        }
    }

    fn job_json(&self) -> String {
        let mut v = serde_json::to_value(&self.job).unwrap_or_default();
        v["errorText"] = json!(self.job.error.as_ref().map(|e| self.render(e)));
        v.to_string()
    }

    fn models_json(&self) -> String {
        serde_json::to_string(&self.models).unwrap_or_default()
    }

    fn library(&self) -> ModelLibrary {
        ModelLibrary::new(&ra_wire::paths::data_dir(), self.settings.model_roots())
    }

    fn render_opt(&self, n: &Option<Notice>) -> String {
        n.as_ref().map(|n| self.render(n)).unwrap_or_default()
    }

    fn render_downloads(&self) -> String {
        let board = self.board.lock().unwrap_or_else(PoisonError::into_inner);
        let mut v = serde_json::to_value(board.view()).unwrap_or_default();
        for (task, json) in board.tasks().iter().zip(v["tasks"].as_array_mut().into_iter().flatten()) {
            json["errorText"] = json!(self.render_opt(&task.error));
        }
        v.to_string()
    }

    fn render_packs(&self) -> String {
        let available: Vec<serde_json::Value> = self
            .packs
            .iter()
            .map(|(source, card)| match card {
                Ok(c) => json!(c),
                Err(n) => json!({"source": source, "error": self.render(n)}),
            })
            .collect();
        json!({
            "installed": self.installed_packs.as_ref().map(|l| json!(l)).unwrap_or(json!([])),
            "error": self.installed_packs.as_ref().err().map(|n| self.render(n)),
            "available": available,
        })
        .to_string()
    }

    fn render_updates(&self) -> String {
        let updates = self.updates.as_ref();
        json!({
            "running": updates.map(|u| u.running().to_string()).unwrap_or_else(|_| env!("CARGO_PKG_VERSION").into()),
            "installation": updates.ok().and_then(Updates::installation).map(|i| i.root().display().to_string()),
            "hasPrevious": updates.is_ok_and(Updates::has_previous),
            "url": self.settings.update_url,
            "view": self.update_view,
            "busy": self.update_busy,
            "errorText": match &self.updates {
                Err(n) => self.render(n),
                Ok(u) => self.render_opt(&self.update_error.clone().or(u.updatable().err())),
            },
        })
        .to_string()
    }
}

impl qobject::Launcher {
    fn tr(&self, id: &QString, _locale: &QString) -> QString {
        qs(&self.rust().text(&id.to_string(), &[]))
    }

    fn tra(&self, id: &QString, args_json: &QString, _locale: &QString) -> QString {
        let args: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&args_json.to_string()).unwrap_or_default();
        let values: Vec<(String, String)> = args
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), String::from)))
            .collect();
        let refs: Vec<(&str, &str)> = values.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        qs(&self.rust().text(&id.to_string(), &refs))
    }

    /// Re-renders every text that Rust translates; QML's own bindings depend on
    /// `locale`.
    fn refresh_texts(mut self: Pin<&mut Self>) {
        let daemon = self.rust().daemon_message();
        let skin = self.rust().skin_message();
        let job = self.rust().job_json();
        let notice = self
            .rust()
            .last_notice
            .as_ref()
            .map(|n| self.rust().render(n))
            .unwrap_or_default();
        self.as_mut().set_daemon_text(qs(&daemon));
        self.as_mut().set_skin_notice(qs(&skin));
        self.as_mut().set_job_json(qs(&job));
        self.as_mut().set_notice(qs(&notice));
        self.as_mut().publish_library_pages();
    }

    /// Re-renders the packs, downloads and updates pages' JSON (their errors are notices).
    fn publish_library_pages(mut self: Pin<&mut Self>) {
        let packs = self.rust().render_packs();
        let downloads = self.rust().render_downloads();
        let updates = self.rust().render_updates();
        self.as_mut().set_packs_json(qs(&packs));
        self.as_mut().set_downloads_json(qs(&downloads));
        self.as_mut().set_updates_json(qs(&updates));
    }

    fn show_notice(mut self: Pin<&mut Self>, n: Option<Notice>) {
        self.as_mut().rust_mut().last_notice = n;
        self.refresh_texts();
    }

    fn set_job(mut self: Pin<&mut Self>, job: JobView) {
        self.as_mut().rust_mut().job = job;
        let text = self.rust().job_json();
        self.set_job_json(qs(&text));
    }

    /// Changes the settings, saves them (whole or not at all), and restarts the daemon
    /// when what it serves changed.
    fn update_settings(
        mut self: Pin<&mut Self>,
        change: impl FnOnce(&mut LauncherSettings),
    ) -> Result<(), Notice> {
        let mut new = self.rust().settings.clone();
        change(&mut new);
        if new == self.rust().settings {
            return Ok(());
        }
        new.save(&self.rust().settings_path)?;
        let restart = self.rust().settings.daemon_changed(&new);
        let json = serde_json::to_string(&new).unwrap_or_default();
        self.as_mut().rust_mut().settings_error = None;
        self.as_mut().rust_mut().settings = new;
        self.as_mut().set_settings_json(qs(&json));
        if restart && self.rust().started {
            self.as_mut().start_supervisor();
        }
        Ok(())
    }

    fn set_language(mut self: Pin<&mut Self>, locale: &QString) {
        let locale = locale.to_string();
        let Ok(t) = Translator::new(&locale) else {
            return;
        };
        self.as_mut().rust_mut().translator = Some(t);
        self.as_mut().set_locale(qs(&locale));
        let saved = self.as_mut().update_settings(|s| s.language = locale);
        self.show_notice(saved.err());
    }

    fn set_skin(mut self: Pin<&mut Self>, id: &QString) {
        let (skin, error) = skin::load_or_default(&id.to_string(), crate::user_skins().as_deref());
        self.as_mut().rust_mut().skin_error = error.map(|e| e.to_string());
        self.as_mut().set_skin_id(id.clone());
        self.as_mut().set_skin_json(qs(&skin_json(&skin)));
        let saved = self.as_mut().update_settings(|s| s.skin = id.to_string());
        self.show_notice(saved.err());
    }

    /// Runs `work` on the runtime and `done` with its result on the Qt thread.
    fn spawn<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = T> + Send + 'static,
        done: impl FnOnce(Pin<&mut qobject::Launcher>, T) + Send + 'static,
    ) {
        let qt = self.qt_thread();
        crate::runtime().spawn(async move {
            let value = work.await;
            let _ = qt.queue(move |obj| done(obj, value));
        });
    }

    /// The live connection, or a notice saying the daemon is not there yet.
    fn proxy(&self) -> Result<DaemonProxy<'static>, Notice> {
        self.rust().proxy.clone().ok_or_else(|| {
            Notice::new("error-daemon-unreachable").arg("detail", self.rust().daemon_message())
        })
    }

    fn start(mut self: Pin<&mut Self>) {
        if std::mem::replace(&mut self.as_mut().rust_mut().started, true) {
            return;
        }
        self.as_mut().refresh_folders();
        self.as_mut().relist();
        self.as_mut().refresh_packs();
        self.start_supervisor();
    }

    /// Looks for model folders again (RA's own, the added ones, usual installs).
    fn refresh_folders(self: Pin<&mut Self>) {
        let found = folders::discover(
            &settings::builtin_models_dir(),
            &self.rust().settings.model_dirs,
            &std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default(),
        );
        self.set_folders_json(qs(&serde_json::to_string(&found).unwrap_or_default()));
    }

    /// Starts the supervisor for the current settings (after stopping any previous one)
    /// and follows its states and connections.
    fn start_supervisor(mut self: Pin<&mut Self>) {
        let s = &self.rust().settings;
        let mut args = s.daemon_args();
        args.extend(crate::daemon_args());
        let options = match DaemonOptions::installed(args, s.daemon_env()) {
            Ok(o) => o,
            Err(e) => {
                self.as_mut().rust_mut().state = DaemonState::Restarting {
                    attempt: 0,
                    delay: std::time::Duration::ZERO,
                    reason: e.to_string(),
                };
                self.refresh_texts();
                return;
            }
        };
        let qt = self.qt_thread();
        let ticket = crate::start_ticket();
        crate::runtime().spawn(async move {
            let Some(_turn) = crate::restart_turn(ticket).await else {
                return;
            };
            if let Some(old) = crate::take_supervisor() {
                old.stop(false).await;
            }
            let supervisor = Supervisor::start(options);
            follow_states(qt.clone(), supervisor.state());
            follow_connections(qt, supervisor.connections());
            crate::keep_supervisor(supervisor);
        });
    }

    fn generate(mut self: Pin<&mut Self>, form_json: &QString) {
        if self.rust().job.busy() {
            return;
        }
        let form: GenerateForm = match serde_json::from_str(&form_json.to_string()) {
            Ok(f) => f,
            Err(e) => {
                let n = Notice::new("error-internal").arg("detail", e);
                return self.set_job(JobView::refused(n));
            }
        };
        let proxy = match self.proxy() {
            Ok(p) => p,
            Err(n) => return self.set_job(JobView::refused(n)),
        };
        self.as_mut().set_job(JobView::submitting());
        self.spawn(
            async move { session::submit(&proxy, &form).await },
            |mut obj, submitted| match submitted {
                Ok(id) => {
                    let mut job = obj.rust().job.clone();
                    let was_busy = job.busy();
                    job.set_id(id);
                    let finished = was_busy && job.phase == Phase::Done;
                    obj.as_mut().set_job(job);
                    if finished {
                        fetch_seeds(obj, id);
                    }
                }
                Err(n) => obj.set_job(JobView::refused(n)),
            },
        );
    }

    fn cancel(self: Pin<&mut Self>) {
        let (Some(id), Ok(proxy)) = (self.rust().job.id, self.proxy()) else {
            return;
        };
        self.spawn(async move { session::cancel(&proxy, id).await }, |obj, r| {
            obj.show_notice(r.err())
        });
    }

    fn count_tokens(&self, text: &QString) -> QString {
        let (n, limit) = tokens::count(&text.to_string());
        qs(&format!("{n}/{limit}"))
    }

    fn switch_model(self: Pin<&mut Self>, title: &QString) {
        let Ok(proxy) = self.proxy() else { return };
        let title = title.to_string();
        self.spawn(
            async move {
                session::switch_model(&proxy, &title).await?;
                session::models(&proxy).await
            },
            |obj, r| apply_models(obj, r),
        );
    }

    fn refresh_gallery(self: Pin<&mut Self>) {
        let Ok(proxy) = self.proxy() else { return };
        self.spawn(async move { session::gallery(&proxy).await }, apply_gallery);
    }

    fn delete_job(self: Pin<&mut Self>, id: f64) {
        let Ok(proxy) = self.proxy() else { return };
        let id = id as i64;
        self.spawn(
            async move {
                session::delete(&proxy, id).await?;
                session::gallery(&proxy).await
            },
            apply_gallery,
        );
    }

    fn reuse(mut self: Pin<&mut Self>, infotext: &QString) {
        match GenerateForm::from_infotext(&infotext.to_string()) {
            Ok(form) => {
                let json = serde_json::to_string(&form).unwrap_or_default();
                // Set it even when unchanged, so the page fills again.
                self.as_mut().set_form_json(QString::default());
                self.as_mut().set_form_json(qs(&json));
            }
            Err(n) => self.show_notice(Some(n)),
        }
    }

    fn read_png_info(&self, url: &QString) -> QString {
        let value = match pnginfo::read(&files::local_path(&url.to_string())) {
            Ok(info) => json!(info),
            Err(n) => json!({"error": self.rust().render(&n)}),
        };
        qs(&value.to_string())
    }

    fn send_to_img2img(mut self: Pin<&mut Self>, path: &QString) {
        self.as_mut().set_img2img_image(QString::default());
        self.set_img2img_image(path.clone());
    }

    fn save_image_as(self: Pin<&mut Self>, path: &QString, dest_url: &QString) {
        let src = files::local_path(&path.to_string());
        let dest = files::local_path(&dest_url.to_string());
        let result = files::save_copy(&src, &dest)
            .map(|saved| Notice::new("saved-to").arg("path", saved.display()));
        self.show_notice(Some(result.unwrap_or_else(|n| n)));
    }

    fn copy_image(self: Pin<&mut Self>, path: &QString) {
        let local = qs(&files::local_path(&path.to_string()).display().to_string());
        let n = if qobject::copy_image_to_clipboard(&local) {
            Notice::new("copied")
        } else {
            Notice::new("image-unreadable")
                .arg("path", path.to_string())
                .arg("detail", "")
        };
        self.show_notice(Some(n));
    }

    fn size_text(&self, bytes: f64) -> QString {
        qs(&files::size_text(bytes.max(0.0) as u64))
    }

    fn folder_url(&self, path: &QString) -> QString {
        qs(&files::folder_url(&files::local_path(&path.to_string())))
    }

    fn file_url(&self, path: &QString) -> QString {
        let path = path.to_string();
        if path.is_empty() {
            return QString::default();
        }
        qs(&files::file_url(&files::local_path(&path)))
    }

    fn local_path(&self, url: &QString) -> QString {
        qs(&files::local_path(&url.to_string()).display().to_string())
    }

    fn save_settings(mut self: Pin<&mut Self>, settings_json: &QString) -> QString {
        let new: LauncherSettings = match serde_json::from_str(&settings_json.to_string()) {
            Ok(s) => s,
            Err(e) => return qs(&e.to_string()),
        };
        if let Err(n) = self.as_mut().update_settings(|s| *s = new) {
            return qs(&self.rust().render(&n));
        }
        self.show_notice(Some(Notice::new("settings-saved")));
        QString::default()
    }

    fn add_model_folder(mut self: Pin<&mut Self>, url: &QString) -> QString {
        let folder = match folders::add(&files::local_path(&url.to_string())) {
            Ok(f) => f,
            Err(n) => return qs(&self.rust().render(&n)),
        };
        let added = self.as_mut().update_settings(|s| {
            if !s.model_dirs.contains(&folder.path) {
                s.model_dirs.push(folder.path);
            }
        });
        match added {
            Ok(()) => {
                self.as_mut().refresh_folders();
                self.show_notice(Some(Notice::new("settings-saved")));
                QString::default()
            }
            Err(n) => qs(&self.rust().render(&n)),
        }
    }

    /// Runs blocking `work` (disk, SQLite, HTTP) on the runtime's blocking pool and `done`
    /// with its result on the Qt thread.
    fn spawn_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, Notice> + Send + 'static,
        done: impl FnOnce(Pin<&mut qobject::Launcher>, Result<T, Notice>) + Send + 'static,
    ) {
        self.spawn(
            async move {
                tokio::task::spawn_blocking(work)
                    .await
                    .unwrap_or_else(|e| Err(Notice::new("error-internal").arg("detail", e)))
            },
            done,
        );
    }

    fn refresh_library(mut self: Pin<&mut Self>, filter_json: &QString) {
        if let Ok(f) = serde_json::from_str::<ModelFilter>(&filter_json.to_string()) {
            self.as_mut().rust_mut().model_filter = f;
        }
        self.relist();
    }

    /// Lists the library again with the last filter.
    fn relist(self: Pin<&mut Self>) {
        let (library, filter) = (self.rust().library(), self.rust().model_filter.clone());
        self.spawn_blocking(move || library.list(&filter), |obj, r| match r {
            Ok(l) => obj.set_library_json(qs(&serde_json::to_string(&l).unwrap_or_default())),
            Err(n) => obj.show_notice(Some(n)),
        });
    }

    /// Runs a change to the library, then shows its notice (if any) and lists again.
    fn change_library(
        self: Pin<&mut Self>,
        change: impl FnOnce(&ModelLibrary) -> Result<Option<Notice>, Notice> + Send + 'static,
    ) {
        let library = self.rust().library();
        self.spawn_blocking(move || change(&library), |mut obj, r| {
            obj.as_mut().show_notice(r.unwrap_or_else(Some));
            obj.as_mut().relist();
            obj.refresh_packs();
        });
    }

    fn rate_model(self: Pin<&mut Self>, id: f64, stars: i32) {
        let stars = u8::try_from(stars).unwrap_or(u8::MAX);
        self.change_library(move |l| l.rate(id as i64, stars).map(|()| None));
    }

    fn set_model_note(self: Pin<&mut Self>, id: f64, note: &QString) {
        let note = note.to_string();
        self.change_library(move |l| l.set_note(id as i64, &note).map(|()| None));
    }

    fn delete_model(self: Pin<&mut Self>, id: f64) {
        self.change_library(move |l| l.delete(id as i64).map(Some));
    }

    fn refresh_packs(self: Pin<&mut Self>) {
        let library = self.rust().library();
        let sources = self.rust().settings.pack_sources.clone();
        self.spawn_blocking(
            move || {
                let cards = sources.into_iter().map(|s| (s.clone(), pack_list::card(&library, &s))).collect();
                Ok((cards, pack_list::installed(&library)))
            },
            |mut obj, r: Result<(Vec<_>, _), Notice>| {
                if let Ok((cards, installed)) = r {
                    obj.as_mut().rust_mut().packs = cards;
                    obj.as_mut().rust_mut().installed_packs = installed;
                }
                obj.publish_library_pages();
            },
        );
    }

    fn add_pack_source(self: Pin<&mut Self>, source: &QString) {
        let library = self.rust().library();
        let source = match source.to_string().trim() {
            s if s.starts_with("file://") => files::local_path(s).display().to_string(),
            s => s.to_string(),
        };
        self.spawn_blocking(
            move || pack_list::card(&library, &source).map(|c| (source, c)),
            |mut obj, r| match r {
                Ok((source, card)) => {
                    let added = obj.as_mut().update_settings(|s| {
                        if !s.pack_sources.contains(&source) {
                            s.pack_sources.push(source.clone());
                        }
                    });
                    let mut rust = obj.as_mut().rust_mut();
                    rust.packs.retain(|(s, _)| *s != source);
                    rust.packs.push((source, Ok(card)));
                    obj.as_mut().show_notice(added.err());
                    obj.publish_library_pages();
                }
                Err(n) => obj.show_notice(Some(n)),
            },
        );
    }

    fn install_pack(self: Pin<&mut Self>, source: &QString) {
        let (library, board, source) = (self.rust().library(), self.rust().board.clone(), source.to_string());
        let (locale, qt) = (self.rust().locale.to_string(), self.qt_thread());
        self.spawn_blocking(
            move || install_pack(&library, &board, &source, &locale, &qt),
            |mut obj, r| {
                obj.as_mut().show_notice(Some(r.unwrap_or_else(|n| n)));
                obj.as_mut().relist();
                obj.as_mut().refresh_packs();
                let proxy = obj.rust().proxy.clone();
                refresh_models(obj.as_ref().get_ref(), proxy);
            },
        );
    }

    fn remove_pack(self: Pin<&mut Self>, id: &QString) {
        let id = id.to_string();
        self.change_library(move |l| pack_list::remove(l, &id).map(Some));
    }

    fn control_download(mut self: Pin<&mut Self>, action: &QString, pack: &QString, file: &QString) {
        let (pack, file) = (pack.to_string(), file.to_string());
        let rerun = 'rerun: {
            let mut board = self.rust().board.lock().unwrap_or_else(PoisonError::into_inner);
            match action.to_string().as_str() {
                "pause" => board.pause(&pack, &file),
                "cancel" => board.cancel(&pack, &file),
                "resume" if board.resume(&pack, &file) => break 'rerun board.retry_source(&pack),
                _ => {}
            }
            None
        };
        self.as_mut().publish_library_pages();
        if let Some(source) = rerun {
            self.install_pack(&qs(&source));
        }
    }

    fn clear_downloads(mut self: Pin<&mut Self>) {
        self.rust().board.lock().unwrap_or_else(PoisonError::into_inner).clear_finished();
        self.as_mut().publish_library_pages();
    }

    /// Runs an update step off the Qt thread, with the page showing it busy.
    fn update_step(
        mut self: Pin<&mut Self>,
        step: impl FnOnce(&Updates) -> Result<(UpdateView, Option<ra_library::update::VerifiedUpdate>), Notice>
            + Send
            + 'static,
    ) {
        let updates = match &self.rust().updates {
            Ok(u) => u.clone(),
            Err(_) => return,
        };
        if std::mem::replace(&mut self.as_mut().rust_mut().update_busy, true) {
            return;
        }
        self.as_mut().rust_mut().update_error = None;
        self.as_mut().publish_library_pages();
        self.spawn_blocking(move || step(&updates), |mut obj, r| {
            let mut rust = obj.as_mut().rust_mut();
            rust.update_busy = false;
            match r {
                Ok((view, pending)) => {
                    rust.update_view = view;
                    rust.pending_update = pending;
                }
                Err(n) => rust.update_error = Some(n),
            }
            obj.publish_library_pages();
        });
    }

    fn check_updates(mut self: Pin<&mut Self>, url: &QString) {
        let url = url.to_string().trim().to_string();
        if let Err(n) = self.as_mut().update_settings(|s| s.update_url = url.clone()) {
            return self.show_notice(Some(n));
        }
        let locale = self.rust().locale.to_string();
        self.update_step(move |u| u.check(&url, &locale));
    }

    fn install_update(mut self: Pin<&mut Self>) {
        let Some(update) = self.as_mut().rust_mut().pending_update.take() else { return };
        self.update_step(move |u| u.install(&update).map(|v| (v, None)));
    }

    fn rollback_update(self: Pin<&mut Self>) {
        self.update_step(|u| u.rollback().map(|v| (v, None)));
    }

    fn close_welcome(mut self: Pin<&mut Self>) {
        self.as_mut().set_show_welcome(false);
        let saved = self.as_mut().update_settings(|s| s.welcomed = true);
        if let Err(n) = saved {
            self.show_notice(Some(n));
        }
    }
}

/// How often an install's progress is pushed to the window.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// One pack install on a blocking thread: plan, register on the board, download with the
/// board's controls, record. Progress reaches the window at most every `PROGRESS_EVERY`.
fn install_pack(
    library: &ModelLibrary,
    board: &Mutex<Board>,
    source: &str,
    locale: &str,
    qt: &Qt,
) -> Result<Notice, Notice> {
    let plan = pack_list::plan(library, source)?;
    let id = plan.pack.id.clone();
    let controls = board.lock().unwrap_or_else(PoisonError::into_inner).begin(&plan, source)?;
    let publish = || {
        let _ = qt.queue(|obj: Pin<&mut qobject::Launcher>| {
            let json = obj.rust().render_downloads();
            obj.set_downloads_json(qs(&json));
        });
    };
    publish();
    let last = Mutex::new(Instant::now());
    let mut lib = library.open()?;
    let outcome = ra_library::install::install_with(&plan, &mut lib, Default::default(), &controls, |p| {
        board.lock().unwrap_or_else(PoisonError::into_inner).progress(&id, p);
        let mut last = last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.elapsed() >= PROGRESS_EVERY {
            *last = Instant::now();
            publish();
        }
    });
    let outcome = outcome.map_err(|e| Notice::from_library(&e));
    board
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .finish(&id, outcome.as_ref().map(drop).map_err(Clone::clone));
    publish();
    outcome.map(|done| {
        Notice::new("packs-installed")
            .arg("pack", plan.pack.display_name(locale))
            .arg("downloaded", done.downloaded)
    })
}

fn apply_gallery(obj: Pin<&mut qobject::Launcher>, r: Result<Vec<GalleryItem>, Notice>) {
    match r {
        Ok(items) => obj.set_gallery_json(qs(&serde_json::to_string(&items).unwrap_or_default())),
        Err(n) => obj.show_notice(Some(n)),
    }
}

fn apply_models(mut obj: Pin<&mut qobject::Launcher>, r: Result<Models, Notice>) {
    match r {
        Ok(m) => {
            obj.as_mut().rust_mut().models = m;
            let json = obj.rust().models_json();
            obj.set_models_json(qs(&json));
        }
        Err(n) => obj.show_notice(Some(n)),
    }
}

/// Mirrors the supervisor's state into `daemonText`/`daemonReady`.
fn follow_states(qt: Qt, mut states: tokio::sync::watch::Receiver<DaemonState>) {
    crate::runtime().spawn(async move {
        loop {
            let state = states.borrow_and_update().clone();
            let queued = qt.queue(move |mut obj: Pin<&mut qobject::Launcher>| {
                let ready = matches!(state, DaemonState::Running { .. });
                obj.as_mut().rust_mut().state = state;
                obj.as_mut().set_daemon_ready(ready);
                obj.refresh_texts();
            });
            if queued.is_err() || states.changed().await.is_err() {
                return;
            }
        }
    });
}

/// On each new connection: hand the proxy to the object, load models and the gallery,
/// and apply job signals until the connection goes.
fn follow_connections(
    qt: Qt,
    mut conns: tokio::sync::watch::Receiver<Option<zbus::Connection>>,
) {
    crate::runtime().spawn(async move {
        loop {
            let conn = conns.borrow_and_update().clone();
            let proxy = match &conn {
                Some(c) => DaemonProxy::new(c).await.ok(),
                None => None,
            };
            let events = match &proxy {
                Some(p) => session::events(p).await.ok(),
                None => None,
            };
            let _ = qt.queue(move |mut obj: Pin<&mut qobject::Launcher>| match proxy {
                Some(proxy) => {
                    obj.as_mut().rust_mut().proxy = Some(proxy.clone());
                    obj.as_mut().refresh_gallery();
                    refresh_models(obj.as_ref().get_ref(), Some(proxy));
                }
                None => lost_connection(obj),
            });
            if let Some(mut events) = events {
                use futures_util::StreamExt;
                loop {
                    tokio::select! {
                        e = events.next() => match e {
                            Some(e) => on_event(&qt, e),
                            None => {
                                // The connection closed under us: no proxy until the
                                // supervisor has a new one.
                                let _ = qt.queue(lost_connection);
                                break;
                            }
                        },
                        changed = conns.changed() => {
                            if changed.is_err() { return; }
                            continue;
                        }
                    }
                }
            }
            if conns.changed().await.is_err() {
                return;
            }
        }
    });
}

/// The daemon went away; a job it was running comes back `interrupted` after restart.
fn lost_connection(mut obj: Pin<&mut qobject::Launcher>) {
    obj.as_mut().rust_mut().proxy = None;
    if obj.rust().job.busy() {
        obj.set_job(JobView::refused(Notice::new("job-interrupted")));
    }
}

fn refresh_models(obj: &qobject::Launcher, proxy: Option<DaemonProxy<'static>>) {
    if let Some(proxy) = proxy {
        obj.spawn(async move { session::models(&proxy).await }, apply_models);
    }
}

fn on_event(qt: &Qt, event: JobEvent) {
    let _ = qt.queue(move |mut obj: Pin<&mut qobject::Launcher>| {
        let mut job = obj.rust().job.clone();
        let mine = job.apply(&event);
        if matches!(event, JobEvent::Finished { .. }) {
            obj.as_mut().refresh_gallery();
        }
        if !mine {
            // Keeps events held back until the submission's id arrives.
            obj.as_mut().rust_mut().job = job;
            return;
        }
        let finished = job.phase == Phase::Done;
        obj.as_mut().set_job(job);
        if finished {
            fetch_seeds(obj, event.job_id());
        }
    });
}

/// Reads a finished job's seeds and infotexts (for "reuse last seed" and the result).
fn fetch_seeds(obj: Pin<&mut qobject::Launcher>, id: i64) {
    let Ok(proxy) = obj.proxy() else { return };
    obj.spawn(
        async move {
            let info = proxy.get_job(id).await.ok()?;
            serde_json::from_str::<ra_wire::JobInfo>(&info).ok()
        },
        |obj, info| {
            let mut job = obj.rust().job.clone();
            if let Some(info) = info.filter(|i| job.id == Some(i.id)) {
                (job.seeds, job.infotexts) = (info.seeds, info.infotexts);
                obj.set_job(job);
            }
        },
    );
}
