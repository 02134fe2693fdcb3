//! Signed updates: the launcher fetches a manifest and its minisign signature from the
//! update URL in settings, [`Updater::check`] decides whether it may be acted on,
//! [`Updater::install_and_check`] swaps the new binaries in and rolls back if the new
//! version does not start, and [`Updater::rollback`] returns to the previous version on
//! request. Downloading is the caller's: artefacts arrive through a `fetch(artefact,
//! dest)` closure ([`copy_from_dir`] for files already on disk).
//!
//! # The manifest
//!
//! TOML, signed as it is: the signature is a separate minisign `.minisig` file over the
//! exact bytes (published next to the manifest as `<manifest URL>.minisig`), so what was
//! signed is what is parsed. Version, issue and expiry times and the artefact hashes are
//! all inside the signed bytes; minisign's own "trusted comment" is not relied on.
//!
//! ```toml
//! format = 1                                 # refused if newer than this launcher knows
//! version = "0.2.0"                          # MAJOR.MINOR.PATCH[-pre]
//! issued = 2026-03-01T08:00:00Z              # TOML date-times with an offset (RFC 3339)
//! expires = 2026-03-31T08:00:00Z
//!
//! [notes]                                    # optional, per locale
//! zh-CN = "修复了……"
//! en-US = "Fixes …"
//!
//! [[artefacts]]                              # every release carries every binary of
//! name = "ra-daemon"                         # UpdateConfig::binaries
//! url = "https://updates.example.org/ra/0.2.0/ra-daemon"
//! sha256 = "…64 hex digits…"
//! size = 48213504                            # bytes
//!
//! [[artefacts]]
//! name = "ra-launcher"
//! url = "https://updates.example.org/ra/0.2.0/ra-launcher"
//! sha256 = "…"
//! size = 30512128
//! ```
//!
//! # What is refused, in the order it is checked
//!
//! 1. a signature by another key ([`LibraryError::UpdateWrongKey`]), one that does not
//!    match the bytes ([`LibraryError::UpdateTampered`]), one that is not a minisign
//!    signature at all ([`LibraryError::UpdateSignatureUnreadable`]);
//! 2. a signed manifest that is malformed, of a newer format, or missing a binary
//!    ([`LibraryError::UpdateManifest`]);
//! 3. an expired one: `expires` not after `now` ([`LibraryError::UpdateExpired`]);
//! 4. a replayed one: issued before the last accepted manifest, or at the same time but
//!    for another version ([`LibraryError::UpdateReplayed`]);
//! 5. a version older than the installed one ([`LibraryError::UpdateDowngrade`]); the same
//!    version is not an error but [`UpdateCheck::UpToDate`], because a launcher that polls
//!    gets the same manifest back every day until the next release;
//! 6. a version newer than the installed one but not newer than the last accepted one,
//!    i.e. one installed before and rolled back ([`LibraryError::UpdateRolledBack`]): a
//!    release that failed to start is not retried on every launch; a fixed one comes as a
//!    newer version;
//! 7. at install, an artefact whose size or sha256 differs from the manifest
//!    ([`LibraryError::UpdateArtefactSize`], [`LibraryError::UpdateArtefactHash`]).
//!
//! The last accepted manifest (version, issued) is kept in `<state dir>/update-state.toml`
//! and written when an update is switched to, before its health check, so that a version
//! that fails its check counts as tried.
//!
//! # The swap
//!
//! Versions live side by side, `<install>/versions/<version>/`, with symlinks `current`
//! and `previous` (see [`Installation`]). This layout was chosen over renaming each binary
//! to `<name>.previous` because RA ships more than one binary and they must change
//! together: one rename of `current` switches the daemon and the launcher at once, where
//! per-file renames could leave a new daemon beside an old launcher if interrupted. It
//! also never touches the files of the running launcher, which keeps running from its
//! own version directory until it restarts through `current`. It needs symlinks, so it is
//! Unix-only, like the rest of RA's packaging.
//!
//! Every artefact is fetched into a hidden staging directory and checked (size, then
//! sha256) there, after the fetch and before anything is switched, so the bytes checked
//! are the bytes installed. Each following step is one atomic rename; [`Installation`]
//! lists what an interruption leaves.

mod durable;
mod fetch;
mod health;
mod install;
mod manifest;
mod signature;
mod state;
mod timestamp;
mod version;

use std::path::{Path, PathBuf};

pub use fetch::{download_artefacts, fetch_manifest, installation_of};
pub use health::reports_version;
pub use install::Installation;
pub use manifest::{Artefact, Manifest, FORMAT};
pub use signature::UpdateKey;
pub use state::{Accepted, FILE_NAME as STATE_FILE_NAME};
pub use timestamp::Timestamp;
pub use version::Version;

use crate::error::{LibraryError, Result};
use crate::hash::sha256_file;

/// What an installation of RA consists of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateConfig {
    /// Files every release must carry. A manifest without one of them is refused, so a
    /// version directory never holds half a release.
    pub binaries: Vec<String>,
}

impl UpdateConfig {
    /// RA's desktop install: the daemon and the launcher.
    pub fn ra() -> UpdateConfig {
        UpdateConfig { binaries: vec!["ra-daemon".into(), "ra-launcher".into()] }
    }
}

/// The answer to [`Updater::check`] when nothing is wrong.
#[derive(Debug, Clone)]
pub enum UpdateCheck {
    /// The manifest offers the installed version.
    UpToDate { version: Version },
    /// A newer version, verified and ready for [`Updater::install`].
    Available(VerifiedUpdate),
}

/// A manifest that passed every check of [`Updater::check`]. Only `check` makes one, so
/// `install` cannot be handed a manifest that was not verified.
#[derive(Debug, Clone)]
pub struct VerifiedUpdate {
    manifest: Manifest,
}

impl VerifiedUpdate {
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn version(&self) -> &Version {
        &self.manifest.version
    }
}

/// What an install did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub version: Version,
    /// Kept as `previous`; what a rollback returns to.
    pub previous: Version,
}

/// Checks manifests against a built-in key and the state of one installation, and
/// installs or rolls back versions there.
#[derive(Debug, Clone)]
pub struct Updater {
    key: UpdateKey,
    installation: Installation,
    state_dir: PathBuf,
    config: UpdateConfig,
}

impl Updater {
    /// `state_dir` holds the update state (the last accepted manifest); it may be inside
    /// the install or the launcher's own state directory.
    pub fn new(key: UpdateKey, installation: Installation, state_dir: impl Into<PathBuf>, config: UpdateConfig) -> Updater {
        Updater { key, installation, state_dir: state_dir.into(), config }
    }

    pub fn installation(&self) -> &Installation {
        &self.installation
    }

    pub fn config(&self) -> &UpdateConfig {
        &self.config
    }

    /// The newest manifest accepted here, if any.
    pub fn last_accepted(&self) -> Result<Option<Accepted>> {
        state::load(&self.state_dir)
    }

    /// Verifies `manifest` (its exact bytes) against `signature` (the `.minisig` text) and
    /// judges it at time `now`; see the module docs for the checks and their order.
    pub fn check(&self, manifest: &[u8], signature: &str, now: Timestamp) -> Result<UpdateCheck> {
        let manifest = Manifest::verify(manifest, signature, &self.key, &self.config.binaries)?;
        if now >= manifest.expires {
            return Err(LibraryError::UpdateExpired { expires: manifest.expires, now });
        }
        let installed = self.installed()?;
        if self.admit(&manifest, &installed)? {
            Ok(UpdateCheck::Available(VerifiedUpdate { manifest }))
        } else {
            Ok(UpdateCheck::UpToDate { version: installed })
        }
    }

    /// Fetches and checks every artefact of `update`, then switches `current` to it and
    /// keeps the version it replaces as `previous`. `fetch(artefact, dest)` must leave
    /// the artefact's bytes at `dest` (a path in a staging directory).
    pub fn install(&self, update: &VerifiedUpdate, mut fetch: impl FnMut(&Artefact, &Path) -> Result<()>) -> Result<Installed> {
        let manifest = &update.manifest;
        // Judged again: another launcher may have installed something since `check`.
        let installed = self.installed()?;
        if !self.admit(manifest, &installed)? {
            return Err(LibraryError::UpdateDowngrade { offered: manifest.version.clone(), installed });
        }
        let names = manifest.artefacts.iter().map(|a| a.name.as_str());
        let staging = self.installation.stage(&manifest.version, names, |name, dest| {
            let artefact = manifest.artefact(name).ok_or_else(|| LibraryError::UpdateManifest {
                problem: format!("artefact {name} vanished from the manifest"),
            })?;
            fetch(artefact, dest)?;
            check_artefact(artefact, dest)
        })?;
        self.installation.publish(&staging, &manifest.version)?;
        self.installation.switch_to(&manifest.version)?;
        let accepted = Accepted { version: manifest.version.clone(), issued: manifest.issued };
        if let Err(e) = state::save(&self.state_dir, &accepted) {
            // Unrecorded, the install would escape the replay and rolled-back checks; undo
            // it so that an error still means nothing changed. The save error is the one
            // to report; should the undo fail too, the new version stays current, which is
            // a working install still guarded by the version check.
            let _ = self.installation.rollback();
            return Err(e);
        }
        // Pruning only reclaims disk space; what it misses now the next update removes.
        let _ = self.installation.prune();
        Ok(Installed { version: manifest.version.clone(), previous: installed })
    }

    /// [`Updater::install`], then `health(<install>/current)`; if that fails, rolls back
    /// and reports the failure. [`reports_version`] makes the usual health check.
    pub fn install_and_check(
        &self,
        update: &VerifiedUpdate,
        fetch: impl FnMut(&Artefact, &Path) -> Result<()>,
        health: impl FnOnce(&Path) -> std::result::Result<(), String>,
    ) -> Result<Installed> {
        let installed = self.install(update, fetch)?;
        let Err(problem) = health(&self.installation.current_dir()) else {
            return Ok(installed);
        };
        match self.installation.rollback() {
            Ok(restored) => Err(LibraryError::UpdateHealthCheck { version: installed.version, problem, restored }),
            Err(e) => Err(LibraryError::UpdateRollbackFailed { version: installed.version, problem, rollback: e.to_string() }),
        }
    }

    /// Returns to the previous version; see [`Installation::rollback`]. The version left
    /// behind stays recorded as accepted, so it is not offered again.
    pub fn rollback(&self) -> Result<Version> {
        self.installation.rollback()
    }

    /// The first install, from files on disk; see [`Installation::adopt`].
    pub fn adopt(&self, version: &Version, source_dir: &Path) -> Result<()> {
        self.installation.adopt(version, source_dir, &self.config.binaries)
    }

    fn installed(&self) -> Result<Version> {
        self.installation
            .current()?
            .ok_or_else(|| LibraryError::UpdateNotInstalled { root: self.installation.root().to_path_buf() })
    }

    /// The replay and version checks: `Ok(true)` for a newer version that may be
    /// installed, `Ok(false)` for the installed one.
    fn admit(&self, manifest: &Manifest, installed: &Version) -> Result<bool> {
        let accepted = state::load(&self.state_dir)?;
        if let Some(accepted) = &accepted {
            let older = manifest.issued < accepted.issued;
            let same_time_other_version = manifest.issued == accepted.issued && manifest.version != accepted.version;
            if older || same_time_other_version {
                return Err(LibraryError::UpdateReplayed {
                    version: manifest.version.clone(),
                    issued: manifest.issued,
                    accepted_version: accepted.version.clone(),
                    accepted_issued: accepted.issued,
                });
            }
        }
        if manifest.version < *installed {
            return Err(LibraryError::UpdateDowngrade { offered: manifest.version.clone(), installed: installed.clone() });
        }
        if manifest.version == *installed {
            return Ok(false);
        }
        if let Some(accepted) = accepted.filter(|a| manifest.version <= a.version) {
            return Err(LibraryError::UpdateRolledBack { version: manifest.version.clone(), accepted: accepted.version });
        }
        Ok(true)
    }
}

/// A `fetch` for artefacts already on disk: copies `<dir>/<artefact name>`.
pub fn copy_from_dir(dir: impl Into<PathBuf>) -> impl FnMut(&Artefact, &Path) -> Result<()> {
    let dir = dir.into();
    move |artefact, dest| {
        let source = dir.join(&artefact.name);
        std::fs::copy(&source, dest).map(drop).map_err(LibraryError::io(&source))
    }
}

/// Size first (cheap, and the clearer message for a cut-off download), then sha256.
fn check_artefact(artefact: &Artefact, path: &Path) -> Result<()> {
    let size = std::fs::metadata(path).map_err(LibraryError::io(path))?.len();
    if size != artefact.size {
        return Err(LibraryError::UpdateArtefactSize { name: artefact.name.clone(), expected: artefact.size, actual: size });
    }
    let sha256 = sha256_file(path)?;
    if sha256 != artefact.sha256 {
        return Err(LibraryError::UpdateArtefactHash { name: artefact.name.clone(), expected: artefact.sha256.clone(), actual: sha256 });
    }
    Ok(())
}
