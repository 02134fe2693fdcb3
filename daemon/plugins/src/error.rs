//! The one error type of the plugin host. Messages name the plugin and say what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("plugin manifest {path}: {problem}")]
    Manifest { path: PathBuf, problem: String },

    #[error(
        "plugin {id} was built for plugin API {api}, which this RA does not support \
         (supported: {supported}); install a version of the plugin built for one of those"
    )]
    UnsupportedApi { id: String, api: String, supported: String },

    #[error("plugin package {path}: {problem}")]
    Package { path: PathBuf, problem: String },

    #[error("plugin {id}: the WebAssembly file is not a usable RA plugin: {problem}")]
    Component { id: String, problem: String },

    #[error("no plugin with id {0:?} is installed")]
    NotFound(String),

    #[error("plugin {0} is disabled; enable it first")]
    Disabled(String),

    #[error("plugin {0} comes with RA and cannot be uninstalled; disable it instead")]
    Bundled(String),

    #[error("plugin {id} has no setting {key:?}")]
    UnknownSetting { id: String, key: String },

    #[error("plugin {id}, setting {key:?}: {problem}")]
    BadSetting { id: String, key: String, problem: String },

    #[error("no {kind} named {name:?}; available: {available}")]
    NoSuch { kind: &'static str, name: String, available: String },

    #[error("plugin {plugin} ({hook}) ran past its deadline of {seconds} s and was stopped")]
    Timeout { plugin: String, hook: String, seconds: f64 },

    #[error("plugin {plugin} ({hook}) tried to use more than its memory cap of {mib} MiB and was stopped")]
    MemoryCap { plugin: String, hook: String, mib: u64 },

    #[error("plugin {plugin} ({hook}) crashed: {message}")]
    Trapped { plugin: String, hook: String, message: String },

    #[error("plugin {plugin} ({hook}) failed: {message}")]
    Failed { plugin: String, hook: String, message: String },

    #[error("plugin {plugin} ({hook}) returned a bad result: {problem}")]
    BadReturn { plugin: String, hook: String, problem: String },

    #[error("plugin storage {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl PluginError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> PluginError {
        let path = path.into();
        move |source| PluginError::Io { path, source }
    }

    /// A stable machine-readable code for API clients (the launcher translates it).
    pub fn code(&self) -> &'static str {
        match self {
            PluginError::Manifest { .. } => "plugin_manifest",
            PluginError::UnsupportedApi { .. } => "plugin_api_unsupported",
            PluginError::Package { .. } => "plugin_package",
            PluginError::Component { .. } => "plugin_component",
            PluginError::NotFound(_) => "plugin_not_found",
            PluginError::Disabled(_) => "plugin_disabled",
            PluginError::Bundled(_) => "plugin_bundled",
            PluginError::UnknownSetting { .. } | PluginError::BadSetting { .. } => "plugin_setting",
            PluginError::NoSuch { .. } => "plugin_hook_not_found",
            PluginError::Timeout { .. } => "plugin_timeout",
            PluginError::MemoryCap { .. } => "plugin_memory_cap",
            PluginError::Trapped { .. } => "plugin_crashed",
            PluginError::Failed { .. } => "plugin_failed",
            PluginError::BadReturn { .. } => "plugin_bad_return",
            PluginError::Io { .. } => "plugin_storage",
        }
    }

    /// True when the client sent something wrong (HTTP 4xx), false when a plugin or
    /// the host failed.
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            PluginError::Manifest { .. }
                | PluginError::UnsupportedApi { .. }
                | PluginError::Package { .. }
                | PluginError::Component { .. }
                | PluginError::NotFound(_)
                | PluginError::Disabled(_)
                | PluginError::Bundled(_)
                | PluginError::UnknownSetting { .. }
                | PluginError::BadSetting { .. }
                | PluginError::NoSuch { .. }
        )
    }
}
