//! The QML-facing `Launcher` object: a thin shell over `ra-launcher-core`. It holds the
//! translator and the skin for the window, starts the daemon's supervisor on the tokio
//! runtime, and hands each state change back to the Qt thread with `qt_thread().queue`.

#[cxx_qt::bridge]
pub mod qobject {
    unsafe extern "C++" {
        include!("cxx-qt-lib/qstring.h");
        type QString = cxx_qt_lib::QString;
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
        type Launcher = super::LauncherRust;

        /// The message `id` in the current language. QML passes `locale` so that its
        /// bindings re-evaluate when the language changes.
        #[qinvokable]
        fn tr(self: &Launcher, id: &QString, locale: &QString) -> QString;

        #[qinvokable]
        #[cxx_name = "setLanguage"]
        fn set_language(self: Pin<&mut Launcher>, locale: &QString);

        #[qinvokable]
        #[cxx_name = "setSkin"]
        fn set_skin(self: Pin<&mut Launcher>, id: &QString);

        /// Starts (or adopts) the daemon; the state arrives in `daemonText`.
        #[qinvokable]
        fn start(self: Pin<&mut Launcher>);
    }

    impl cxx_qt::Threading for Launcher {}
}

use std::pin::Pin;

use cxx_qt::{CxxQtType, Threading};
use cxx_qt_lib::QString;
use ra_launcher_core::i18n::{self, Translator};
use ra_launcher_core::skin::{self, Skin};
use ra_launcher_core::supervisor::{DaemonOptions, DaemonState, Supervisor};

pub struct LauncherRust {
    locale: QString,
    daemon_text: QString,
    daemon_ready: bool,
    skin_id: QString,
    skin_json: QString,
    skin_notice: QString,
    /// Screenshot mode (`RA_SCREENSHOT_DIR`): the window photographs itself in each
    /// language and quits; the screenshot test and the docs use it.
    screenshot_dir: QString,
    translator: Option<Translator>,
    state: DaemonState,
    skin_error: Option<String>,
    started: bool,
}

fn skin_json(s: &Skin) -> String {
    serde_json::json!({
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

impl Default for LauncherRust {
    fn default() -> Self {
        let locale = i18n::system_locale();
        let (skin, error) = skin::load_or_default(skin::DEFAULT_SKIN, None);
        Self {
            locale: QString::from(locale),
            daemon_text: QString::default(),
            daemon_ready: false,
            skin_id: QString::from(skin.id.as_str()),
            skin_json: QString::from(skin_json(&skin).as_str()),
            skin_notice: QString::default(),
            screenshot_dir: QString::from(
                std::env::var("RA_SCREENSHOT_DIR")
                    .unwrap_or_default()
                    .as_str(),
            ),
            translator: Translator::new(locale).ok(),
            state: DaemonState::Starting,
            skin_error: error.map(|e| e.to_string()),
            started: false,
        }
    }
}

impl LauncherRust {
    fn text(&self, id: &str, args: &[(&str, &str)]) -> String {
        self.translator
            .as_ref()
            .map_or_else(|| format!("[{id}]"), |t| t.tr(id, args))
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
        match &self.skin_error {
            Some(reason) => self.text(
                "skin-broken",
                &[("skin", &self.skin_id.to_string()), ("reason", reason)],
            ),
            None => String::new(),
        }
    }
}

impl qobject::Launcher {
    fn tr(&self, id: &QString, _locale: &QString) -> QString {
        QString::from(self.rust().text(&id.to_string(), &[]).as_str())
    }

    /// Re-renders every translated text: each binding depends on `locale`.
    fn refresh_texts(mut self: Pin<&mut Self>) {
        let daemon = self.rust().daemon_message();
        let notice = self.rust().skin_message();
        self.as_mut()
            .set_daemon_text(QString::from(daemon.as_str()));
        self.as_mut()
            .set_skin_notice(QString::from(notice.as_str()));
    }

    fn set_language(mut self: Pin<&mut Self>, locale: &QString) {
        let locale = locale.to_string();
        if let Ok(t) = Translator::new(&locale) {
            self.as_mut().rust_mut().translator = Some(t);
            self.as_mut().set_locale(QString::from(locale.as_str()));
            self.refresh_texts();
        }
    }

    fn set_skin(mut self: Pin<&mut Self>, id: &QString) {
        let (skin, error) = skin::load_or_default(&id.to_string(), crate::user_skins().as_deref());
        self.as_mut().rust_mut().skin_error = error.map(|e| e.to_string());
        self.as_mut().set_skin_id(id.clone());
        self.as_mut()
            .set_skin_json(QString::from(skin_json(&skin).as_str()));
        self.refresh_texts();
    }

    fn start(mut self: Pin<&mut Self>) {
        if std::mem::replace(&mut self.as_mut().rust_mut().started, true) {
            return;
        }
        let options = match DaemonOptions::installed(crate::daemon_args()) {
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
        let runtime = crate::runtime();
        let _guard = runtime.enter();
        let supervisor = Supervisor::start(options);
        let mut states = supervisor.state();
        let qt = self.qt_thread();
        runtime.spawn(async move {
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
        crate::keep_supervisor(supervisor);
        self.refresh_texts();
    }
}
