//! The installed plugins: bundled ones (shipped beside the daemon, read-only, enabled
//! unless the user disables them) and user-installed ones (in the data folder; one of
//! these with a bundled plugin's id replaces it). Enabled state and settings live in
//! `state.json` in the user plugins folder. Hook calls go through here, which picks the
//! plugins that offer the hook and checks what they return.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use wasmtime::component::Component;

use crate::manifest::{check_value, Hook, Localized, Manifest, OnError, Permissions, SettingType};
use crate::runtime::{Callee, Limits, ModelRunner, Runtime};
use crate::{package, ActionOutput, Field, Image, Params, PluginError, Upscaler};

/// Where plugins live and the bounds they run in.
#[derive(Debug, Clone)]
pub struct PluginsConfig {
    /// Plugins the user installed, and `state.json`.
    pub user_dir: PathBuf,
    /// Plugins shipped with RA (one folder each), if any.
    pub bundled_dir: Option<PathBuf>,
    /// Each plugin's own data folder (`<data_dir>/<id>`), for plugins granted one.
    pub data_dir: PathBuf,
    /// Compiled components, so a plugin is compiled once per version.
    pub cache_dir: Option<PathBuf>,
    pub limits: Limits,
}

impl PluginsConfig {
    /// Everything under one data folder, as the daemon lays it out.
    pub fn under(data_dir: &Path, bundled_dir: Option<PathBuf>) -> PluginsConfig {
        PluginsConfig {
            user_dir: data_dir.join("plugins"),
            bundled_dir,
            data_dir: data_dir.join("plugin-data"),
            cache_dir: Some(data_dir.join("cache").join("plugins")),
            limits: Limits::DEFAULT,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Bundled,
    User,
}

/// One plugin as the API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    pub id: String,
    pub name: Localized,
    pub description: Localized,
    pub version: String,
    pub api: String,
    pub authors: Vec<String>,
    pub hooks: Vec<Hook>,
    pub actions: Vec<String>,
    pub preprocessors: Vec<String>,
    pub source: Source,
    pub enabled: bool,
    /// `ready`, or `broken` with `error` saying why.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub settings: Vec<SettingInfo>,
    pub permissions: Permissions,
}

#[derive(Debug, Clone, Serialize)]
pub struct SettingInfo {
    pub key: String,
    #[serde(rename = "type")]
    pub kind: SettingType,
    pub label: Localized,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    pub default: serde_json::Value,
    pub value: serde_json::Value,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    #[serde(default)]
    disabled: Vec<String>,
    #[serde(default)]
    settings: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
}

struct Entry {
    manifest: Arc<Manifest>,
    source: Source,
    component: Result<Component, String>,
    upscalers: Vec<Upscaler>,
}

pub struct Plugins {
    runtime: Runtime,
    config: PluginsConfig,
    models: Arc<dyn ModelRunner>,
    entries: RwLock<BTreeMap<String, Entry>>,
    /// Folders that hold no readable plugin, with why, so the list can show them.
    broken: RwLock<Vec<(PathBuf, String)>>,
    state: RwLock<State>,
    staging: AtomicU64,
}

impl Plugins {
    /// Loads every plugin found. A broken one is listed as broken; it does not stop
    /// the others.
    pub fn open(config: PluginsConfig, models: Arc<dyn ModelRunner>) -> Result<Plugins, PluginError> {
        std::fs::create_dir_all(&config.user_dir).map_err(PluginError::io(&config.user_dir))?;
        let state_path = config.user_dir.join("state.json");
        let state = match std::fs::read(&state_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                eprintln!("plugins: {} is unreadable ({e}); starting with defaults", state_path.display());
                State::default()
            }),
            Err(_) => State::default(),
        };
        let plugins = Plugins {
            runtime: Runtime::new(config.cache_dir.clone())?,
            config,
            models,
            entries: RwLock::new(BTreeMap::new()),
            broken: RwLock::new(Vec::new()),
            state: RwLock::new(state),
            staging: AtomicU64::new(0),
        };
        let mut folders = Vec::new();
        if let Some(bundled) = &plugins.config.bundled_dir {
            folders.extend(plugin_folders(bundled).into_iter().map(|f| (f, Source::Bundled)));
        }
        folders.extend(plugin_folders(&plugins.config.user_dir).into_iter().map(|f| (f, Source::User)));
        for (folder, source) in folders {
            match Manifest::load(&folder.join("plugin.toml")) {
                Ok(manifest) => {
                    let entry = plugins.load_entry(manifest, &folder, source);
                    plugins.write_entries().insert(entry.manifest.id.clone(), entry);
                }
                Err(e) => plugins.write_broken().push((folder, e.to_string())),
            }
        }
        Ok(plugins)
    }

    fn load_entry(&self, manifest: Manifest, folder: &Path, source: Source) -> Entry {
        let manifest = Arc::new(manifest);
        let component = self
            .runtime
            .compile(&manifest.id, &folder.join(&manifest.wasm))
            .map_err(|e| e.to_string());
        let mut entry = Entry { manifest, source, component, upscalers: Vec::new() };
        if entry.manifest.hooks.contains(&Hook::Upscaler) && entry.component.is_ok() {
            // Asked once at load; plugins that run models are asked again on every list
            // (see `upscalers`), since theirs follow the models installed.
            match self.call(&entry, "upscalers", |s, p| p.ra_plugin_hooks().call_upscalers(s).map(Ok)) {
                Ok(list) => entry.upscalers = list,
                Err(e) => entry.component = Err(e.to_string()),
            }
        }
        entry
    }

    fn read_entries(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Entry>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_entries(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Entry>> {
        self.entries.write().unwrap_or_else(|p| p.into_inner())
    }

    fn write_broken(&self) -> std::sync::RwLockWriteGuard<'_, Vec<(PathBuf, String)>> {
        self.broken.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the state and writes it out; on a failed write the change is undone.
    fn update_state(&self, change: impl FnOnce(&mut State)) -> Result<(), PluginError> {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        let before = serde_json::to_vec(&*state).unwrap_or_default();
        change(&mut state);
        let path = self.config.user_dir.join("state.json");
        let part = path.with_extension("json.part");
        let bytes = serde_json::to_vec_pretty(&*state).unwrap_or_default();
        let written = std::fs::write(&part, bytes).and_then(|()| std::fs::rename(&part, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&part);
            if let Ok(old) = serde_json::from_slice(&before) {
                *state = old;
            }
            return Err(PluginError::Io { path, source: e });
        }
        Ok(())
    }

    /// The folder user-installed plugins go in.
    pub fn user_dir(&self) -> &Path {
        &self.config.user_dir
    }

    /// Every plugin, broken ones included, by id.
    pub fn list(&self) -> Vec<PluginInfo> {
        let state = self.read_state();
        let mut list: Vec<PluginInfo> = self.read_entries().values().map(|e| info(e, &state)).collect();
        for (folder, error) in self.broken.read().unwrap_or_else(|p| p.into_inner()).iter() {
            let id = folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            list.push(PluginInfo {
                id,
                name: Localized::new(),
                description: Localized::new(),
                version: String::new(),
                api: String::new(),
                authors: Vec::new(),
                hooks: Vec::new(),
                actions: Vec::new(),
                preprocessors: Vec::new(),
                source: if folder.starts_with(&self.config.user_dir) { Source::User } else { Source::Bundled },
                enabled: false,
                status: "broken",
                error: Some(error.clone()),
                settings: Vec::new(),
                permissions: Permissions::default(),
            });
        }
        list
    }

    pub fn get(&self, id: &str) -> Result<PluginInfo, PluginError> {
        let entries = self.read_entries();
        let entry = entries.get(id).ok_or_else(|| PluginError::NotFound(id.to_string()))?;
        Ok(info(entry, &self.read_state()))
    }

    /// Installs a `.raplugin` file or a plugin folder, replacing an installed plugin
    /// with the same id. Nothing is left behind when any check fails.
    pub fn install(&self, from: &Path) -> Result<PluginInfo, PluginError> {
        let n = self.staging.fetch_add(1, Ordering::Relaxed);
        let staging = self.config.user_dir.join(format!(".staging-{}-{n}", std::process::id()));
        let _cleanup = RemoveOnDrop(staging.clone());
        std::fs::create_dir_all(&staging).map_err(PluginError::io(&staging))?;
        let manifest = if from.is_dir() {
            let manifest = Manifest::load(&from.join("plugin.toml"))?;
            package::copy_folder(from, &staging, &manifest)?;
            manifest
        } else {
            package::unpack(from, &staging)?;
            Manifest::load(&staging.join("plugin.toml"))?
        };
        if !staging.join(&manifest.wasm).is_file() {
            return Err(PluginError::Package {
                path: from.to_path_buf(),
                problem: format!("it has no {}, the component plugin.toml names; build the plugin first", manifest.wasm),
            });
        }
        let id = manifest.id.clone();
        let mut entry = self.load_entry(manifest, &staging, Source::User);
        if let Err(problem) = &entry.component {
            return Err(PluginError::Component { id, problem: problem.clone() });
        }
        let dest = self.config.user_dir.join(&id);
        let old = self.config.user_dir.join(format!(".old-{id}-{n}"));
        let _old_cleanup = RemoveOnDrop(old.clone());
        if dest.exists() {
            std::fs::rename(&dest, &old).map_err(PluginError::io(&dest))?;
        }
        if let Err(e) = std::fs::rename(&staging, &dest) {
            let _ = std::fs::rename(&old, &dest);
            return Err(PluginError::Io { path: dest, source: e });
        }
        entry.source = Source::User;
        let info_now = info(&entry, &self.read_state());
        self.write_entries().insert(id.clone(), entry);
        self.write_broken().retain(|(folder, _)| folder != &dest);
        Ok(info_now)
    }

    /// Removes a user-installed plugin, its settings and its data folder. A bundled
    /// one that a user install replaced comes back on the next start.
    pub fn uninstall(&self, id: &str) -> Result<(), PluginError> {
        let source = self.read_entries().get(id).map(|e| e.source);
        match source {
            None => {
                // A broken folder can be removed too.
                let dir = self.config.user_dir.join(id);
                let broken = self.broken.read().unwrap_or_else(|p| p.into_inner()).iter().any(|(f, _)| f == &dir);
                if !broken {
                    return Err(PluginError::NotFound(id.to_string()));
                }
                std::fs::remove_dir_all(&dir).map_err(PluginError::io(&dir))?;
                self.write_broken().retain(|(f, _)| f != &dir);
                return Ok(());
            }
            Some(Source::Bundled) => return Err(PluginError::Bundled(id.to_string())),
            Some(Source::User) => {}
        }
        let dir = self.config.user_dir.join(id);
        std::fs::remove_dir_all(&dir).map_err(PluginError::io(&dir))?;
        self.write_entries().remove(id);
        let data = self.config.data_dir.join(id);
        let _ = std::fs::remove_dir_all(data);
        self.update_state(|s| {
            s.disabled.retain(|d| d != id);
            s.settings.remove(id);
        })
    }

    pub fn set_enabled(&self, id: &str, enabled: bool) -> Result<PluginInfo, PluginError> {
        self.get(id)?;
        self.update_state(|s| {
            s.disabled.retain(|d| d != id);
            if !enabled {
                s.disabled.push(id.to_string());
            }
        })?;
        self.get(id)
    }

    /// Sets settings from a JSON object; every key and value is checked before any is
    /// stored.
    pub fn set_settings(&self, id: &str, values: &serde_json::Map<String, serde_json::Value>) -> Result<PluginInfo, PluginError> {
        let manifest = self.manifest(id)?;
        for (key, value) in values {
            let setting = manifest
                .setting(key)
                .ok_or_else(|| PluginError::UnknownSetting { id: id.to_string(), key: key.clone() })?;
            check_value(setting, value)
                .map_err(|problem| PluginError::BadSetting { id: id.to_string(), key: key.clone(), problem })?;
        }
        self.update_state(|s| {
            let stored = s.settings.entry(id.to_string()).or_default();
            for (key, value) in values {
                stored.insert(key.clone(), value.clone());
            }
        })?;
        self.get(id)
    }

    fn manifest(&self, id: &str) -> Result<Arc<Manifest>, PluginError> {
        self.read_entries().get(id).map(|e| e.manifest.clone()).ok_or_else(|| PluginError::NotFound(id.to_string()))
    }

    fn enabled(&self, entry: &Entry) -> bool {
        entry.component.is_ok() && !self.read_state().disabled.contains(&entry.manifest.id)
    }

    fn call<R>(
        &self,
        entry: &Entry,
        hook: &str,
        f: impl FnOnce(&mut wasmtime::Store<crate::runtime::CallState>, &crate::runtime::v0_1_0::Plugin) -> wasmtime::Result<Result<R, String>>,
    ) -> Result<R, PluginError> {
        let component = entry.component.as_ref().map_err(|problem| PluginError::Component {
            id: entry.manifest.id.clone(),
            problem: problem.clone(),
        })?;
        let settings = Arc::new(self.read_state().settings.get(&entry.manifest.id).cloned().unwrap_or_default());
        let data_dir = entry.manifest.permissions.data.then(|| self.config.data_dir.join(&entry.manifest.id));
        let callee = Callee {
            manifest: &entry.manifest,
            component,
            settings: &settings,
            models: &self.models,
            data_dir: data_dir.as_deref(),
        };
        self.runtime.call(&callee, hook, self.config.limits, f)
    }

    /// Enabled plugins offering `hook`, by id.
    fn offering(&self, hook: Hook) -> Vec<String> {
        self.read_entries()
            .values()
            .filter(|e| e.manifest.hooks.contains(&hook) && self.enabled(e))
            .map(|e| e.manifest.id.clone())
            .collect()
    }

    /// Runs `f` on the entry `id` (looked up again, since an install may replace it).
    fn with_entry<R>(&self, id: &str, f: impl FnOnce(&Entry) -> Result<R, PluginError>) -> Result<R, PluginError> {
        let entries = self.read_entries();
        let entry = entries.get(id).ok_or_else(|| PluginError::NotFound(id.to_string()))?;
        f(entry)
    }

    /// Upscalers of enabled plugins, with the id of the plugin offering each.
    pub fn upscalers(&self) -> Vec<(String, Upscaler)> {
        self.read_entries()
            .values()
            .filter(|e| self.enabled(e))
            .flat_map(|e| {
                // A plugin that may run models lists one upscaler per installed model, and
                // models come and go while the daemon runs (a pack install); a call costs
                // about 0.1 ms. A failing call keeps the list from load.
                let list = if e.manifest.permissions.models.is_empty() {
                    e.upscalers.clone()
                } else {
                    self.call(e, "upscalers", |s, p| p.ra_plugin_hooks().call_upscalers(s).map(Ok))
                        .unwrap_or_else(|_| e.upscalers.clone())
                };
                list.into_iter().map(|u| (e.manifest.id.clone(), u))
            })
            .collect()
    }

    /// Upscales with the upscaler `name` by `scale`; the result must have the size the
    /// scale implies.
    pub fn upscale(&self, name: &str, image: Image, scale: f32) -> Result<Image, PluginError> {
        let all = self.upscalers();
        let (id, _) = all.iter().find(|(_, u)| u.name == name).ok_or_else(|| PluginError::NoSuch {
            kind: "upscaler",
            name: name.to_string(),
            available: all.iter().map(|(_, u)| u.name.as_str()).collect::<Vec<_>>().join(", "),
        })?;
        let want = ((image.width as f32 * scale).round() as u32, (image.height as f32 * scale).round() as u32);
        self.with_entry(id, |entry| {
            let out = self.call(entry, "upscale", |s, p| p.ra_plugin_hooks().call_upscale(s, name, &image, scale))?;
            check_image(entry, "upscale", &out, Some(want))?;
            Ok(out)
        })
    }

    /// Runs every enabled `process` hook in id order, each seeing the previous one's
    /// parameters. A hook whose plugin says `on-error = "skip"` is passed over when it
    /// fails.
    pub fn process(&self, mut params: Params) -> Result<Params, PluginError> {
        for id in self.offering(Hook::Process) {
            let result = self.with_entry(&id, |entry| {
                let out = self.call(entry, "process", |s, p| p.ra_plugin_hooks().call_process(s, &params))?;
                if out.width == 0 || out.height == 0 || out.steps == 0 {
                    return Err(PluginError::BadReturn {
                        plugin: id.clone(),
                        hook: "process".into(),
                        problem: format!("{}x{} with {} steps", out.width, out.height, out.steps),
                    });
                }
                Ok(out)
            });
            match (result, self.on_error(&id)) {
                (Ok(out), _) => params = out,
                (Err(e), OnError::Skip) => eprintln!("plugins: skipped: {e}"),
                (Err(e), OnError::Fail) => return Err(e),
            }
        }
        Ok(params)
    }

    /// Runs every enabled `postprocess-image` hook on one finished image; returns the
    /// final image and the infotext fields the hooks added.
    pub fn postprocess(&self, mut image: Image, params: &Params, infotext: &str) -> Result<(Image, Vec<Field>), PluginError> {
        let mut extra = Vec::new();
        for id in self.offering(Hook::PostprocessImage) {
            let size = (image.width, image.height);
            let result = self.with_entry(&id, |entry| {
                let out = self.call(entry, "postprocess-image", |s, p| {
                    p.ra_plugin_hooks().call_postprocess_image(s, &image, params, infotext)
                })?;
                if let Some(new) = &out.image {
                    check_image(entry, "postprocess-image", new, Some(size))?;
                }
                Ok(out)
            });
            match (result, self.on_error(&id)) {
                (Ok(out), _) => {
                    if let Some(new) = out.image {
                        image = new;
                    }
                    extra.extend(out.extra);
                }
                (Err(e), OnError::Skip) => eprintln!("plugins: skipped: {e}"),
                (Err(e), OnError::Fail) => return Err(e),
            }
        }
        Ok((image, extra))
    }

    /// Preprocessors of enabled plugins, with the id of the plugin offering each.
    pub fn preprocessors(&self) -> Vec<(String, String)> {
        self.read_entries()
            .values()
            .filter(|e| self.enabled(e))
            .flat_map(|e| e.manifest.preprocessors.iter().map(|n| (e.manifest.id.clone(), n.clone())))
            .collect()
    }

    /// Turns `image` into a control image with the preprocessor `name`.
    pub fn preprocess(&self, name: &str, image: Image) -> Result<Image, PluginError> {
        let all = self.preprocessors();
        let (id, _) = all.iter().find(|(_, n)| n == name).ok_or_else(|| PluginError::NoSuch {
            kind: "preprocessor",
            name: name.to_string(),
            available: all.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(", "),
        })?;
        let size = (image.width, image.height);
        self.with_entry(id, |entry| {
            let out = self.call(entry, "preprocess", |s, p| p.ra_plugin_hooks().call_preprocess(s, name, &image))?;
            check_image(entry, "preprocess", &out, Some(size))?;
            Ok(out)
        })
    }

    /// Runs the action `name` of plugin `id` with JSON `input` (checked to be JSON).
    pub fn action(&self, id: &str, name: &str, input: &str, images: Vec<Image>) -> Result<ActionOutput, PluginError> {
        self.with_entry(id, |entry| {
            if !entry.manifest.actions.iter().any(|a| a == name) {
                return Err(PluginError::NoSuch {
                    kind: "action",
                    name: format!("{id}/{name}"),
                    available: entry.manifest.actions.join(", "),
                });
            }
            if !self.enabled(entry) {
                return Err(entry.component.as_ref().err().map_or_else(
                    || PluginError::Disabled(id.to_string()),
                    |problem| PluginError::Component { id: id.to_string(), problem: problem.clone() },
                ));
            }
            let out = self.call(entry, "action", |s, p| p.ra_plugin_hooks().call_action(s, name, input, &images))?;
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&out.json) {
                return Err(PluginError::BadReturn {
                    plugin: id.to_string(),
                    hook: format!("action {name}"),
                    problem: format!("its answer is not JSON: {e}"),
                });
            }
            for image in &out.images {
                check_image(entry, "action", image, None)?;
            }
            Ok(out)
        })
    }

    fn on_error(&self, id: &str) -> OnError {
        self.read_entries().get(id).map(|e| e.manifest.on_error).unwrap_or_default()
    }
}

/// Largest side a plugin may return: beyond it the daemon could not encode the image.
const MAX_SIDE: u32 = 16384;

fn check_image(entry: &Entry, hook: &str, image: &Image, size: Option<(u32, u32)>) -> Result<(), PluginError> {
    let bad = |problem: String| PluginError::BadReturn { plugin: entry.manifest.id.clone(), hook: hook.into(), problem };
    if let Some((w, h)) = size {
        if (image.width, image.height) != (w, h) {
            return Err(bad(format!("an image of {}x{} where {w}x{h} was due", image.width, image.height)));
        }
    }
    if image.width == 0 || image.height == 0 || image.width > MAX_SIDE || image.height > MAX_SIDE {
        return Err(bad(format!("an image of {}x{}", image.width, image.height)));
    }
    let want = image.width as usize * image.height as usize * 4;
    if image.rgba.len() != want {
        return Err(bad(format!(
            "a {}x{} image with {} bytes of pixels instead of {want}",
            image.width,
            image.height,
            image.rgba.len()
        )));
    }
    Ok(())
}

fn info(entry: &Entry, state: &State) -> PluginInfo {
    let m = &entry.manifest;
    let values = state.settings.get(&m.id);
    PluginInfo {
        id: m.id.clone(),
        name: m.name.clone(),
        description: m.description.clone(),
        version: m.version.clone(),
        api: m.api.clone(),
        authors: m.authors.clone(),
        hooks: m.hooks.clone(),
        actions: m.actions.clone(),
        preprocessors: m.preprocessors.clone(),
        source: entry.source,
        enabled: entry.component.is_ok() && !state.disabled.contains(&m.id),
        status: if entry.component.is_ok() { "ready" } else { "broken" },
        error: entry.component.as_ref().err().cloned(),
        settings: m
            .settings
            .iter()
            .map(|s| SettingInfo {
                key: s.key.clone(),
                kind: s.kind,
                label: s.label.clone(),
                choices: s.choices.clone(),
                default: s.default.clone(),
                value: values.and_then(|v| v.get(&s.key)).cloned().unwrap_or_else(|| s.default.clone()),
            })
            .collect(),
        permissions: m.permissions.clone(),
    }
}

/// Sub-folders of `dir` holding a `plugin.toml`, by name; staging folders skipped.
fn plugin_folders(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut folders: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    folders.sort();
    folders
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if self.0.exists() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugins")
            .field("config", &self.config)
            .field("installed", &self.read_entries().keys().collect::<Vec<_>>())
            .finish()
    }
}
