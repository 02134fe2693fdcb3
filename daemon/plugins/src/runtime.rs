//! Running plugin components: one wasmtime engine, compiled components cached on disk,
//! and a fresh store for every call with a memory cap, a deadline and a WASI context
//! that grants nothing: no preopened folders (but the plugin's own data folder when its
//! manifest asks), no environment, no sockets, clocks stuck at zero, stdout discarded
//! and stderr kept only to explain a crash.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, ResourceLimiter, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::manifest::Manifest;
use crate::PluginError;

/// Host bindings for contract 0.1.0. A later contract gets a module of its own beside it.
pub mod v0_1_0 {
    wasmtime::component::bindgen!({
        path: "../../plugin-sdk/wit/v0.1.0",
        world: "plugin",
    });
}

use v0_1_0::ra::plugin::types::{LogLevel, ModelInfo, Tensor};

/// The bounds every call runs within.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Linear memory a plugin may hold during one call.
    pub memory_mib: u64,
    /// Wall-clock time one call's own code may take before it is stopped; the time the
    /// host spends in `run-model` for it does not count.
    pub call_seconds: f64,
}

impl Limits {
    /// What the daemon uses unless configured otherwise: room for a 4× upscale of a
    /// 1024² image.
    pub const DEFAULT: Limits = Limits { memory_mib: 256, call_seconds: 60.0 };

    /// Tight bounds for tests of hostile plugins.
    pub const STRICT: Limits = Limits { memory_mib: 64, call_seconds: 2.0 };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// The host's backend for `run-model`. The plugin host only checks the permission;
/// whoever owns the models lists and runs them.
pub trait ModelRunner: Send + Sync {
    /// Every installed model, `id` being `kind/name`.
    fn list(&self) -> Vec<ModelInfo>;
    /// Runs the model `id` (already checked against the plugin's permissions).
    fn run(&self, id: &str, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, String>;
}

/// A backend with no models installed.
pub struct NoModels;

impl ModelRunner for NoModels {
    fn list(&self) -> Vec<ModelInfo> {
        Vec::new()
    }
    fn run(&self, id: &str, _inputs: Vec<Tensor>) -> Result<Vec<Tensor>, String> {
        Err(format!("model {id:?} is not installed"))
    }
}

/// How long one epoch tick lasts; deadlines are whole ticks.
const TICK: Duration = Duration::from_millis(10);

/// The engine, its linker and the epoch clock that enforces deadlines.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    cache_dir: Option<PathBuf>,
    ticking: Arc<AtomicBool>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticking.store(false, Ordering::Relaxed);
    }
}

impl Runtime {
    /// `cache_dir` keeps compiled components between runs; `None` compiles every time.
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Runtime, PluginError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config).map_err(|e| PluginError::Component {
            id: "(engine)".into(),
            problem: e.to_string(),
        })?;
        let mut linker = Linker::new(&engine);
        let wiring = wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .and_then(|()| v0_1_0::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s));
        wiring.map_err(|e| PluginError::Component { id: "(linker)".into(), problem: e.to_string() })?;

        // One thread advances the epoch for every store of this engine; it ends when the
        // runtime is dropped.
        let ticking = Arc::new(AtomicBool::new(true));
        let (clock, flag) = (engine.weak(), ticking.clone());
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    match clock.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(PluginError::io("(plugin epoch thread)"))?;
        Ok(Runtime { engine, linker, cache_dir, ticking })
    }

    /// Compiles `wasm` (or loads the cached compilation) and checks that it is a
    /// component whose imports this host provides.
    pub fn compile(&self, id: &str, wasm: &Path) -> Result<Component, PluginError> {
        let bytes = std::fs::read(wasm).map_err(PluginError::io(wasm))?;
        let bad = |problem: String| PluginError::Component { id: id.to_string(), problem };
        let cached = self.cache_path(&bytes);
        let mut component = None;
        if let Some(path) = cached.as_ref().filter(|p| p.is_file()) {
            // SAFETY: the file is one this host serialized into its own cache folder for
            // this engine configuration (the name holds the engine's compatibility hash);
            // a file that fails to load is compiled afresh.
            component = unsafe { Component::deserialize_file(&self.engine, path) }.ok();
        }
        let component = match component {
            Some(c) => c,
            None => {
                let c = Component::new(&self.engine, &bytes).map_err(|e| {
                    bad(format!("{e:#}; build it with `cargo build --release --target wasm32-wasip2`"))
                })?;
                if let Some(path) = &cached {
                    // A failed cache write only costs a compile next time.
                    let _ = c.serialize().map(|data| write_atomically(path, &data));
                }
                c
            }
        };
        self.linker
            .instantiate_pre(&component)
            .map_err(|e| bad(format!("it needs something the host does not offer: {e:#}")))?;
        Ok(component)
    }

    fn cache_path(&self, wasm: &[u8]) -> Option<PathBuf> {
        use std::hash::{Hash, Hasher};
        let dir = self.cache_dir.as_ref()?;
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut engine_hash);
        let digest = Sha256::digest(wasm);
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        Some(dir.join(format!("{hex}-{:016x}.cwasm", engine_hash.finish())))
    }

    /// Runs `f` on a fresh instance of `component` within `limits`.
    pub fn call<R>(
        &self,
        plugin: &Callee<'_>,
        hook: &str,
        limits: Limits,
        f: impl FnOnce(&mut Store<CallState>, &v0_1_0::Plugin) -> wasmtime::Result<Result<R, String>>,
    ) -> Result<R, PluginError> {
        let stderr = MemoryOutputPipe::new(16 * 1024);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stderr(stderr.clone())
            .wall_clock(Frozen)
            .monotonic_clock(Frozen)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        if let Some(data) = plugin.data_dir {
            std::fs::create_dir_all(data).map_err(PluginError::io(data))?;
            wasi.preopened_dir(data, "/data", FsPerms::ReadWrite)
                .map_err(|e| PluginError::Io { path: data.to_path_buf(), source: std::io::Error::other(e.to_string()) })?;
        }
        let state = CallState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            cap: MemoryCap { bytes: (limits.memory_mib as usize) << 20, hit: false },
            manifest: plugin.manifest.clone(),
            settings: plugin.settings.clone(),
            models: plugin.models.clone(),
            started: Instant::now(),
            in_host: Duration::ZERO,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.cap);
        // The deadline is checked every tick: a call may run until its own code (wall
        // time minus the host's model runs for it) has used the limit.
        let limit = Duration::from_secs_f64(limits.call_seconds.max(TICK.as_secs_f64()));
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |ctx| {
            let state = ctx.data();
            if state.started.elapsed().saturating_sub(state.in_host) >= limit {
                Err(wasmtime::Trap::Interrupt.into())
            } else {
                Ok(wasmtime::UpdateDeadline::Continue(1))
            }
        });

        let id = &plugin.manifest.id;
        let outcome = v0_1_0::Plugin::instantiate(&mut store, plugin.component, &self.linker)
            .and_then(|instance| f(&mut store, &instance));
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(message)) => Err(PluginError::Failed { plugin: id.clone(), hook: hook.into(), message }),
            Err(error) => {
                if store.data().cap.hit {
                    return Err(PluginError::MemoryCap { plugin: id.clone(), hook: hook.into(), mib: limits.memory_mib });
                }
                if error.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
                    return Err(PluginError::Timeout { plugin: id.clone(), hook: hook.into(), seconds: limits.call_seconds });
                }
                let said = String::from_utf8_lossy(&stderr.contents()).trim().to_string();
                let message = if said.is_empty() { format!("{error:#}") } else { format!("{said} ({error})") };
                Err(PluginError::Trapped { plugin: id.clone(), hook: hook.into(), message })
            }
        }
    }
}

/// What one call needs to know about the plugin it runs.
pub struct Callee<'a> {
    pub manifest: &'a Arc<Manifest>,
    pub component: &'a Component,
    pub settings: &'a Arc<serde_json::Map<String, serde_json::Value>>,
    pub models: &'a Arc<dyn ModelRunner>,
    pub data_dir: Option<&'a Path>,
}

fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let part = path.with_extension("part");
    std::fs::write(&part, data)?;
    std::fs::rename(&part, path)
}

/// The store's data for one call.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    cap: MemoryCap,
    manifest: Arc<Manifest>,
    settings: Arc<serde_json::Map<String, serde_json::Value>>,
    models: Arc<dyn ModelRunner>,
    started: Instant,
    /// Time spent in `run-model`, which the deadline does not count.
    in_host: Duration,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl v0_1_0::ra::plugin::types::Host for CallState {}

impl v0_1_0::ra::plugin::host::Host for CallState {
    fn log(&mut self, level: LogLevel, message: String) {
        let level = match level {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        };
        // Plugins write single lines; a newline must not forge another log line.
        let line: String = message.chars().map(|c| if c.is_control() { ' ' } else { c }).take(2000).collect();
        eprintln!("plugin {} [{level}]: {line}", self.manifest.id);
    }

    fn setting(&mut self, key: String) -> Option<String> {
        let setting = self.manifest.setting(&key)?;
        let value = self.settings.get(&key).unwrap_or(&setting.default);
        Some(value.to_string())
    }

    fn models(&mut self) -> Vec<ModelInfo> {
        self.models.list().into_iter().filter(|m| self.manifest.may_run(&m.id)).collect()
    }

    fn run_model(&mut self, model: String, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, String> {
        if !self.manifest.may_run(&model) {
            return Err(format!(
                "model {model:?} is not allowed by this plugin's permissions.models ({:?})",
                self.manifest.permissions.models
            ));
        }
        for t in &inputs {
            let want: usize = t.shape.iter().map(|&d| d as usize).product();
            if want != t.data.len() {
                return Err(format!("a tensor of shape {:?} needs {want} values, got {}", t.shape, t.data.len()));
            }
        }
        let started = Instant::now();
        let outcome = self.models.run(&model, inputs);
        self.in_host += started.elapsed();
        outcome
    }
}

/// Clocks that always read zero: a plugin gets no time source unless it is given one.
struct Frozen;

impl wasmtime_wasi::HostWallClock for Frozen {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for Frozen {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// The memory cap; remembers being hit so the error can say so.
struct MemoryCap {
    bytes: usize,
    hit: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.bytes {
            self.hit = true;
            wasmtime::bail!("memory cap of {} MiB reached", self.bytes >> 20);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}
