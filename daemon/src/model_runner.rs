//! The host's side of the plugins' `run-model`: the upscaler and depth networks
//! installed under the model roots (`models/ESRGAN`, `RealESRGAN`, `upscale_models`;
//! `models/depth`), listed for plugins and run on candle (`.safetensors`) or ONNX
//! Runtime (`.onnx`, [`ra_engine::onnx::image_model`]). An `.onnx` upscaler's factor is
//! found by running it once; that and the loaded graph are kept, so listing stays cheap.
//!
//! A plugin names a model `kind/name` (the file stem). The last upscaler used stays
//! loaded, since a tiled upscale calls the same one many times in a row; a depth model
//! runs once per image and is loaded for that call (candle's Depth Anything cannot be
//! shared between threads).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ra_engine::candle::{Device, Tensor as CTensor};
use ra_engine::depth_anything::DepthAnything;
use ra_engine::esrgan::Esrgan;
use ra_engine::onnx::image_model::OnnxImageModel;
use ra_engine::onnx::RuntimeOptions;
use ra_plugins::{ModelInfo, ModelRunner, Tensor};

use crate::models::{self, ModelKind};

fn is_onnx(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}

/// What a plugin is told about a model, from its header alone (listing must stay cheap:
/// `/sdapi/v1/upscalers` asks for it); an `.onnx` graph is opened once and kept.
fn details(models: &LocalModels, kind: &str, path: &Path) -> Result<serde_json::Value, String> {
    if is_onnx(path) {
        let net = models.onnx_model(path)?;
        return match kind {
            "upscaler" => net.scale().map(|scale| serde_json::json!({"scale": scale})).map_err(|e| e.to_string()),
            _ => Ok(serde_json::json!({"input_size": net.fixed_side().unwrap_or(ra_engine::depth_anything::INPUT_SIZE)})),
        };
    }
    let probed = match kind {
        "upscaler" => Esrgan::probe(path).map(|scale| serde_json::json!({"scale": scale})),
        _ => DepthAnything::probe(path).map(|()| serde_json::json!({"input_size": ra_engine::depth_anything::INPUT_SIZE})),
    };
    probed.map_err(|e| e.to_string())
}

/// The plugin-facing kinds and where their files live.
const KINDS: [(&str, ModelKind); 2] = [("upscaler", ModelKind::Upscaler), ("depth", ModelKind::Depth)];

/// Upscaler and depth models under the daemon's model roots.
pub struct LocalModels {
    roots: Vec<PathBuf>,
    device: Device,
    /// The last upscaler run: its id, file and network.
    loaded: Mutex<Option<(String, PathBuf, Arc<Esrgan>)>>,
    /// Files already reported as unusable (listing runs on every upscaler list request).
    reported: Mutex<HashSet<PathBuf>>,
    /// Where ONNX Runtime is, for `.onnx` models.
    onnx: RuntimeOptions,
    /// `.onnx` graphs opened so far, by file and modification time.
    graphs: Mutex<Vec<(PathBuf, Option<std::time::SystemTime>, Arc<OnnxImageModel>)>>,
}

impl LocalModels {
    pub fn new(roots: Vec<PathBuf>) -> LocalModels {
        LocalModels {
            roots,
            device: Device::Cpu,
            loaded: Mutex::new(None),
            reported: Mutex::default(),
            onnx: RuntimeOptions::default(),
            graphs: Mutex::default(),
        }
    }

    /// Runs `.onnx` models on the ONNX Runtime `options` name (default: ORT_DYLIB_PATH).
    pub fn with_onnx(mut self, options: RuntimeOptions) -> LocalModels {
        self.onnx = options;
        self
    }

    /// The graph at `path`, opened once per version of the file.
    fn onnx_model(&self, path: &Path) -> Result<Arc<OnnxImageModel>, String> {
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let mut graphs = self.graphs.lock().map_err(|_| "the model cache is poisoned".to_string())?;
        if let Some((_, _, net)) = graphs.iter().find(|(p, m, _)| p == path && *m == modified) {
            return Ok(net.clone());
        }
        let net = Arc::new(OnnxImageModel::load(path, &self.onnx).map_err(|e| e.to_string())?);
        graphs.retain(|(p, _, _)| p != path);
        graphs.push((path.to_path_buf(), modified, net.clone()));
        Ok(net)
    }

    /// Every `.safetensors` or `.onnx` of a plugin-facing kind, as (kind, stem, path),
    /// first root first.
    fn files(&self) -> Vec<(&'static str, String, PathBuf)> {
        let mut out: Vec<(&'static str, String, PathBuf)> = Vec::new();
        for (kind, model_kind) in KINDS {
            for dir in models::dirs_of(&self.roots, model_kind) {
                let Ok(entries) = std::fs::read_dir(&dir) else { continue };
                let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
                paths.sort();
                for path in paths {
                    let is_weights = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("safetensors")) || is_onnx(&path);
                    let Some(stem) = path.file_stem().and_then(|s| s.to_str()).map(str::to_string) else { continue };
                    if is_weights && !out.iter().any(|(k, s, _)| *k == kind && *s == stem) {
                        out.push((kind, stem, path));
                    }
                }
            }
        }
        out
    }

    /// The loaded upscaler `id`, if it is the last one run and its file is still there:
    /// a tiled upscale asks for it once per tile, without scanning the folders again.
    fn cached_upscaler(&self, id: &str) -> Option<Arc<Esrgan>> {
        let loaded = self.loaded.lock().ok()?;
        loaded.as_ref().filter(|(i, p, _)| i == id && p.is_file()).map(|(_, _, net)| net.clone())
    }

    fn load_upscaler(&self, id: &str, path: &Path) -> Result<Arc<Esrgan>, String> {
        let mut loaded = self.loaded.lock().map_err(|_| "the model cache is poisoned".to_string())?;
        // Drop the old network before loading the next: two may not fit.
        *loaded = None;
        let net = Arc::new(Esrgan::load(path, &self.device).map_err(|e| e.to_string())?);
        *loaded = Some((id.to_string(), path.to_path_buf(), net.clone()));
        Ok(net)
    }

    fn forward(&self, id: &str, input: &CTensor) -> Result<CTensor, String> {
        if let Some(net) = self.cached_upscaler(id) {
            return net.upscale(input).map_err(|e| e.to_string());
        }
        let (kind, path) = self
            .files()
            .into_iter()
            .find(|(kind, stem, _)| format!("{kind}/{stem}") == id)
            .map(|(kind, _, path)| (kind, path))
            .ok_or_else(|| format!("model {id:?} is not installed (put its .safetensors or .onnx in models/ESRGAN or models/depth)"))?;
        if is_onnx(&path) {
            return self.onnx_model(&path)?.run(input).map_err(|e| e.to_string());
        }
        let out = match kind {
            "upscaler" => self.load_upscaler(id, &path)?.upscale(input),
            _ => DepthAnything::load(&path, &self.device).and_then(|net| net.estimate(input)),
        };
        out.map_err(|e| e.to_string())
    }
}

impl ModelRunner for LocalModels {
    fn list(&self) -> Vec<ModelInfo> {
        self.files()
            .into_iter()
            .filter_map(|(kind, stem, path)| {
                // Files that are not a network RA runs are left out (the log says why)
                // rather than offered and failing later.
                match details(self, kind, &path) {
                    Ok(details) => Some(ModelInfo { id: format!("{kind}/{stem}"), kind: kind.into(), details: details.to_string() }),
                    Err(e) => {
                        if self.reported.lock().is_ok_and(|mut seen| seen.insert(path.clone())) {
                            eprintln!("ra-daemon: {kind} model {} is not offered to plugins: {e}", path.display());
                        }
                        None
                    }
                }
            })
            .collect()
    }

    fn run(&self, id: &str, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, String> {
        let [input] = &inputs[..] else {
            return Err(format!("{id} takes one input tensor, got {}", inputs.len()));
        };
        let dims: Vec<usize> = input.shape.iter().map(|&d| d as usize).collect();
        let tensor = CTensor::from_slice(&input.data, dims.as_slice(), &self.device).map_err(|e| e.to_string())?;
        let out = self.forward(id, &tensor).map_err(|e| format!("{id}: {e}"))?;
        let shape = out.dims().iter().map(|&d| d as u32).collect();
        let data = out.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(|e| e.to_string())?;
        Ok(vec![Tensor { shape, data }])
    }
}
