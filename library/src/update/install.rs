//! The install layout ([`Installation`]) and the steps that change it.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::durable;
use super::Version;
use crate::error::{LibraryError, Result};

const VERSIONS: &str = "versions";
const CURRENT: &str = "current";
const PREVIOUS: &str = "previous";
const STAGING_PREFIX: &str = ".staging-";

/// An installation of RA, versions side by side:
///
/// ```text
/// <install>/versions/0.1.0/{ra-daemon, ra-launcher}
/// <install>/versions/0.2.0/{ra-daemon, ra-launcher}
/// <install>/current  -> versions/0.2.0     what shortcuts and the launcher run
/// <install>/previous -> versions/0.1.0     what rollback() returns to
/// ```
///
/// Each step that changes it is one rename, so an interruption between any two leaves a
/// layout that starts: a new version is fully written under a hidden staging name and
/// renamed to `versions/<v>`; `previous` is repointed before `current` (between the two,
/// both name the old version); a link is swapped by creating the new link under a
/// temporary name and renaming it over the old one. Leftovers (hidden staging
/// directories, temporary links, versions that are neither current nor previous) are
/// cleared by the next update.
#[derive(Debug, Clone)]
pub struct Installation {
    root: PathBuf,
}

impl Installation {
    pub fn new(root: impl Into<PathBuf>) -> Installation {
        Installation { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<install>/current`: the directory to run binaries from, whatever version it is.
    pub fn current_dir(&self) -> PathBuf {
        self.root.join(CURRENT)
    }

    /// `<install>/current/<name>`.
    pub fn binary(&self, name: &str) -> PathBuf {
        self.current_dir().join(name)
    }

    /// `<install>/versions/<version>`.
    pub fn version_dir(&self, version: &Version) -> PathBuf {
        self.root.join(VERSIONS).join(version.to_string())
    }

    /// The version `current` points at; `None` before the first install.
    pub fn current(&self) -> Result<Option<Version>> {
        self.read_link(CURRENT)
    }

    /// The version `previous` points at, the one [`Installation::rollback`] returns to.
    pub fn previous(&self) -> Result<Option<Version>> {
        self.read_link(PREVIOUS)
    }

    /// The first install: copies `binaries` from `source_dir` into `versions/<version>`
    /// and points `current` at it. Refused when a version is installed already, since
    /// later versions arrive only through signed manifests.
    pub fn adopt(&self, version: &Version, source_dir: &Path, binaries: &[String]) -> Result<()> {
        if let Some(installed) = self.current()? {
            return Err(self.layout(
                CURRENT,
                format!("RA {installed} is installed already; newer versions come through signed update manifests"),
            ));
        }
        let staging = self.stage(version, binaries.iter().map(String::as_str), |name, dest| {
            let source = source_dir.join(name);
            fs::copy(&source, dest).map(drop).map_err(LibraryError::io(&source))
        })?;
        self.publish(&staging, version)?;
        self.switch_to(version)
    }

    /// Makes `previous` current again and forgets it as `previous`; the version rolled
    /// away from is deleted. Returns the version now current.
    pub fn rollback(&self) -> Result<Version> {
        let previous = self.previous()?.ok_or(LibraryError::UpdateNoPrevious)?;
        let previous_dir = self.version_dir(&previous);
        if !previous_dir.is_dir() {
            return Err(self.layout(PREVIOUS, format!("it points at {}, which is missing", previous_dir.display())));
        }
        let current = self.current()?;
        // `current == previous` is what an interrupted rollback leaves; finish it.
        if current.as_ref() != Some(&previous) {
            durable::replace_symlink(&self.current_dir(), &Path::new(VERSIONS).join(previous.to_string()))?;
        }
        let previous_link = self.root.join(PREVIOUS);
        match fs::remove_file(&previous_link) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(LibraryError::io(&previous_link)(e)),
            _ => {}
        }
        durable::sync_dir(&self.root)?;
        if let Some(abandoned) = current.filter(|c| *c != previous) {
            // Only disk space is at stake: the update state keeps this version from being
            // installed again, and the next update prunes a leftover directory anyway.
            let _ = fs::remove_dir_all(self.version_dir(&abandoned));
        }
        Ok(previous)
    }

    /// Writes a new version under a hidden staging directory: `fill(name, dest)` puts
    /// each named file at `dest` (and checks it); it is then made executable and flushed.
    /// On any error the staging directory is removed and nothing else has changed.
    pub(crate) fn stage<'n>(
        &self,
        version: &Version,
        names: impl IntoIterator<Item = &'n str>,
        mut fill: impl FnMut(&str, &Path) -> Result<()>,
    ) -> Result<PathBuf> {
        let versions = self.root.join(VERSIONS);
        fs::create_dir_all(&versions).map_err(LibraryError::io(&versions))?;
        self.clear_staging();
        let staging = versions.join(format!("{STAGING_PREFIX}{version}-{}", std::process::id()));
        fs::create_dir(&staging).map_err(LibraryError::io(&staging))?;
        let filled = names.into_iter().try_for_each(|name| {
            let dest = staging.join(name);
            fill(name, &dest)?;
            fs::set_permissions(&dest, fs::Permissions::from_mode(0o755)).map_err(LibraryError::io(&dest))?;
            durable::sync_file(&dest)
        });
        if let Err(e) = filled.and_then(|()| durable::sync_dir(&staging)) {
            // The error worth reporting is `e`; a staging directory that cannot be removed
            // is hidden and cleared by the next attempt.
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
        Ok(staging)
    }

    /// Renames a staged version to `versions/<version>`.
    pub(crate) fn publish(&self, staging: &Path, version: &Version) -> Result<()> {
        let target = self.version_dir(version);
        if target.exists() {
            // Left by an update that stopped before switching, or by one that was rolled
            // back but could not be deleted; never the running version.
            if self.current()?.as_ref() == Some(version) || self.previous()?.as_ref() == Some(version) {
                return Err(self.layout(VERSIONS, format!("{} is in use and cannot be replaced", target.display())));
            }
            fs::remove_dir_all(&target).map_err(LibraryError::io(&target))?;
        }
        fs::rename(staging, &target).map_err(LibraryError::io(&target))?;
        durable::sync_dir(&self.root.join(VERSIONS))
    }

    /// Points `previous` at the current version (if any), then `current` at `version`.
    pub(crate) fn switch_to(&self, version: &Version) -> Result<()> {
        if let Some(old) = self.current()? {
            durable::replace_symlink(&self.root.join(PREVIOUS), &Path::new(VERSIONS).join(old.to_string()))?;
            durable::sync_dir(&self.root)?;
        }
        durable::replace_symlink(&self.current_dir(), &Path::new(VERSIONS).join(version.to_string()))?;
        durable::sync_dir(&self.root)
    }

    /// Removes every version directory that is neither current nor previous.
    pub(crate) fn prune(&self) -> Result<()> {
        let keep: Vec<String> = [self.current()?, self.previous()?].into_iter().flatten().map(|v| v.to_string()).collect();
        let versions = self.root.join(VERSIONS);
        let entries = fs::read_dir(&versions).map_err(LibraryError::io(&versions))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name) {
                let path = entry.path();
                fs::remove_dir_all(&path).map_err(LibraryError::io(&path))?;
            }
        }
        Ok(())
    }

    fn clear_staging(&self) {
        let Ok(entries) = fs::read_dir(self.root.join(VERSIONS)) else { return };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(STAGING_PREFIX) {
                // Best effort: a staging directory that stays is harmless, being hidden and
                // never linked.
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }

    fn read_link(&self, name: &str) -> Result<Option<Version>> {
        let link = self.root.join(name);
        match fs::symlink_metadata(&link) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LibraryError::io(&link)(e)),
            Ok(meta) if !meta.file_type().is_symlink() => {
                return Err(self.layout(name, "it is not a symlink into versions/".into()));
            }
            Ok(_) => {}
        }
        let target = fs::read_link(&link).map_err(LibraryError::io(&link))?;
        let mut parts = target.components();
        let version = match (parts.next(), parts.next(), parts.next()) {
            (Some(dir), Some(version), None) if dir.as_os_str() == VERSIONS => version.as_os_str().to_string_lossy().into_owned(),
            _ => return Err(self.layout(name, format!("it points at {}, not into versions/", target.display()))),
        };
        version.parse().map(Some).map_err(|_| self.layout(name, format!("{version:?} is not a version")))
    }

    fn layout(&self, entry: &str, problem: String) -> LibraryError {
        LibraryError::UpdateLayout { path: self.root.join(entry), problem }
    }
}
