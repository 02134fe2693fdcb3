//! What a `.safetensors` file is, read from its header alone (names, shapes and
//! `__metadata__`), never from its name: the kind of model and the architecture it was
//! made for. The daemon's engine loads weights; the library only needs to know what a
//! file is to list, filter and place it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::error::{LibraryError, Result};
use crate::pack::Kind;

/// The safetensors format caps its header at 100 MB.
const MAX_HEADER: u64 = 100_000_000;

/// What the header says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Header {
    /// Tensor name → shape.
    pub shapes: BTreeMap<String, Vec<u64>>,
    pub metadata: BTreeMap<String, String>,
}

impl Header {
    /// Reads the header of `path`; anything but a well-formed safetensors header is an
    /// error naming the problem.
    pub fn read(path: &Path) -> Result<Header> {
        let bad = |problem: String| LibraryError::NotSafetensors { path: path.to_path_buf(), problem };
        let mut file = std::fs::File::open(path).map_err(LibraryError::io(path))?;
        let len = file.metadata().map_err(LibraryError::io(path))?.len();
        let mut size = [0u8; 8];
        file.read_exact(&mut size).map_err(|_| bad("it is shorter than a safetensors header".into()))?;
        let header_len = u64::from_le_bytes(size);
        if header_len > MAX_HEADER || header_len + 8 > len {
            return Err(bad(format!("its header claims {header_len} bytes but the file has {len}")));
        }
        let mut text = vec![0u8; header_len as usize];
        file.read_exact(&mut text).map_err(LibraryError::io(path))?;
        let json: serde_json::Map<String, Value> =
            serde_json::from_slice(&text).map_err(|e| bad(format!("its header is not JSON ({e})")))?;
        let mut header = Header::default();
        for (name, entry) in json {
            if name == "__metadata__" {
                if let Value::Object(m) = entry {
                    header.metadata = m.into_iter().map(|(k, v)| (k, v.as_str().map(str::to_string).unwrap_or(v.to_string()))).collect();
                }
                continue;
            }
            let shape = entry
                .get("shape")
                .and_then(Value::as_array)
                .map(|dims| dims.iter().filter_map(Value::as_u64).collect())
                .ok_or_else(|| bad(format!("tensor {name:?} has no shape")))?;
            header.shapes.insert(name, shape);
        }
        Ok(header)
    }

    fn has_prefix(&self, prefix: &str) -> bool {
        self.shapes.range(prefix.to_string()..).next().is_some_and(|(k, _)| k.starts_with(prefix))
    }

    fn any(&self, part: &str) -> bool {
        self.shapes.keys().any(|k| k.contains(part))
    }

    fn dim(&self, name: &str, axis: usize) -> Option<u64> {
        self.shapes.get(name).and_then(|s| s.get(axis).copied())
    }
}

/// A file's kind and architecture as far as the header tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub kind: Option<Kind>,
    /// `sd1`, `sd2`, `sdxl`, `sd3`, `flux`, `esrgan`, `depth-anything` or `unknown`.
    pub architecture: &'static str,
}

/// The base model a text-conditioning width belongs to.
fn base_of_context(width: Option<u64>) -> &'static str {
    match width {
        Some(768) => "sd1",
        Some(1024) => "sd2",
        Some(1280) | Some(2048) => "sdxl",
        _ => "unknown",
    }
}

/// Recognises the model from its tensor names and shapes.
pub fn identify(h: &Header) -> Identity {
    let id = |kind: Kind, architecture: &'static str| Identity { kind: Some(kind), architecture };
    if h.has_prefix("model.diffusion_model.") {
        let arch = if h.has_prefix("conditioner.embedders.") {
            "sdxl"
        } else if h.has_prefix("model.diffusion_model.joint_blocks.") {
            "sd3"
        } else if h.has_prefix("model.diffusion_model.double_blocks.") {
            "flux"
        } else if h.has_prefix("cond_stage_model.model.") {
            "sd2"
        } else if h.has_prefix("cond_stage_model.transformer.") {
            "sd1"
        } else {
            base_of_context(h.dim("model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", 1))
        };
        return id(Kind::Checkpoint, arch);
    }
    if h.has_prefix("lora_unet_") || h.has_prefix("lora_te") || h.any(".lora_down.") || h.any(".lora_A.") {
        let arch = if h.has_prefix("lora_te2_") || h.has_prefix("lora_te1_") {
            "sdxl"
        } else {
            let te = h.shapes.iter().find(|(k, _)| k.starts_with("lora_te_") && k.ends_with("q_proj.lora_down.weight"));
            base_of_context(te.and_then(|(_, s)| s.get(1).copied()))
        };
        return id(Kind::Lora, arch);
    }
    if h.has_prefix("control_model.") || h.has_prefix("controlnet_cond_embedding.") || h.any("input_hint_block") {
        let width = h
            .shapes
            .iter()
            .find(|(k, _)| k.ends_with("attn2.to_k.weight"))
            .and_then(|(_, s)| s.get(1).copied());
        return id(Kind::ControlNet, base_of_context(width));
    }
    if h.shapes.contains_key("encoder.conv_in.weight") && h.shapes.contains_key("decoder.conv_in.weight") {
        // SDXL's VAE has the same shapes as SD's; only its metadata or name could tell.
        return id(Kind::Vae, "sd1");
    }
    if let Some(width) = h.dim("emb_params", 1).or_else(|| {
        h.shapes.iter().find(|(k, _)| k.starts_with("string_to_param.")).and_then(|(_, s)| s.get(1).copied())
    }) {
        return id(Kind::Embedding, base_of_context(Some(width)));
    }
    if h.shapes.contains_key("clip_g") || h.shapes.contains_key("clip_l") {
        return id(Kind::Embedding, "sdxl");
    }
    if h.shapes.contains_key("conv_first.weight") || (h.shapes.contains_key("model.0.weight") && h.has_prefix("model.1.sub.")) {
        return id(Kind::Upscaler, "esrgan");
    }
    if h.shapes.contains_key("pretrained.cls_token") {
        return id(Kind::Depth, "depth-anything");
    }
    Identity { kind: None, architecture: "unknown" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(names: &[(&str, &[u64])]) -> Header {
        Header { shapes: names.iter().map(|(n, s)| (n.to_string(), s.to_vec())).collect(), metadata: BTreeMap::new() }
    }

    #[test]
    fn kinds_and_architectures_come_from_the_tensors() {
        let cases: [(&[(&str, &[u64])], Option<Kind>, &str); 8] = [
            (&[("model.diffusion_model.out.2.weight", &[4]), ("cond_stage_model.transformer.text_model.final_layer_norm.weight", &[768])], Some(Kind::Checkpoint), "sd1"),
            (&[("model.diffusion_model.out.2.weight", &[4]), ("cond_stage_model.model.ln_final.weight", &[1024])], Some(Kind::Checkpoint), "sd2"),
            (&[("model.diffusion_model.out.2.weight", &[4]), ("conditioner.embedders.1.model.ln_final.weight", &[1280])], Some(Kind::Checkpoint), "sdxl"),
            (&[("lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", &[4, 768])], Some(Kind::Lora), "sd1"),
            (&[("encoder.conv_in.weight", &[128, 3, 3, 3]), ("decoder.conv_in.weight", &[512, 4, 3, 3])], Some(Kind::Vae), "sd1"),
            (&[("emb_params", &[2, 1024])], Some(Kind::Embedding), "sd2"),
            (&[("conv_first.weight", &[64, 3, 3, 3])], Some(Kind::Upscaler), "esrgan"),
            (&[("something.else", &[1])], None, "unknown"),
        ];
        for (names, kind, arch) in cases {
            let got = identify(&header(names));
            assert_eq!((got.kind, got.architecture), (kind, arch), "{names:?}");
        }
    }
}
