//! Depth Anything V2: the monocular depth network the `depth` plugin asks the host to
//! run for depth2img and depth control images.
//!
//! **Contract.** [`DepthAnything::estimate`] takes `[1, 3, s, s]` (s =
//! [`DepthAnything::input_size`], 518) normalised with ImageNet's mean and deviation and
//! returns `[1, 1, s, s]` relative inverse depth (larger = nearer, ≥ 0, arbitrary
//! scale). Resizing and normalising are the caller's.
//!
//! **Files.** The official `depth_anything_v2_vit{s,b,l,g}.safetensors` naming:
//! `pretrained.*` (the DINOv2 backbone) and `depth_head.*` (the DPT head). The backbone
//! width and depth, the head's widths and whether it uses batch norm or the class
//! token are read from the shapes. The network code is candle-transformers' port, which
//! takes square inputs of exactly 518 pixels.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::depth_anything_v2::{DepthAnythingV2, DepthAnythingV2Config};
use candle_transformers::models::dinov2::DinoVisionTransformer;

use crate::error::{EngineError, Result};
use crate::weights::SafetensorsFile;

/// DINOv2's patch grid at its 518-pixel input: 37 × 14.
pub const INPUT_SIZE: usize = 518;
const PATCH: usize = 14;
/// The classifier head candle's DINOv2 expects but Depth Anything's files leave out.
const DINO_CLASSES: usize = 1000;

pub struct DepthAnything {
    path: PathBuf,
    net: DepthAnythingV2,
}

/// The backbone layers whose outputs feed the DPT head, as the reference configs list
/// them; other depths (test models) take four evenly spaced layers ending at the last.
fn layer_ids(depth: usize) -> Vec<usize> {
    match depth {
        24 => vec![4, 11, 17, 23],
        40 => vec![9, 19, 29, 39],
        n => (1..=4).map(|q| (q * n / 4).max(1) - 1).collect(),
    }
}

/// The shape of one tensor of the official layout, as a width setting: used by the
/// loader and by the test-model writer so both read the same hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthShape {
    pub embed_dim: usize,
    pub depth: usize,
    pub features: usize,
    pub out_channels: [usize; 4],
}

impl DepthShape {
    /// A few-kilobyte network of the real layout, for tests.
    pub const TINY: DepthShape = DepthShape { embed_dim: 64, depth: 4, features: 8, out_channels: [8, 16, 16, 32] };

    fn heads(&self) -> usize {
        // 64-wide heads in every released size (ViT-S 6, B 12, L 16, G 24).
        (self.embed_dim / 64).max(1)
    }

    fn config(&self, batch_norm: bool, class_token: bool) -> DepthAnythingV2Config {
        DepthAnythingV2Config::new(
            self.out_channels,
            self.embed_dim,
            self.features,
            batch_norm,
            class_token,
            layer_ids(self.depth),
            INPUT_SIZE,
            INPUT_SIZE / PATCH,
        )
    }

    /// Builds the network from `vb` (which must also serve `pretrained.head.*`).
    pub fn build(&self, vb: VarBuilder, batch_norm: bool, class_token: bool) -> Result<DepthAnythingV2> {
        let backbone = DinoVisionTransformer::new(vb.pp("pretrained"), self.depth, self.embed_dim, self.heads())?;
        Ok(DepthAnythingV2::new(Arc::new(backbone), self.config(batch_norm, class_token), vb)?)
    }
}

/// The network's hyper-parameters as the header shows them: (shape, batch norm, class token).
fn read_layout(file: &SafetensorsFile) -> Result<(DepthShape, bool, bool)> {
    let bad = |reason: String| EngineError::UnsupportedNetwork {
        path: file.path.clone(),
        kind: "a Depth Anything",
        reason,
    };
    let dim = |name: &str, axis: usize| file.shape(name).and_then(|s| s.get(axis).copied());
    let embed_dim = dim("pretrained.cls_token", 2).ok_or_else(|| {
        bad("it has no pretrained.cls_token: not a Depth Anything V2 checkpoint (MiDaS and ZoeDepth are not supported)".into())
    })?;
    let depth = (0..).take_while(|i| file.contains(&format!("pretrained.blocks.{i}.norm1.weight"))).count();
    let features = dim("depth_head.scratch.layer1_rn.weight", 0);
    let outs: [Option<usize>; 4] = std::array::from_fn(|i| dim(&format!("depth_head.projects.{i}.weight"), 0));
    let (Some(features), [Some(a), Some(b), Some(c), Some(d)]) = (features, outs) else {
        return Err(bad("its depth_head is incomplete (projects.0-3, scratch.layer1_rn)".into()));
    };
    if depth < 4 || file.shape("pretrained.pos_embed") != Some(vec![1, (INPUT_SIZE / PATCH).pow(2) + 1, embed_dim]) {
        return Err(bad(format!("a backbone of {depth} blocks with a position table not made for 518-pixel inputs")));
    }
    let shape = DepthShape { embed_dim, depth, features, out_channels: [a, b, c, d] };
    let batch_norm = file.contains("depth_head.scratch.refinenet1.resConfUnit1.bn1.weight");
    let class_token = file.contains("depth_head.readout_projects.0.0.weight");
    Ok((shape, batch_norm, class_token))
}

impl DepthAnything {
    /// Checks from the header alone that `path` is a Depth Anything V2 model RA runs.
    pub fn probe(path: &Path) -> Result<()> {
        read_layout(&SafetensorsFile::open(path)?).map(|_| ())
    }

    pub fn load(path: &Path, device: &Device) -> Result<DepthAnything> {
        let file = SafetensorsFile::open(path)?;
        let (shape, batch_norm, class_token) = read_layout(&file)?;
        let mut tensors = HashMap::new();
        for name in file.names() {
            tensors.insert(name.clone(), file.tensor(&name)?.to_dtype(DType::F32)?.to_device(device)?);
        }
        // candle's DINOv2 always builds an ImageNet classifier; Depth Anything never uses it.
        let zeros = |dims: &[usize]| Tensor::zeros(dims, DType::F32, device);
        tensors.entry("pretrained.head.weight".into()).or_insert(zeros(&[DINO_CLASSES, 2 * shape.embed_dim])?);
        tensors.entry("pretrained.head.bias".into()).or_insert(zeros(&[DINO_CLASSES])?);
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let net = shape.build(vb, batch_norm, class_token).map_err(|e| EngineError::UnsupportedNetwork {
            path: path.to_path_buf(),
            kind: "a Depth Anything",
            reason: e.to_string(),
        })?;
        Ok(DepthAnything { path: path.to_path_buf(), net })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The square side the network takes.
    pub fn input_size(&self) -> usize {
        INPUT_SIZE
    }

    pub fn estimate(&self, image: &Tensor) -> Result<Tensor> {
        let dims = image.dims();
        if dims != [1, 3, INPUT_SIZE, INPUT_SIZE] {
            return Err(EngineError::InvalidRequest(format!(
                "Depth Anything takes [1, 3, {INPUT_SIZE}, {INPUT_SIZE}], got {dims:?}"
            )));
        }
        let out = self.net.forward(&image.to_dtype(DType::F32)?)?;
        // candle's head ends two pixels larger than its input (520²); nearest-neighbour
        // back to the input's grid keeps the contract's shape.
        let (_, _, h, w) = out.dims4()?;
        Ok(if (h, w) == (INPUT_SIZE, INPUT_SIZE) { out } else { out.interpolate2d(INPUT_SIZE, INPUT_SIZE)? })
    }
}
