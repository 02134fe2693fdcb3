//! Finding and starting ONNX Runtime.
//!
//! `ort` is built with `load-dynamic`: nothing links against ONNX Runtime, and the
//! shared library is opened at run time from a path. That path comes from the caller
//! (the daemon's `onnx_runtime` setting) or `ORT_DYLIB_PATH`; `scripts/env.sh` fetches
//! `libonnxruntime.so.1.31.1` from the `onnxruntime==1.31.1` wheel and exports the
//! latter.
//!
//! Contract: [`Runtime::get`] never panics and never aborts the process. A missing,
//! unreadable or foreign library is an [`EngineError::OnnxRuntime`] naming the path it
//! tried and how to install the right one, and nothing is cached, so a later call (after
//! the user installs it) tries again. Once a library has loaded it stays loaded for the
//! life of the process (ONNX Runtime cannot be unloaded), and every later call shares it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;

use crate::error::{EngineError, Result};

/// The ONNX Runtime release RA is built and tested against.
pub const TESTED_VERSION: &str = "1.31.1";

/// How to install the library, said after every failure to find one.
pub const INSTALL_HINT: &str = "ONNX Runtime 1.31.1 comes in the onnxruntime==1.31.1 wheel on PyPI: `source scripts/env.sh` (scripts/run.sh and scripts/test.sh do) fetches it into ~/.cache/ra/onnxruntime/; or unzip onnxruntime/capi/libonnxruntime.so.1.31.1 (onnxruntime.dll on Windows, libonnxruntime.1.31.1.dylib on macOS) from that wheel yourself. Then set `onnx_runtime = \"PATH\"` in daemon.toml or ORT_DYLIB_PATH=PATH";

/// Where the hardware runs the graphs, in order of preference. Providers other than
/// the CPU need a build with the matching cargo feature (`onnx-cuda`, `onnx-directml`,
/// `onnx-coreml`) and a library that includes them (the `onnxruntime-gpu` wheel for
/// CUDA, `onnxruntime-directml` for DirectML; the plain wheels for macOS have CoreML).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionProvider {
    Cpu,
    Cuda,
    DirectMl,
    CoreMl,
}

impl ExecutionProvider {
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda),
            "directml" | "dml" => Ok(Self::DirectMl),
            "coreml" => Ok(Self::CoreMl),
            _ => Err(EngineError::InvalidRequest(format!(
                "unknown ONNX execution provider '{s}'; known: cpu, cuda, directml, coreml"
            ))),
        }
    }

    fn dispatch(self) -> Result<ort::ep::ExecutionProviderDispatch> {
        let missing = |feature: &str| {
            Err(EngineError::InvalidRequest(format!(
                "the {self:?} execution provider needs ra-daemon built with `--features {feature}`"
            )))
        };
        match self {
            Self::Cpu => Ok(ort::ep::CPU::default().build()),
            #[cfg(feature = "onnx-cuda")]
            Self::Cuda => Ok(ort::ep::CUDA::default().build()),
            #[cfg(not(feature = "onnx-cuda"))]
            Self::Cuda => missing("onnx-cuda"),
            #[cfg(feature = "onnx-directml")]
            Self::DirectMl => Ok(ort::ep::DirectML::default().build()),
            #[cfg(not(feature = "onnx-directml"))]
            Self::DirectMl => missing("onnx-directml"),
            #[cfg(feature = "onnx-coreml")]
            Self::CoreMl => Ok(ort::ep::CoreML::default().build()),
            #[cfg(not(feature = "onnx-coreml"))]
            Self::CoreMl => missing("onnx-coreml"),
        }
    }
}

/// What the daemon's configuration says about ONNX Runtime.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuntimeOptions {
    /// The shared library; `None`: `ORT_DYLIB_PATH`.
    pub library: Option<PathBuf>,
    /// Tried in order, the CPU always last; empty: the CPU only.
    pub providers: Vec<ExecutionProvider>,
    /// Threads one graph may use; `None`: every core.
    pub threads: Option<usize>,
}

/// A loaded ONNX Runtime: opens sessions on graph files.
pub struct Runtime {
    pub library: PathBuf,
    options: RuntimeOptions,
    // Kept so that the environment lives as long as any session made from it.
    environment: ort::environment::Environment,
}

static LOADED: Mutex<Option<Arc<Runtime>>> = Mutex::new(None);

/// Turns any `ort` error into ours, saying what was being done.
pub(crate) fn ort_error(doing: impl std::fmt::Display, e: impl std::fmt::Display) -> EngineError {
    EngineError::Onnx(format!("{doing}: {e}"))
}

impl Runtime {
    /// The library the options point at: configured, else `ORT_DYLIB_PATH`, else the
    /// copy `scripts/env.sh` keeps in `~/.cache/ra/onnxruntime/` when it is there.
    pub fn library_path(options: &RuntimeOptions) -> Option<PathBuf> {
        options
            .library
            .clone()
            .or_else(|| {
                std::env::var_os("ORT_DYLIB_PATH")
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from)
            })
            .or_else(|| {
                let cache = std::env::var_os("XDG_CACHE_HOME")
                    .map(PathBuf::from)
                    .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
                let lib = cache
                    .join("ra/onnxruntime")
                    .join(TESTED_VERSION)
                    .join(format!("libonnxruntime.so.{TESTED_VERSION}"));
                lib.is_file().then_some(lib)
            })
    }

    /// The process's runtime, loading the library on first use.
    pub fn get(options: &RuntimeOptions) -> Result<Arc<Self>> {
        let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rt) = loaded.as_ref() {
            return Ok(Arc::clone(rt));
        }
        let Some(path) = Self::library_path(options) else {
            return Err(EngineError::OnnxRuntime {
                path: None,
                reason: "no library is configured (onnx_runtime in daemon.toml) and ORT_DYLIB_PATH is not set".into(),
            });
        };
        let fail = |reason: String| EngineError::OnnxRuntime {
            path: Some(path.clone()),
            reason,
        };
        if !path.is_file() {
            return Err(fail("there is no such file".into()));
        }
        let builder = ort::init_from(&path).map_err(|e| {
            fail(match e {
                ort::LoadDynamicError::Dlopen { error, .. } => format!(
                    "it could not be opened as a shared library ({error}); the file is damaged or for another system"
                ),
                ort::LoadDynamicError::MissingApi { .. } => {
                    "it is a shared library but not ONNX Runtime (it has no OrtGetApiBase)".into()
                }
                ort::LoadDynamicError::BadVersion { version_str, .. } => format!(
                    "it is ONNX Runtime {version_str}, older than this build of RA supports (1.{} or newer; {TESTED_VERSION} is tested)",
                    ort::MINOR_VERSION
                ),
                other => other.to_string(),
            })
        })?;
        let environment = builder
            .with_name("ra")
            .build()
            .map_err(|e| fail(format!("it loaded but would not start: {e}")))?;
        let rt = Arc::new(Self {
            library: path,
            options: options.clone(),
            environment,
        });
        *loaded = Some(Arc::clone(&rt));
        Ok(rt)
    }

    /// A session on the graph at `path`, on the configured execution providers.
    pub fn session(&self, path: &Path) -> Result<Session> {
        if !path.is_file() {
            return Err(EngineError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such ONNX graph"),
            ));
        }
        let threads = self.options.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        });
        let mut providers = self
            .options
            .providers
            .iter()
            .filter(|p| **p != ExecutionProvider::Cpu)
            .map(|p| p.dispatch())
            .collect::<Result<Vec<_>>>()?;
        providers.push(ExecutionProvider::Cpu.dispatch()?);
        let opening = format!("ONNX Runtime could not open {}", path.display());
        let mut builder = Session::builder(&self.environment)
            .map_err(|e| ort_error(&opening, e))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|e| ort_error(&opening, e))?
            .with_intra_threads(threads)
            .map_err(|e| ort_error(&opening, e))?
            .with_execution_providers(providers)
            .map_err(|e| ort_error(&opening, e))?;
        builder.commit_from_file(path).map_err(|e| {
            ort_error(
                format!("{} is not an ONNX graph RA can run", path.display()),
                e,
            )
        })
    }
}
