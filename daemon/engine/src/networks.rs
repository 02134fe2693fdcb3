//! Extra networks a prompt names: LoRAs (`<lora:name:weight>`) and textual-inversion
//! embeddings (by file name), found in the user's network folders.
//!
//! A LoRA in kohya's format (what A1111 and nearly every trainer write) holds, per
//! patched layer, `<key>.lora_down.weight`, `<key>.lora_up.weight` and `<key>.alpha`,
//! where the key is the layer's diffusers path with `.` written as `_`, under
//! `lora_unet_` or `lora_te_`. The layer's weight gains
//! `multiplier · alpha / rank · up · down`, reshaped to the weight's shape, which covers
//! linear layers, 1×1 convolutions and LoCon's 3×3 ones alike. Patching builds a copy of
//! the model ([`SdModel::patched`]) for one generation; the loaded model is never
//! written to.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use candle_core::{DType, Tensor};
use ra_tokenizer::prompt::ExtraNetwork;
use sha2::{Digest, Sha256};

use crate::conditioning::Embedding;
use crate::error::{EngineError, Result};
use crate::model::SdModel;
use crate::weights::{SafetensorsFile, TensorMap};

/// Where a generation looks for networks (A1111's `models/Lora` and `embeddings`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkDirs {
    pub loras: Vec<PathBuf>,
    pub embeddings: Vec<PathBuf>,
    /// Separate VAEs (A1111's `models/VAE`), chosen by file name.
    pub vaes: Vec<PathBuf>,
    /// Where live previews look for TAESD's decoder: folders holding
    /// `taesd_decoder.safetensors` (A1111's `models/VAE-taesd`, ComfyUI's
    /// `models/vae_approx`) or the file itself ([`crate::preview::Previewer`]).
    pub taesd: Vec<PathBuf>,
}

impl NetworkDirs {
    /// A VAE by file name (with or without `.safetensors`), or a path to one.
    pub fn vae(&self, name: &str) -> Result<PathBuf> {
        let given = Path::new(name);
        if given.is_absolute() && given.is_file() {
            return Ok(given.to_path_buf());
        }
        let stem = name.strip_suffix(".safetensors").unwrap_or(name);
        find(&self.vaes, stem).ok_or_else(|| {
            EngineError::InvalidRequest(format!(
                "no VAE named {name} in {}",
                folder_list(&self.vaes, "VAE", "--vae PATH to an existing file")
            ))
        })
    }
}

/// One `<lora:…>` tag: its name and the text-encoder and UNet multipliers.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraUse {
    pub name: String,
    pub te: f64,
    pub unet: f64,
}

/// The `<lora:name[:te[:unet]]>` tags (also `te=` / `unet=`), as A1111 reads them.
pub fn lora_uses(networks: &[ExtraNetwork]) -> Result<Vec<LoraUse>> {
    let number = |name: &str, v: &str| {
        v.trim().parse::<f64>().map_err(|_| {
            EngineError::InvalidRequest(format!(
                "<lora:{name}:…>: '{v}' is not a weight; write it like <lora:{name}:0.8>"
            ))
        })
    };
    networks
        .iter()
        .filter(|n| n.kind == "lora")
        .map(|n| {
            let name = n.name().trim().to_string();
            let (mut positional, mut te, mut unet) = (Vec::new(), None, None);
            for arg in &n.args[1..] {
                match arg.split_once('=') {
                    Some(("te", v)) => te = Some(number(&name, v)?),
                    Some(("unet", v)) => unet = Some(number(&name, v)?),
                    Some(_) => {}
                    None => positional.push(number(&name, arg)?),
                }
            }
            let te = te.or(positional.first().copied()).unwrap_or(1.0);
            let unet = unet.or(positional.get(1).copied()).unwrap_or(te);
            Ok(LoraUse { name, te, unet })
        })
        .collect()
}

/// Where a missing file was looked for, or how to give a place to look.
fn folder_list(dirs: &[PathBuf], kind: &str, cli: &str) -> String {
    if dirs.is_empty() {
        return format!(
            "any folder: none is set (the command line takes {cli}; serve uses the {kind} folder under --models-dir)"
        );
    }
    let list: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    format!("the {kind} folders ({})", list.join(", "))
}

/// `name.safetensors` in one of `dirs` or a folder directly inside one.
fn find(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    let file = format!("{name}.safetensors");
    dirs.iter().find_map(|dir| {
        let direct = dir.join(&file);
        if direct.is_file() {
            return Some(direct);
        }
        std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .map(|e| e.path().join(&file))
            .find(|p| p.is_file())
    })
}

/// A1111's LoRA hash ("addnet" hash): sha256 of the data after the safetensors header,
/// first 12 hex digits.
pub fn lora_hash(path: &Path) -> Result<String> {
    let io = |e| EngineError::io(path, e);
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(io)?;
    f.seek(SeekFrom::Start(8 + u64::from_le_bytes(len)))
        .map_err(io)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut f, &mut hasher).map_err(io)?;
    Ok(hex(&hasher.finalize())[..12].to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The kohya key of a weight the model was built from, e.g.
/// `down_blocks.0.attentions.0.proj_in.weight` → `lora_unet_down_blocks_0_attentions_0_proj_in`.
fn kohya_key(prefix: &str, weight_name: &str) -> Option<String> {
    let module = weight_name.strip_suffix(".weight")?;
    let module = module.strip_prefix("text_model.").unwrap_or(module);
    Some(format!("{prefix}{}", module.replace('.', "_")))
}

/// The LoRAs of a prompt applied to `model`: the patched copy and `Lora hashes` for the
/// infotext. With no LoRA (or only zero weights) the model itself comes back.
pub fn apply_loras(
    model: &SdModel,
    uses: &[LoraUse],
    dirs: &NetworkDirs,
) -> Result<(SdModel, Vec<(String, String)>)> {
    let mut te: TensorMap = HashMap::new();
    let mut unet: TensorMap = HashMap::new();
    let mut hashes = Vec::new();
    let te_keys = keys(&model.text_encoder_weights, "lora_te_text_model_");
    let unet_keys = keys(&model.unet_weights, "lora_unet_");
    for u in uses {
        let path = find(&dirs.loras, &u.name).ok_or_else(|| {
            EngineError::InvalidRequest(format!(
                "the prompt asks for <lora:{}>, but there is no {}.safetensors in {}",
                u.name,
                u.name,
                folder_list(&dirs.loras, "Lora", "--lora-dir DIR")
            ))
        })?;
        hashes.push((u.name.clone(), lora_hash(&path)?));
        if u.te == 0.0 && u.unet == 0.0 {
            continue;
        }
        let file = SafetensorsFile::open(&path)?;
        let mut matched = 0;
        for down_name in file
            .names()
            .iter()
            .filter(|n| n.ends_with(".lora_down.weight"))
        {
            let key = &down_name[..down_name.len() - ".lora_down.weight".len()];
            let (target, base, patches, multiplier) = if let Some(t) = te_keys.get(key) {
                (t, &model.text_encoder_weights, &mut te, u.te)
            } else if let Some(t) = unet_keys.get(key) {
                (t, &model.unet_weights, &mut unet, u.unet)
            } else {
                continue;
            };
            matched += 1;
            if multiplier == 0.0 {
                continue;
            }
            let weight = match patches.get(target.as_str()) {
                Some(w) => w.clone(),
                None => base[target.as_str()].to_dtype(DType::F32)?,
            };
            let delta = lora_delta(&file, key, &u.name, weight.dims())?;
            patches.insert(target.clone(), (weight + (delta * multiplier)?)?);
        }
        if matched == 0 {
            return Err(EngineError::InvalidRequest(format!(
                "LoRA {} patches no layer of this model: it was trained for another architecture (SDXL, SD 2.x or SD 1.x)",
                u.name
            )));
        }
    }
    if te.is_empty() && unet.is_empty() {
        return Ok((model.clone(), hashes));
    }
    let dtype = model.options.dtype;
    let cast = |m: TensorMap| -> Result<TensorMap> {
        m.into_iter()
            .map(|(k, v)| Ok((k, v.to_dtype(dtype)?)))
            .collect()
    };
    Ok((model.patched(cast(te)?, cast(unet)?)?, hashes))
}

fn keys(weights: &TensorMap, prefix: &str) -> HashMap<String, String> {
    weights
        .keys()
        .filter_map(|name| Some((kohya_key(prefix, name)?, name.clone())))
        .collect()
}

/// `alpha / rank · up · down`, in the shape of the weight it patches.
fn lora_delta(file: &SafetensorsFile, key: &str, lora: &str, shape: &[usize]) -> Result<Tensor> {
    let down = file
        .tensor(&format!("{key}.lora_down.weight"))?
        .to_dtype(DType::F32)?;
    let up = file
        .tensor(&format!("{key}.lora_up.weight"))
        .map_err(|_| {
            EngineError::InvalidRequest(format!("LoRA {lora}: {key} has lora_down but no lora_up"))
        })?
        .to_dtype(DType::F32)?;
    let rank = down.dim(0)?;
    let alpha = match file.tensor(&format!("{key}.alpha")) {
        Ok(a) => f64::from(a.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?[0]),
        Err(_) => rank as f64,
    };
    let out = up.dim(0)?;
    let delta = up
        .reshape((out, up.elem_count() / out))?
        .matmul(&down.reshape((rank, down.elem_count() / rank))?)?;
    if delta.elem_count() != shape.iter().product::<usize>() {
        return Err(EngineError::InvalidRequest(format!(
            "LoRA {lora} does not fit this model: {key} makes {:?} but the layer is {shape:?}",
            delta.dims()
        )));
    }
    Ok((delta.reshape(shape)? * (alpha / rank as f64))?)
}

/// The embeddings in `dirs` whose file names occur in `text` (case-insensitively;
/// whether they really are used is decided on tokens). Files whose width does not fit
/// this model's text encoder are skipped, as A1111 skips them.
pub fn embeddings_for(model: &SdModel, text: &str, dirs: &NetworkDirs) -> Result<Vec<Embedding>> {
    let text = text.to_lowercase();
    let mut out = Vec::new();
    for dir in &dirs.embeddings {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let Some(name) = path
                .file_stem()
                .filter(|_| path.extension().is_some_and(|e| e == "safetensors"))
                .map(|s| s.to_string_lossy().into_owned())
            else {
                continue;
            };
            if !text.contains(&name.to_lowercase())
                || out.iter().any(|e: &Embedding| e.name == name)
            {
                continue;
            }
            if let Some(vectors) = embedding_vectors(&path, model.arch.clip.embed_dim)? {
                out.push(Embedding {
                    name,
                    vectors: vectors.to_device(&model.options.device)?,
                    hash: crate::model::sha256_hex(&path)?[..12].to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// `[vectors, dim]` from A1111's layouts (`emb_params`, or `string_to_param.*`); `None`
/// when the width is not `dim`.
fn embedding_vectors(path: &Path, dim: usize) -> Result<Option<Tensor>> {
    let file = SafetensorsFile::open(path)?;
    let names = file.names();
    let Some(name) = names
        .iter()
        .find(|n| *n == "emb_params")
        .or_else(|| names.iter().find(|n| n.starts_with("string_to_param")))
    else {
        return Err(EngineError::InvalidRequest(format!(
            "{} is not a textual-inversion embedding (no emb_params or string_to_param tensor)",
            path.display()
        )));
    };
    let t = file.tensor(name)?.to_dtype(DType::F32)?;
    let t = if t.rank() == 1 { t.unsqueeze(0)? } else { t };
    Ok((t.rank() == 2 && t.dim(1)? == dim && t.dim(0)? > 0).then_some(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(args: &[&str]) -> ExtraNetwork {
        ExtraNetwork {
            kind: "lora".into(),
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn lora_tags_read_like_a1111() {
        let uses = lora_uses(&[
            net(&["a"]),
            net(&["b", "0.5"]),
            net(&["c", "0.5", "0.2"]),
            net(&["d", "unet=0.3"]),
        ])
        .unwrap();
        let w: Vec<(f64, f64)> = uses.iter().map(|u| (u.te, u.unet)).collect();
        assert_eq!(w, vec![(1.0, 1.0), (0.5, 0.5), (0.5, 0.2), (1.0, 0.3)]);
        assert!(lora_uses(&[net(&["a", "lots"])]).is_err());
    }

    #[test]
    fn kohya_keys_follow_diffusers_paths() {
        assert_eq!(
            kohya_key(
                "lora_unet_",
                "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"
            )
            .unwrap(),
            "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"
        );
        assert_eq!(
            kohya_key(
                "lora_te_text_model_",
                "text_model.encoder.layers.3.self_attn.q_proj.weight"
            )
            .unwrap(),
            "lora_te_text_model_encoder_layers_3_self_attn_q_proj"
        );
        assert_eq!(kohya_key("lora_unet_", "conv_in.bias"), None);
    }
}
