//! Single-image ONNX graphs for the plugin host's `run-model`: ESRGAN-family upscalers
//! and depth estimators, as published (`4x-UltraSharp.onnx`, `depth_anything_v2_vits.onnx`).
//!
//! **Contract.** The graph has one tensor input `[1, 3, h, w]` (f32 or f16) and its first
//! output is the result: `[1, 3, h·s, w·s]` for an upscaler, a depth map for a depth model.
//! The tensors pass through unchanged (value ranges are the plugin's business, as on
//! candle). An upscaler's factor is found by running it once on a 16×16 input, since a
//! graph does not state it.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use super::runtime::{Runtime, RuntimeOptions};
use super::session::OnnxGraph;
use crate::error::{EngineError, Result};

pub struct OnnxImageModel {
    pub path: PathBuf,
    graph: OnnxGraph,
    input: String,
}

impl OnnxImageModel {
    pub fn load(path: &Path, options: &RuntimeOptions) -> Result<Self> {
        let rt = Runtime::get(options)?;
        let graph = OnnxGraph::open(&rt, path)?;
        let input = match &graph.inputs[..] {
            [(name, _, shape)] if shape.len() == 4 && matches!(shape[1], 3 | -1) => name.clone(),
            other => {
                return Err(EngineError::UnsupportedNetwork {
                    path: path.to_path_buf(),
                    kind: "an image",
                    reason: format!(
                        "it takes {} input(s) ({}); RA runs graphs with one [1, 3, h, w] image input",
                        other.len(),
                        other.iter().map(|(n, _, s)| format!("{n} {s:?}")).collect::<Vec<_>>().join(", ")
                    ),
                })
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            graph,
            input,
        })
    }

    /// The fixed input side when the graph fixes one (depth models often take 518²).
    pub fn fixed_side(&self) -> Option<usize> {
        let shape = self.graph.input_shape(&self.input)?;
        (shape[2] > 0).then_some(shape[2] as usize)
    }

    pub fn run(&self, image: &Tensor) -> Result<Tensor> {
        self.graph.run(&[(&self.input, image)], None)
    }

    /// How much an upscaler enlarges: its output side over its input side on 16×16.
    pub fn scale(&self) -> Result<usize> {
        let side = self.fixed_side().unwrap_or(16);
        let probe = Tensor::zeros((1, 3, side, side), candle_core::DType::F32, &Device::Cpu)?;
        let out = self.run(&probe)?;
        let (_, c, h, _) = out.dims4()?;
        if c != 3 || h % side != 0 || h < side {
            return Err(EngineError::UnsupportedNetwork {
                path: self.path.clone(),
                kind: "an upscaler",
                reason: format!("on a {side}² image it gives {:?}, not 3 channels at a whole multiple of the size", out.dims()),
            });
        }
        Ok(h / side)
    }
}
