//! The launcher's own settings, in `~/.config/ra/launcher.toml`: language, skin, what
//! happens to the daemon on quit, whether the welcome was seen, and the daemon options
//! the Settings page offers (model folders, output folder, port, remote access).
//!
//! The daemon gets these as `serve` flags when the launcher starts it; the API token
//! travels in the environment, never on a command line other users can read.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::notice::Notice;

/// Shortest API token accepted for remote access.
pub const MIN_TOKEN_LEN: usize = 12;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LauncherSettings {
    /// `zh-CN` or `en-US`; empty follows the system.
    pub language: String,
    pub skin: String,
    /// Leave the daemon running when the window closes (queued jobs keep going).
    pub keep_daemon_running: bool,
    /// The welcome was shown and closed.
    pub welcomed: bool,
    /// Folders the user added: an A1111 or ComfyUI `models` folder, or a folder of
    /// checkpoints. RA's own models folder is always scanned as well.
    pub model_dirs: Vec<PathBuf>,
    /// Where images go; empty uses RA's data folder.
    pub output_dir: Option<PathBuf>,
    pub port: u16,
    /// Listen on every interface (other machines may use the API) — needs a token.
    pub remote_access: bool,
    pub api_token: String,
    /// Model pack manifests (files or URLs) the Packs page offers; installing one from
    /// a new address adds it. Admins can pre-fill this.
    pub pack_sources: Vec<String>,
    /// The signed update manifest the Updates page checks (docs/UPDATES.md).
    pub update_url: String,
}

impl Default for LauncherSettings {
    fn default() -> Self {
        Self {
            language: String::new(),
            skin: crate::skin::DEFAULT_SKIN.to_string(),
            keep_daemon_running: false,
            welcomed: false,
            model_dirs: Vec::new(),
            output_dir: None,
            port: 7860,
            remote_access: false,
            api_token: String::new(),
            pack_sources: Vec::new(),
            update_url: String::new(),
        }
    }
}

/// `~/.config/ra/launcher.toml`.
pub fn default_path() -> PathBuf {
    ra_wire::paths::config_dir().join("launcher.toml")
}

/// RA's own models folder, which the daemon always scans.
pub fn builtin_models_dir() -> PathBuf {
    ra_wire::paths::data_dir().join("models")
}

impl LauncherSettings {
    /// The saved settings; a missing file gives the defaults, an unreadable one gives
    /// the defaults and a notice (the file is left as it is until the user saves).
    pub fn load(path: &Path) -> (Self, Option<Notice>) {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Self::default(), None),
            Err(e) => return (Self::default(), Some(broken(path, &e.to_string()))),
        };
        match toml::from_str::<Self>(&text) {
            Ok(s) => match s.validate() {
                Ok(()) => (s, None),
                Err(n) => (Self::default(), Some(broken(path, &n.id))),
            },
            Err(e) => (Self::default(), Some(broken(path, e.message()))),
        }
    }

    /// Checks what the Settings page lets people type.
    pub fn validate(&self) -> Result<(), Notice> {
        if !self.language.is_empty() && !crate::i18n::LOCALES.contains(&self.language.as_str()) {
            return Err(Notice::new("settings-language-unknown").arg("language", &self.language));
        }
        if self.port < 1024 {
            return Err(Notice::new("settings-port-invalid").arg("port", self.port));
        }
        if self.remote_access && self.api_token.trim().chars().count() < MIN_TOKEN_LEN {
            return Err(Notice::new("settings-token-required").arg("min", MIN_TOKEN_LEN));
        }
        // Model folders are checked when added (`folders::add`), not here: one on a
        // drive that is not plugged in must not make the whole file unreadable.
        if let Some(d) = self.model_dirs.iter().find(|d| !d.is_absolute()) {
            return Err(Notice::new("settings-folder-missing").arg("path", d.display()));
        }
        match &self.output_dir {
            Some(d) if !d.is_absolute() => {
                Err(Notice::new("settings-folder-missing").arg("path", d.display()))
            }
            _ => Ok(()),
        }
    }

    /// Writes the file whole or not at all (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), Notice> {
        self.validate()?;
        let fail = |e: &dyn std::fmt::Display| {
            Notice::new("settings-save-failed")
                .arg("path", path.display())
                .arg("detail", e)
        };
        let text = toml::to_string_pretty(self).map_err(|e| fail(&e))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| fail(&e))?;
        }
        let tmp = path.with_extension("toml.part");
        // The file may hold the API token: only its owner reads it.
        std::fs::write(&tmp, text)
            .and_then(|()| {
                std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            })
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                fail(&e)
            })
    }

    /// The model roots the daemon serves: RA's own folder first (packs install there),
    /// then the added ones.
    pub fn model_roots(&self) -> Vec<PathBuf> {
        std::iter::once(builtin_models_dir()).chain(self.model_dirs.iter().cloned()).collect()
    }

    /// `serve` flags for these settings.
    pub fn daemon_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for d in self.model_roots() {
            args.push("--models-dir".to_string());
            args.push(d.display().to_string());
        }
        if let Some(d) = &self.output_dir {
            args.push("--output-dir".to_string());
            args.push(d.display().to_string());
        }
        let host = if self.remote_access { "0.0.0.0" } else { "127.0.0.1" };
        args.push("--listen".to_string());
        args.push(format!("{host}:{}", self.port));
        args
    }

    /// Environment for the daemon: the API token when remote access is on.
    pub fn daemon_env(&self) -> Vec<(String, String)> {
        if self.remote_access {
            vec![("RA_API_TOKEN".to_string(), self.api_token.trim().to_string())]
        } else {
            Vec::new()
        }
    }

    /// Whether going from `self` to `new` needs the daemon restarted.
    pub fn daemon_changed(&self, new: &Self) -> bool {
        self.daemon_args() != new.daemon_args() || self.daemon_env() != new.daemon_env()
    }
}

fn broken(path: &Path, reason: &str) -> Notice {
    Notice::new("settings-broken")
        .arg("path", path.display())
        .arg("reason", reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_a_broken_file_falls_back_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ra/launcher.toml");
        assert_eq!(LauncherSettings::load(&path), (LauncherSettings::default(), None));
        let s = LauncherSettings {
            language: "en-US".into(),
            skin: "dark".into(),
            keep_daemon_running: true,
            model_dirs: vec![dir.path().to_path_buf()],
            port: 7861,
            ..Default::default()
        };
        s.save(&path).unwrap();
        assert_eq!(LauncherSettings::load(&path), (s, None));
        assert!(!path.with_extension("toml.part").exists());
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);

        std::fs::write(&path, "port = \"many\"\n").unwrap();
        let (loaded, notice) = LauncherSettings::load(&path);
        assert_eq!(loaded, LauncherSettings::default());
        assert_eq!(notice.unwrap().id, "settings-broken");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "port = \"many\"\n");
    }

    #[test]
    fn bad_settings_are_refused_with_a_reason_and_not_saved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("launcher.toml");
        let cases = [
            (LauncherSettings { port: 80, ..Default::default() }, "settings-port-invalid"),
            (
                LauncherSettings { remote_access: true, api_token: "short".into(), ..Default::default() },
                "settings-token-required",
            ),
            (
                LauncherSettings { model_dirs: vec!["relative/models".into()], ..Default::default() },
                "settings-folder-missing",
            ),
            (LauncherSettings { language: "fr-FR".into(), ..Default::default() }, "settings-language-unknown"),
        ];
        for (s, id) in cases {
            assert_eq!(s.save(&path).unwrap_err().id, id);
            assert!(!path.exists());
        }
    }

    #[test]
    fn remote_access_listens_everywhere_and_passes_the_token_out_of_sight() {
        let local = LauncherSettings::default();
        let args = local.daemon_args();
        assert!(args.ends_with(&["--listen".into(), "127.0.0.1:7860".into()]));
        assert!(local.daemon_env().is_empty());
        let remote = LauncherSettings {
            remote_access: true,
            api_token: "  a-long-enough-token ".into(),
            ..Default::default()
        };
        assert!(remote.daemon_args().contains(&"0.0.0.0:7860".to_string()));
        assert!(!remote.daemon_args().iter().any(|a| a.contains("token")));
        assert_eq!(
            remote.daemon_env(),
            vec![("RA_API_TOKEN".into(), "a-long-enough-token".into())]
        );
        assert!(local.daemon_changed(&remote));
        let skin_only = LauncherSettings { skin: "dark".into(), ..Default::default() };
        assert!(!local.daemon_changed(&skin_only));
    }
}
