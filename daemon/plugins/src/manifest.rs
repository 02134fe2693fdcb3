//! `plugin.toml`: who a plugin is, which contract it was built against, which hooks it
//! offers, its settings and the permissions it asks for. Anything not declared here does
//! not exist for the plugin.
//!
//! ```toml
//! id = "invisible-watermark"      # lowercase letters, digits and '-'
//! version = "0.1.0"               # semver
//! api = "0.1.0"                   # the plugin-sdk contract it was built against
//! wasm = "ra_plugin_invisible_watermark.wasm"
//! hooks = ["postprocess-image", "action"]
//! actions = ["read"]
//! on-error = "fail"               # or "skip": a failed hook leaves the job as it was
//! [name]
//! zh-CN = "隐形水印"
//! en-US = "Invisible watermark"
//! [[settings]]
//! key = "text"
//! type = "string"                 # bool, int, float, string or choice
//! default = "StableDiffusionV1"
//! label = { zh-CN = "水印文字", en-US = "Watermark text" }
//! [permissions]
//! models = []                     # model kinds (`upscaler`, `depth`) or `kind/name` ids `run-model` may run
//! data = false                    # a folder of its own, mounted at /data
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::PluginError;

/// The kinds of model `run-model` serves.
pub const MODEL_KINDS: &[&str] = &["upscaler", "depth"];

/// Contract versions this host loads, newest first.
pub const SUPPORTED_APIS: &[&str] = &["0.1.0"];

/// Text per locale (`zh-CN`, `en-US`, …).
pub type Localized = BTreeMap<String, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hook {
    Process,
    PostprocessImage,
    Upscaler,
    Preprocessor,
    Action,
}

/// What a failed hook does to the job that called it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnError {
    /// The job fails with the plugin's message.
    #[default]
    Fail,
    /// The job goes on as if the plugin were not there; the failure is logged.
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SettingType {
    Bool,
    Int,
    Float,
    String,
    Choice,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Setting {
    pub key: String,
    #[serde(rename = "type")]
    pub kind: SettingType,
    pub default: serde_json::Value,
    #[serde(default)]
    pub label: Localized,
    /// The allowed values of a `choice`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Permissions {
    /// What `run-model` may run (the user installs the models): a kind (`upscaler`,
    /// `depth`) for every model of it, or one `kind/name`.
    #[serde(default)]
    pub models: Vec<String>,
    /// A data folder of the plugin's own, mounted read-write at `/data`.
    #[serde(default)]
    pub data: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    pub id: String,
    pub version: String,
    pub api: String,
    pub name: Localized,
    #[serde(default)]
    pub description: Localized,
    #[serde(default)]
    pub authors: Vec<String>,
    /// The component's file name, beside the manifest.
    pub wasm: String,
    pub hooks: Vec<Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preprocessors: Vec<String>,
    #[serde(default)]
    pub on_error: OnError,
    #[serde(default)]
    pub settings: Vec<Setting>,
    #[serde(default)]
    pub permissions: Permissions,
}

impl Manifest {
    /// Reads and checks `plugin.toml` at `path`.
    pub fn load(path: &Path) -> Result<Manifest, PluginError> {
        let text = std::fs::read_to_string(path).map_err(|e| PluginError::Manifest {
            path: path.to_path_buf(),
            problem: format!("cannot read it ({e}); a plugin folder needs a plugin.toml"),
        })?;
        Manifest::parse(&text).map_err(|problem| PluginError::Manifest { path: path.to_path_buf(), problem })
            .and_then(|m| m.check_api().map(|()| m))
    }

    /// Parses and checks everything but the API version.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<(), String> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !self.id.starts_with('-');
        if !id_ok {
            return Err(format!(
                "id {:?} must be 1-64 lowercase letters, digits or '-', not starting with '-'",
                self.id
            ));
        }
        semver::Version::parse(&self.version)
            .map_err(|e| format!("version {:?} is not semver (like 1.2.3): {e}", self.version))?;
        if !self.name.contains_key("en-US") && !self.name.contains_key("zh-CN") {
            return Err("name needs at least an en-US or a zh-CN entry".into());
        }
        let plain = Path::new(&self.wasm).file_name().map(|n| n == self.wasm.as_str()).unwrap_or(false);
        if !plain || !self.wasm.ends_with(".wasm") {
            return Err(format!("wasm {:?} must be a .wasm file name beside plugin.toml, without folders", self.wasm));
        }
        if self.hooks.is_empty() {
            return Err("hooks is empty; list at least one of process, postprocess-image, upscaler, preprocessor, action".into());
        }
        if self.hooks.contains(&Hook::Action) == self.actions.is_empty() {
            return Err("actions must be listed exactly when hooks has \"action\"".into());
        }
        if self.hooks.contains(&Hook::Preprocessor) == self.preprocessors.is_empty() {
            return Err("preprocessors must be listed exactly when hooks has \"preprocessor\"".into());
        }
        for entry in &self.permissions.models {
            let kind = entry.split('/').next().unwrap_or_default();
            if !MODEL_KINDS.contains(&kind) || entry.ends_with('/') {
                return Err(format!(
                    "permissions.models entry {entry:?} must be a model kind ({}) or kind/name",
                    MODEL_KINDS.join(", ")
                ));
            }
        }
        for setting in &self.settings {
            check_value(setting, &setting.default).map_err(|p| format!("setting {:?}: default {p}", setting.key))?;
        }
        Ok(())
    }

    fn check_api(&self) -> Result<(), PluginError> {
        if SUPPORTED_APIS.contains(&self.api.as_str()) {
            Ok(())
        } else {
            Err(PluginError::UnsupportedApi {
                id: self.id.clone(),
                api: self.api.clone(),
                supported: SUPPORTED_APIS.join(", "),
            })
        }
    }

    /// Whether `permissions.models` lets the plugin run the model `id` (`kind/name`).
    pub fn may_run(&self, id: &str) -> bool {
        let kind = id.split('/').next().unwrap_or_default();
        self.permissions.models.iter().any(|entry| entry == id || entry == kind)
    }

    pub fn setting(&self, key: &str) -> Option<&Setting> {
        self.settings.iter().find(|s| s.key == key)
    }
}

/// Whether `value` fits the setting's type (and, for a choice, its choices).
pub fn check_value(setting: &Setting, value: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value;
    let ok = match (setting.kind, value) {
        (SettingType::Bool, Value::Bool(_)) => true,
        (SettingType::Int, Value::Number(n)) => n.is_i64() || n.is_u64(),
        (SettingType::Float, Value::Number(_)) => true,
        (SettingType::String, Value::String(_)) => true,
        (SettingType::Choice, Value::String(s)) => {
            if setting.choices.contains(s) {
                true
            } else {
                return Err(format!("{s:?} is not one of {:?}", setting.choices));
            }
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{value} is not a {:?}", setting.kind).to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "demo"
version = "0.1.0"
api = "0.1.0"
wasm = "demo.wasm"
hooks = ["process"]
[name]
en-US = "Demo"
[[settings]]
key = "on"
type = "bool"
default = true
"#;

    #[test]
    fn a_good_manifest_parses() {
        let m = Manifest::parse(GOOD).unwrap();
        assert_eq!(m.id, "demo");
        assert_eq!(m.on_error, OnError::Fail);
        assert!(!m.permissions.data);
    }

    #[test]
    fn model_permissions_name_kinds_or_single_models() {
        let m = Manifest::parse(&format!("{GOOD}\n[permissions]\nmodels = [\"upscaler\", \"depth/small\"]\n")).unwrap();
        assert!(m.may_run("upscaler/4x-UltraSharp"));
        assert!(m.may_run("depth/small"));
        assert!(!m.may_run("depth/large"));
        assert!(!m.may_run("upscalerx/a"));
    }

    #[test]
    fn bad_manifests_say_what_is_wrong() {
        let cases = [
            (GOOD.replace("\"demo\"", "\"Demo Plugin\""), "lowercase letters"),
            (GOOD.replace("0.1.0\"\napi", "one\"\napi"), "not semver"),
            (GOOD.replace("demo.wasm", "../evil.wasm"), "without folders"),
            (GOOD.replace("[\"process\"]", "[]"), "hooks is empty"),
            (GOOD.replace("[\"process\"]", "[\"action\"]"), "actions must be listed"),
            (GOOD.replace("default = true", "default = \"yes\""), "setting \"on\": default"),
            (GOOD.replace("hooks =", "network = true\nhooks ="), "unknown field `network`"),
            (format!("{GOOD}\n[permissions]\nmodels = [\"weights\"]\n"), "must be a model kind (upscaler, depth)"),
            (GOOD.replace("[\"process\"]", "[\"teleport\"]"), "unknown variant `teleport`"),
        ];
        for (text, want) in cases {
            let err = Manifest::parse(&text).unwrap_err();
            assert!(err.contains(want), "{want:?} not in {err:?}");
        }
    }

    #[test]
    fn an_unsupported_api_names_the_supported_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plugin.toml");
        std::fs::write(&path, GOOD.replace("api = \"0.1.0\"", "api = \"9.0.0\"")).unwrap();
        let err = Manifest::load(&path).unwrap_err().to_string();
        assert!(err.contains("plugin API 9.0.0") && err.contains("supported: 0.1.0"), "{err}");
    }
}
