//! ESRGAN-family upscalers (RRDBNet): the 4× models A1111 lists from `models/ESRGAN`
//! (4x-UltraSharp, 4x_foolhardy_Remacri, …) and Real-ESRGAN's x4plus / x2plus.
//!
//! **Contract.** [`Esrgan::upscale`] takes `[1, 3, h, w]` RGB in 0..1 and returns
//! `[1, 3, h·scale, w·scale]`, unclamped; tiling, blending and clamping are the
//! caller's (the `upscale` plugin's) business.
//!
//! **Files.** `.safetensors` in either naming: the original ESRGAN's (`model.0.weight`,
//! `model.1.sub.N.RDB1.conv1.0.weight`, …, upsampling convs at `model.3`, `model.6`, then
//! the last two convs), or Real-ESRGAN's (`conv_first`, `body.N.rdb1.conv1`,
//! `conv_body`, `conv_up1`, `conv_up2`, `conv_hr`, `conv_last`). Everything — feature
//! width, block count, growth, scale — is read from the shapes. Real-ESRGAN's x2 and x1
//! models fold 2×2 / 4×4 pixels into channels before `conv_first` (12 or 48 inputs) and
//! then upsample 4×.
//!
//! **Network.** `conv_first` → N residual-in-residual dense blocks (three dense blocks of
//! five 3×3 convs each, outputs scaled by 0.2 before the skip) → `conv_body` + skip →
//! per upsampling conv: 2× nearest, conv, LeakyReLU(0.2) → `conv_hr`, LeakyReLU →
//! `conv_last`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, VarBuilder};

use crate::error::{EngineError, Result};
use crate::weights::SafetensorsFile;

pub struct Esrgan {
    path: PathBuf,
    conv_first: Conv2d,
    blocks: Vec<[DenseBlock; 3]>,
    conv_body: Conv2d,
    ups: Vec<Conv2d>,
    conv_hr: Conv2d,
    conv_last: Conv2d,
    /// 1, 2 or 4: pixels folded into channels before `conv_first`.
    unshuffle: usize,
    scale: usize,
}

struct DenseBlock {
    convs: [Conv2d; 5],
}

fn lrelu(x: &Tensor) -> candle_core::Result<Tensor> {
    // LeakyReLU(0.2) = max(x, 0.2x).
    x.maximum(&(x * 0.2)?)
}

impl DenseBlock {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut features = vec![x.clone()];
        for conv in &self.convs[..4] {
            let next = lrelu(&conv.forward(&Tensor::cat(&features, 1)?)?)?;
            features.push(next);
        }
        let last = self.convs[4].forward(&Tensor::cat(&features, 1)?)?;
        x + (last * 0.2)?
    }
}

/// Real-ESRGAN's names for the original ESRGAN's positional ones.
fn rename_original(names: &[String]) -> Option<HashMap<String, String>> {
    let mut top: Vec<usize> = names
        .iter()
        .filter_map(|n| n.strip_prefix("model.")?.strip_suffix(".weight")?.parse().ok())
        .collect();
    top.sort_unstable();
    top.dedup();
    // model.0 = conv_first; then (model.1 = the trunk) the upsampling convs, conv_hr, conv_last.
    if top.first() != Some(&0) || top.len() < 3 {
        return None;
    }
    let tail: Vec<usize> = top[1..].to_vec();
    let (convs, last_two) = tail.split_at(tail.len() - 2);
    let mut map = HashMap::new();
    let mut put = |from: String, to: String| {
        for suffix in ["weight", "bias"] {
            map.insert(format!("{from}.{suffix}"), format!("{to}.{suffix}"));
        }
    };
    put("model.0".into(), "conv_first".into());
    for (i, n) in convs.iter().enumerate() {
        put(format!("model.{n}"), format!("conv_up{}", i + 1));
    }
    put(format!("model.{}", last_two[0]), "conv_hr".into());
    put(format!("model.{}", last_two[1]), "conv_last".into());
    for name in names {
        let Some(rest) = name.strip_prefix("model.1.sub.") else { continue };
        let (block, rest) = rest.split_once('.').unwrap_or((rest, ""));
        let renamed = if rest == "weight" || rest == "bias" {
            // The trunk's closing conv sits after the blocks as `model.1.sub.N`.
            format!("conv_body.{rest}")
        } else {
            // `RDB1.conv1.0.weight` → `rdb1.conv1.weight`
            let rest = rest.replacen("RDB", "rdb", 1).replace(".0.weight", ".weight").replace(".0.bias", ".bias");
            format!("body.{block}.{rest}")
        };
        map.insert(name.clone(), renamed);
    }
    Some(map)
}

fn conv(vb: &VarBuilder, name: &str, shapes: &HashMap<String, Vec<usize>>) -> Result<Conv2d> {
    let dims = shapes.get(&format!("{name}.weight")).ok_or_else(|| EngineError::MissingWeight {
        name: format!("{name}.weight"),
        detail: Some("an ESRGAN (RRDBNet) upscaler".into()),
    })?;
    let cfg = Conv2dConfig { padding: 1, ..Default::default() };
    Ok(candle_nn::conv2d(dims[1], dims[0], 3, cfg, vb.pp(name))?)
}

/// What the header says: the naming, the fold and the network's size.
struct Layout {
    /// File name → Real-ESRGAN name.
    renames: HashMap<String, String>,
    shapes: HashMap<String, Vec<usize>>,
    unshuffle: usize,
    up_count: usize,
    block_count: usize,
}

impl Layout {
    fn read(file: &SafetensorsFile) -> Result<Layout> {
        let bad = |reason: String| EngineError::UnsupportedNetwork { path: file.path.clone(), kind: "an ESRGAN", reason };
        let names = file.names();
        let renames: HashMap<String, String> = if names.iter().any(|n| n == "conv_first.weight") {
            names.iter().map(|n| (n.clone(), n.clone())).collect()
        } else {
            rename_original(&names).ok_or_else(|| {
                bad("it has neither Real-ESRGAN's conv_first nor ESRGAN's model.0 weights \
                     (SRVGG/compact and transformer upscalers such as SwinIR are not supported yet)"
                    .into())
            })?
        };
        let shapes: HashMap<String, Vec<usize>> =
            renames.iter().filter_map(|(from, to)| Some((to.clone(), file.shape(from)?))).collect();
        let first = shapes.get("conv_first.weight").ok_or_else(|| bad("conv_first is missing".into()))?;
        let unshuffle = match first.get(1) {
            Some(3) => 1,
            Some(12) => 2,
            Some(48) => 4,
            other => return Err(bad(format!("its first conv takes {other:?} channels, not 3, 12 or 48"))),
        };
        let up_count = (1..).take_while(|i| shapes.contains_key(&format!("conv_up{i}.weight"))).count();
        let block_count = (0..).take_while(|i| shapes.contains_key(&format!("body.{i}.rdb1.conv1.weight"))).count();
        if up_count == 0 || block_count == 0 || (1usize << up_count) < unshuffle {
            return Err(bad(format!("found {block_count} RRDB blocks and {up_count} upsampling convs")));
        }
        Ok(Layout { renames, shapes, unshuffle, up_count, block_count })
    }

    fn scale(&self) -> usize {
        (1usize << self.up_count) / self.unshuffle
    }
}

impl Esrgan {
    /// The factor of the upscaler at `path`, read from its header alone (no weights
    /// loaded); an error says why it is not an upscaler RA can run.
    pub fn probe(path: &Path) -> Result<usize> {
        Ok(Layout::read(&SafetensorsFile::open(path)?)?.scale())
    }

    /// Reads an RRDBNet from `path`; anything else is refused with what was found.
    pub fn load(path: &Path, device: &Device) -> Result<Esrgan> {
        let file = SafetensorsFile::open(path)?;
        let layout = Layout::read(&file)?;
        let mut tensors = HashMap::new();
        for (from, to) in &layout.renames {
            tensors.insert(to.clone(), file.tensor(from)?.to_dtype(DType::F32)?.to_device(device)?);
        }
        let shapes = &layout.shapes;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let blocks = (0..layout.block_count)
            .map(|b| {
                let rdb = |r: usize| -> Result<DenseBlock> {
                    let c = |k: usize| conv(&vb, &format!("body.{b}.rdb{r}.conv{k}"), shapes);
                    Ok(DenseBlock { convs: [c(1)?, c(2)?, c(3)?, c(4)?, c(5)?] })
                };
                Ok([rdb(1)?, rdb(2)?, rdb(3)?])
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Esrgan {
            path: path.to_path_buf(),
            conv_first: conv(&vb, "conv_first", shapes)?,
            blocks,
            conv_body: conv(&vb, "conv_body", shapes)?,
            ups: (1..=layout.up_count).map(|i| conv(&vb, &format!("conv_up{i}"), shapes)).collect::<Result<_>>()?,
            conv_hr: conv(&vb, "conv_hr", shapes)?,
            conv_last: conv(&vb, "conv_last", shapes)?,
            unshuffle: layout.unshuffle,
            scale: layout.scale(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The factor the network upscales by.
    pub fn scale(&self) -> usize {
        self.scale
    }

    /// `[1, 3, h, w]` in 0..1 → `[1, 3, h·scale, w·scale]`.
    pub fn upscale(&self, image: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = image.dims4()?;
        if c != 3 {
            return Err(EngineError::InvalidRequest(format!("an upscaler takes 3 channels (RGB), got {c}")));
        }
        let s = self.unshuffle;
        // Folding needs sides divisible by the fold: repeat the last row/column.
        let (ph, pw) = (h.div_ceil(s) * s, w.div_ceil(s) * s);
        let mut x = image.to_dtype(DType::F32)?;
        if ph != h {
            x = x.pad_with_same(2, 0, ph - h)?;
        }
        if pw != w {
            x = x.pad_with_same(3, 0, pw - w)?;
        }
        if s > 1 {
            x = x
                .reshape((b, c, ph / s, s, pw / s, s))?
                .permute((0, 1, 3, 5, 2, 4))?
                .reshape((b, c * s * s, ph / s, pw / s))?;
        }
        let feat = self.conv_first.forward(&x)?;
        let mut trunk = feat.clone();
        for [a, bb, cc] in &self.blocks {
            let out = cc.forward(&bb.forward(&a.forward(&trunk)?)?)?;
            trunk = (&trunk + (out * 0.2)?)?;
        }
        let mut feat = (feat + self.conv_body.forward(&trunk)?)?;
        for up in &self.ups {
            let (_, _, fh, fw) = feat.dims4()?;
            feat = lrelu(&up.forward(&feat.upsample_nearest2d(fh * 2, fw * 2)?)?)?;
        }
        let out = self.conv_last.forward(&lrelu(&self.conv_hr.forward(&feat)?)?)?;
        Ok(out.narrow(2, 0, h * self.scale)?.narrow(3, 0, w * self.scale)?)
    }
}

/// The tensors of an RRDBNet in Real-ESRGAN's naming (`original`: ESRGAN's positional
/// naming instead) with `features` channels, `blocks` RRDBs, growth `growth` and a 4×
/// upsampler; for tests (see [`crate::make_model::write_random_model`]).
pub fn tensor_shapes(features: usize, blocks: usize, growth: usize, original: bool) -> Vec<(String, Vec<usize>)> {
    let conv = |name: String, cin: usize, cout: usize| {
        vec![(format!("{name}.weight"), vec![cout, cin, 3, 3]), (format!("{name}.bias"), vec![cout])]
    };
    let mut out = Vec::new();
    let (first, body, ups, hr, last) = if original {
        ("model.0".to_string(), format!("model.1.sub.{blocks}"), ["model.3", "model.6"], "model.8", "model.10")
    } else {
        ("conv_first".to_string(), "conv_body".to_string(), ["conv_up1", "conv_up2"], "conv_hr", "conv_last")
    };
    out.extend(conv(first, 3, features));
    for b in 0..blocks {
        for r in 1..=3 {
            for k in 1..=5 {
                let cin = features + (k - 1) * growth;
                let cout = if k == 5 { features } else { growth };
                let name = if original {
                    format!("model.1.sub.{b}.RDB{r}.conv{k}.0")
                } else {
                    format!("body.{b}.rdb{r}.conv{k}")
                };
                out.extend(conv(name, cin, cout));
            }
        }
    }
    out.extend(conv(body, features, features));
    for up in ups {
        out.extend(conv(up.to_string(), features, features));
    }
    out.extend(conv(hr.to_string(), features, features));
    out.extend(conv(last.to_string(), features, 3));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_names_map_onto_real_esrgan_names() {
        let original: Vec<String> = tensor_shapes(8, 2, 4, true).into_iter().map(|(n, _)| n).collect();
        let renamed = rename_original(&original).unwrap();
        let mut got: Vec<String> = original.iter().map(|n| renamed[n].clone()).collect();
        let mut want: Vec<String> = tensor_shapes(8, 2, 4, false).into_iter().map(|(n, _)| n).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want);
    }
}
