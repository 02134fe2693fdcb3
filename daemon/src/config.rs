//! Daemon configuration: a TOML file (by default `$XDG_CONFIG_HOME/ra/daemon.toml`),
//! then command-line flags on top. Paths default to XDG locations.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("listening on {0} would expose RA to other machines without a password. Set an API token (`api_token = \"…\"` in the config file, or RA_API_TOKEN in the environment) or basic auth (`api_auth = \"user:password\"`, or --api-auth), or listen on 127.0.0.1")]
    UnprotectedRemote(SocketAddr),
    #[error("api_auth must be `user:password`")]
    BadBasicAuth,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Defaults to `<data_dir>/outputs`.
    pub output_dir: Option<PathBuf>,
    /// Roots to scan: an A1111 or ComfyUI `models` folder, or a folder of checkpoints.
    pub models_dirs: Vec<PathBuf>,
    /// Bearer token for the HTTP API.
    pub api_token: Option<String>,
    /// `user:password` for HTTP basic auth (A1111's `--api-auth`).
    pub api_auth: Option<String>,
    /// Jobs that may wait; past it, HTTP 503 with Retry-After.
    pub queue_limit: u32,
    /// Largest request body, in MiB (images arrive base64 inside JSON).
    pub max_body_mib: usize,
    /// Largest side of an input image, in pixels.
    pub max_image_side: u32,
    /// `f32` or `f16`.
    pub dtype: String,
    /// Model (title, name or path) to use when a request names none.
    pub default_model: Option<String>,
    /// Serve D-Bus peer-to-peer on this Unix socket (what the launcher uses when there
    /// is no session bus).
    pub dbus_socket: Option<PathBuf>,
    /// Also serve D-Bus on the session bus as `org.ra_studio.Daemon1`.
    pub dbus_session: bool,
    /// Plugins shipped with RA; by default `plugins` beside the binary or one folder up.
    pub bundled_plugins_dir: Option<PathBuf>,
    /// Memory one plugin call may use, in MiB.
    pub plugin_memory_mib: u64,
    /// Seconds one plugin call may run before it is stopped.
    pub plugin_call_seconds: f64,
    /// ONNX Runtime's shared library (`libonnxruntime.so.1.31.1`); unset:
    /// `ORT_DYLIB_PATH`. Without one, ONNX models are refused with how to install it and
    /// everything else works.
    pub onnx_runtime: Option<PathBuf>,
    /// ONNX Runtime execution providers in order of preference: `cpu`, `cuda`,
    /// `directml`, `coreml` (all but `cpu` need a matching build; the CPU is always the
    /// last resort).
    pub onnx_execution_providers: Vec<String>,
    /// Threads one ONNX graph may use; unset: every core.
    pub onnx_threads: Option<usize>,
    /// Models pinned to a backend, by name, file name or title: `"candle"` or `"onnx"`.
    /// Unpinned, a diffusers ONNX folder runs on ONNX Runtime and the rest on candle.
    pub model_backends: std::collections::BTreeMap<String, String>,
}

impl Default for Config {
    fn default() -> Self {
        let data_dir = ra_wire::paths::data_dir();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7860)),
            models_dirs: vec![data_dir.join("models")],
            data_dir,
            output_dir: None,
            api_token: std::env::var("RA_API_TOKEN").ok().filter(|t| !t.is_empty()),
            api_auth: None,
            queue_limit: 64,
            max_body_mib: 64,
            max_image_side: 4096,
            dtype: "f32".into(),
            default_model: None,
            dbus_socket: None,
            dbus_session: true,
            bundled_plugins_dir: None,
            plugin_memory_mib: ra_plugins::Limits::DEFAULT.memory_mib,
            plugin_call_seconds: ra_plugins::Limits::DEFAULT.call_seconds,
            onnx_runtime: None,
            onnx_execution_providers: vec!["cpu".into()],
            onnx_threads: None,
            model_backends: Default::default(),
        }
    }
}

impl Config {
    pub fn default_path() -> PathBuf {
        ra_wire::paths::config_dir().join("daemon.toml")
    }

    /// Reads `path`; a missing default file just means defaults.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (Self::default_path(), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| ConfigError::Parse {
                path,
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(Self::default()),
            Err(source) => Err(ConfigError::Read { path, source }),
        }
    }

    /// How models load, as the engine takes it: ONNX Runtime and the backend pins.
    pub fn backends(&self) -> Result<ra_engine::model::BackendSettings, ConfigError> {
        let bad = |message: String| ConfigError::Parse {
            path: Self::default_path(),
            message,
        };
        let providers = self
            .onnx_execution_providers
            .iter()
            .map(|p| ra_engine::onnx::ExecutionProvider::parse(p).map_err(|e| bad(e.to_string())))
            .collect::<Result<_, _>>()?;
        let pins = self
            .model_backends
            .iter()
            .map(|(model, b)| {
                ra_engine::Backend::parse(b)
                    .map(|b| (model.clone(), b))
                    .map_err(|e| bad(format!("model_backends.{model}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(ra_engine::model::BackendSettings {
            onnx: ra_engine::onnx::RuntimeOptions {
                library: self.onnx_runtime.clone(),
                providers,
                threads: self.onnx_threads,
            },
            pins,
        })
    }

    pub fn output_dir(&self) -> PathBuf {
        self.output_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("outputs"))
    }

    pub fn basic_auth(&self) -> Result<Option<(String, String)>, ConfigError> {
        match &self.api_auth {
            None => Ok(None),
            Some(s) => s
                .split_once(':')
                .filter(|(u, p)| !u.is_empty() && !p.is_empty())
                .map(|(u, p)| Some((u.to_string(), p.to_string())))
                .ok_or(ConfigError::BadBasicAuth),
        }
    }

    /// Refuses to serve beyond loopback without credentials.
    pub fn check_access(&self) -> Result<(), ConfigError> {
        self.basic_auth()?;
        let protected =
            self.api_token.as_deref().is_some_and(|t| !t.is_empty()) || self.api_auth.is_some();
        if !self.listen.ip().is_loopback() && !protected {
            return Err(ConfigError::UnprotectedRemote(self.listen));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_listening_needs_credentials() {
        let mut c = Config {
            api_token: None,
            ..Config::default()
        };
        assert!(c.check_access().is_ok());
        c.listen = "0.0.0.0:7860".parse().unwrap();
        let err = c.check_access().unwrap_err().to_string();
        assert!(
            err.contains("RA_API_TOKEN") && err.contains("api_auth"),
            "{err}"
        );
        c.api_auth = Some("nocolon".into());
        assert!(matches!(c.check_access(), Err(ConfigError::BadBasicAuth)));
        c.api_auth = Some("me:secret".into());
        assert!(c.check_access().is_ok());
    }

    #[test]
    fn unknown_keys_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "listen = \"127.0.0.1:9000\"\nqueue_limt = 3\n").unwrap();
        let err = Config::load(Some(&p)).unwrap_err().to_string();
        assert!(err.contains("queue_limt"), "{err}");
    }
}
