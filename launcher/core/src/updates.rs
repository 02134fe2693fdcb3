//! The Updates page: the running version, a check of the signed update manifest at the
//! URL in settings, its release notes in the window's language, the install with its
//! start check and automatic rollback, and going back by hand. The rules are
//! `ra_library::update`'s (docs/UPDATES.md); this module picks the installation, the
//! key and the state folder, and turns outcomes into what the page shows.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ra_library::update::{
    self, Installation, Timestamp, UpdateCheck, UpdateConfig, UpdateKey, Updater, VerifiedUpdate, Version,
};
use serde::Serialize;

use crate::notice::Notice;

/// RA's release key (minisign). Only manifests signed by its secret half are acted on;
/// that half stays offline with the release managers (docs/UPDATES.md).
pub const RELEASE_KEY: &str = "RWQANLkDY80lRLD2o0S56Atyew1peYA10hMMQV2sF3AjDltyUXRyr5IO";

/// How long each new binary may take to report its version after an update.
const START_CHECK: Duration = Duration::from_secs(60);

/// What the page shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum UpdateView {
    /// Not checked yet.
    Idle,
    UpToDate { version: String },
    Available { version: String, notes: String },
    Installed { version: String, previous: String },
    RolledBack { version: String },
}

/// Where updates apply and what they are checked against.
#[derive(Debug, Clone)]
pub struct Updates {
    /// `None` when this copy runs from a build folder, not an installation.
    updater: Option<Updater>,
    running: Version,
    runs_from: PathBuf,
}

impl Updates {
    /// Updates for the binary at `exe`, checked with `key`, remembering accepted
    /// manifests in `state_dir`.
    pub fn new(key: &str, exe: &Path, state_dir: PathBuf, running: &str) -> Result<Self, Notice> {
        let key = UpdateKey::parse(key).map_err(|e| Notice::from_library(&e))?;
        let running = running.parse::<Version>().map_err(|e| Notice::from_library(&e))?;
        let updater = update::installation_of(exe).map(|i| Updater::new(key, i, state_dir, UpdateConfig::ra()));
        Ok(Updates { updater, running, runs_from: exe.to_path_buf() })
    }

    /// RA's own: the built-in key, the running launcher, the data folder for state.
    pub fn for_this_launcher() -> Result<Self, Notice> {
        let exe = std::env::current_exe().unwrap_or_default();
        Self::new(RELEASE_KEY, &exe, ra_wire::paths::data_dir(), env!("CARGO_PKG_VERSION"))
    }

    pub fn running(&self) -> &Version {
        &self.running
    }

    /// The installation's root, when this copy is an installed one.
    pub fn installation(&self) -> Option<&Installation> {
        self.updater.as_ref().map(Updater::installation)
    }

    /// Whether a version to go back to is kept.
    pub fn has_previous(&self) -> bool {
        self.installation().is_some_and(|i| i.previous().ok().flatten().is_some())
    }

    /// Why this copy cannot be updated here, if it cannot.
    pub fn updatable(&self) -> Result<(), Notice> {
        self.updater().map(drop)
    }

    fn updater(&self) -> Result<&Updater, Notice> {
        self.updater.as_ref().ok_or_else(|| {
            Notice::new("update-from-build").arg("path", self.runs_from.display())
        })
    }

    /// Fetches and checks the manifest at `url`; a newer version comes back with its
    /// notes in `locale`.
    pub fn check(&self, url: &str, locale: &str) -> Result<(UpdateView, Option<VerifiedUpdate>), Notice> {
        let url = url.trim();
        if url.is_empty() {
            return Err(Notice::new("update-url-empty"));
        }
        let updater = self.updater()?;
        let (manifest, signature) = update::fetch_manifest(url).map_err(|e| Notice::from_library(&e))?;
        match updater.check(&manifest, &signature, Timestamp::now()).map_err(|e| Notice::from_library(&e))? {
            UpdateCheck::UpToDate { version } => Ok((UpdateView::UpToDate { version: version.to_string() }, None)),
            UpdateCheck::Available(u) => {
                let notes = u.manifest().notes_for(locale).unwrap_or_default().to_string();
                Ok((UpdateView::Available { version: u.version().to_string(), notes }, Some(u)))
            }
        }
    }

    /// Downloads, verifies and switches to `update`, then starts the new daemon and
    /// launcher once each (`--version`); if either does not report the new version, the
    /// previous version is restored.
    pub fn install(&self, update: &VerifiedUpdate) -> Result<UpdateView, Notice> {
        let installed = self
            .updater()?
            .install_and_check(
                update,
                update::download_artefacts(),
                |dir: &Path| {
                    update::reports_version("ra-daemon", update.version(), START_CHECK)(dir)?;
                    update::reports_version("ra-launcher", update.version(), START_CHECK)(dir)
                },
            )
            .map_err(|e| Notice::from_library(&e))?;
        Ok(UpdateView::Installed { version: installed.version.to_string(), previous: installed.previous.to_string() })
    }

    pub fn rollback(&self) -> Result<UpdateView, Notice> {
        let version = self.updater()?.rollback().map_err(|e| Notice::from_library(&e))?;
        Ok(UpdateView::RolledBack { version: version.to_string() })
    }
}
