//! Names of weights in A1111 single-file checkpoints (the original LDM layout) for each
//! name the engine asks for (the diffusers layout, which the model code is written
//! against). Mapping a name at lookup time lets one loader serve both layouts without a
//! converted copy of the weights.

/// Where a diffusers-named weight lives in an LDM checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LdmSource {
    Tensor(String),
    /// Rows `part * n .. (part + 1) * n` of a fused `[3n, …]` tensor (OpenCLIP's
    /// in-projection holds q, k and v stacked).
    Rows {
        name: String,
        part: usize,
        parts: usize,
    },
}

pub const UNET_PREFIX: &str = "model.diffusion_model.";
pub const VAE_PREFIX: &str = "first_stage_model.";
pub const CLIP_PREFIX: &str = "cond_stage_model.transformer.";
pub const OPENCLIP_PREFIX: &str = "cond_stage_model.model.";

/// What the UNet mapping must know about the block structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnetLayout {
    pub layers_per_block: usize,
    /// Per up block (diffusers order): whether it has attention layers, which shifts the
    /// index of its upsampler in the LDM sequential block.
    pub up_has_attention: Vec<bool>,
}

fn idx(s: &str) -> Option<usize> {
    s.parse().ok()
}

fn resnet_part(rest: &str) -> String {
    let (head, tail) = rest.split_once('.').unwrap_or((rest, ""));
    let head = match head {
        "norm1" => "in_layers.0",
        "conv1" => "in_layers.2",
        "time_emb_proj" => "emb_layers.1",
        "norm2" => "out_layers.0",
        "conv2" => "out_layers.3",
        "conv_shortcut" => "skip_connection",
        other => other,
    };
    join(head, tail)
}

fn join(head: &str, tail: &str) -> String {
    if tail.is_empty() {
        head.to_string()
    } else {
        format!("{head}.{tail}")
    }
}

/// UNet: diffusers name → LDM name (with `model.diffusion_model.`).
pub fn unet(name: &str, layout: &UnetLayout) -> Option<String> {
    let parts: Vec<&str> = name.split('.').collect();
    let rest = |i: usize| parts.get(i..).map(|p| p.join(".")).unwrap_or_default();
    let per = layout.layers_per_block + 1;
    let mapped = match parts.as_slice() {
        ["conv_in", ..] => format!("input_blocks.0.0.{}", rest(1)),
        ["time_embedding", "linear_1", ..] => format!("time_embed.0.{}", rest(2)),
        ["time_embedding", "linear_2", ..] => format!("time_embed.2.{}", rest(2)),
        ["conv_norm_out", ..] => format!("out.0.{}", rest(1)),
        ["conv_out", ..] => format!("out.2.{}", rest(1)),
        ["down_blocks", i, "resnets", j, ..] => {
            format!(
                "input_blocks.{}.0.{}",
                1 + idx(i)? * per + idx(j)?,
                resnet_part(&rest(4))
            )
        }
        ["down_blocks", i, "attentions", j, ..] => {
            format!("input_blocks.{}.1.{}", 1 + idx(i)? * per + idx(j)?, rest(4))
        }
        ["down_blocks", i, "downsamplers", "0", "conv", ..] => {
            format!("input_blocks.{}.0.op.{}", (idx(i)? + 1) * per, rest(5))
        }
        ["mid_block", "resnets", j, ..] => {
            format!("middle_block.{}.{}", 2 * idx(j)?, resnet_part(&rest(3)))
        }
        ["mid_block", "attentions", "0", ..] => format!("middle_block.1.{}", rest(3)),
        ["up_blocks", i, "resnets", j, ..] => {
            format!(
                "output_blocks.{}.0.{}",
                idx(i)? * per + idx(j)?,
                resnet_part(&rest(4))
            )
        }
        ["up_blocks", i, "attentions", j, ..] => {
            format!("output_blocks.{}.1.{}", idx(i)? * per + idx(j)?, rest(4))
        }
        ["up_blocks", i, "upsamplers", "0", "conv", ..] => {
            let i = idx(i)?;
            let slot = if *layout.up_has_attention.get(i)? {
                2
            } else {
                1
            };
            format!(
                "output_blocks.{}.{slot}.conv.{}",
                i * per + per - 1,
                rest(5)
            )
        }
        _ => return None,
    };
    Some(format!("{UNET_PREFIX}{mapped}"))
}

fn vae_attention_part(rest: &str) -> String {
    let (head, tail) = match rest.split_once('.') {
        Some(("to_out", t)) => ("proj_out", t.strip_prefix("0.").unwrap_or(t)),
        Some((h, t)) => (h, t),
        None => (rest, ""),
    };
    let head = match head {
        "group_norm" => "norm",
        "query" | "to_q" => "q",
        "key" | "to_k" => "k",
        "value" | "to_v" => "v",
        "proj_attn" | "proj_out" => "proj_out",
        other => other,
    };
    join(head, tail)
}

fn vae_mid(parts: &[&str], rest: impl Fn(usize) -> String) -> Option<String> {
    Some(match parts {
        ["resnets", j, ..] => format!("mid.block_{}.{}", idx(j)? + 1, vae_resnet_part(&rest(2))),
        ["attentions", "0", ..] => format!("mid.attn_1.{}", vae_attention_part(&rest(2))),
        _ => return None,
    })
}

fn vae_resnet_part(rest: &str) -> String {
    match rest.split_once('.') {
        Some(("conv_shortcut", t)) => format!("nin_shortcut.{t}"),
        _ => rest.to_string(),
    }
}

/// VAE: diffusers name → LDM name (with `first_stage_model.`). `levels` is the number of
/// resolution levels, which the decoder numbers in reverse.
pub fn vae(name: &str, levels: usize) -> Option<String> {
    let parts: Vec<&str> = name.split('.').collect();
    let rest = |i: usize| parts.get(i..).map(|p| p.join(".")).unwrap_or_default();
    let mapped = match parts.as_slice() {
        [coder @ ("encoder" | "decoder"), "conv_norm_out", ..] => {
            format!("{coder}.norm_out.{}", rest(2))
        }
        [coder @ ("encoder" | "decoder"), "mid_block", ..] => {
            format!("{coder}.{}", vae_mid(&parts[2..], |i| rest(i + 2))?)
        }
        ["encoder", "down_blocks", i, "resnets", j, ..] => {
            format!("encoder.down.{i}.block.{j}.{}", vae_resnet_part(&rest(5)))
        }
        ["encoder", "down_blocks", i, "downsamplers", "0", "conv", ..] => {
            format!("encoder.down.{i}.downsample.conv.{}", rest(6))
        }
        ["decoder", "up_blocks", i, "resnets", j, ..] => {
            let level = levels.checked_sub(idx(i)? + 1)?;
            format!("decoder.up.{level}.block.{j}.{}", vae_resnet_part(&rest(5)))
        }
        ["decoder", "up_blocks", i, "upsamplers", "0", "conv", ..] => {
            let level = levels.checked_sub(idx(i)? + 1)?;
            format!("decoder.up.{level}.upsample.conv.{}", rest(6))
        }
        _ => name.to_string(),
    };
    Some(format!("{VAE_PREFIX}{mapped}"))
}

/// SD 1.x text encoder: the transformers CLIP names under `cond_stage_model.transformer.`.
pub fn clip(name: &str) -> LdmSource {
    LdmSource::Tensor(format!("{CLIP_PREFIX}{name}"))
}

/// SD 2.x text encoder (OpenCLIP ViT-H): transformers CLIP name → OpenCLIP name.
pub fn open_clip(name: &str) -> Option<LdmSource> {
    let name = name.strip_prefix("text_model.").unwrap_or(name);
    let parts: Vec<&str> = name.split('.').collect();
    let t = |s: String| Some(LdmSource::Tensor(format!("{OPENCLIP_PREFIX}{s}")));
    match parts.as_slice() {
        ["embeddings", "token_embedding", "weight"] => t("token_embedding.weight".into()),
        ["embeddings", "position_embedding", "weight"] => t("positional_embedding".into()),
        ["final_layer_norm", p] => t(format!("ln_final.{p}")),
        ["encoder", "layers", i, "self_attn", proj, p] => {
            let block = format!("transformer.resblocks.{i}.attn");
            let part = match *proj {
                "q_proj" => 0,
                "k_proj" => 1,
                "v_proj" => 2,
                "out_proj" => return t(format!("{block}.out_proj.{p}")),
                _ => return None,
            };
            Some(LdmSource::Rows {
                name: format!("{OPENCLIP_PREFIX}{block}.in_proj_{p}"),
                part,
                parts: 3,
            })
        }
        ["encoder", "layers", i, layer, p] => {
            let ldm = match *layer {
                "layer_norm1" => "ln_1",
                "layer_norm2" => "ln_2",
                _ => return None,
            };
            t(format!("transformer.resblocks.{i}.{ldm}.{p}"))
        }
        ["encoder", "layers", i, "mlp", fc, p] => {
            let ldm = match *fc {
                "fc1" => "c_fc",
                "fc2" => "c_proj",
                _ => return None,
            };
            t(format!("transformer.resblocks.{i}.mlp.{ldm}.{p}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sd15() -> UnetLayout {
        UnetLayout {
            layers_per_block: 2,
            up_has_attention: vec![false, true, true, true],
        }
    }

    #[test]
    fn unet_names_match_the_sd15_checkpoint() {
        let cases = [
            ("conv_in.weight", "input_blocks.0.0.weight"),
            ("time_embedding.linear_2.bias", "time_embed.2.bias"),
            (
                "down_blocks.0.resnets.1.norm1.weight",
                "input_blocks.2.0.in_layers.0.weight",
            ),
            (
                "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight",
                "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight",
            ),
            (
                "down_blocks.2.downsamplers.0.conv.weight",
                "input_blocks.9.0.op.weight",
            ),
            (
                "down_blocks.3.resnets.1.conv2.bias",
                "input_blocks.11.0.out_layers.3.bias",
            ),
            (
                "mid_block.resnets.1.time_emb_proj.weight",
                "middle_block.2.emb_layers.1.weight",
            ),
            (
                "mid_block.attentions.0.proj_in.weight",
                "middle_block.1.proj_in.weight",
            ),
            (
                "up_blocks.0.resnets.2.conv_shortcut.weight",
                "output_blocks.2.0.skip_connection.weight",
            ),
            (
                "up_blocks.0.upsamplers.0.conv.weight",
                "output_blocks.2.1.conv.weight",
            ),
            (
                "up_blocks.1.upsamplers.0.conv.bias",
                "output_blocks.5.2.conv.bias",
            ),
            (
                "up_blocks.3.attentions.2.proj_out.weight",
                "output_blocks.11.1.proj_out.weight",
            ),
            ("conv_norm_out.weight", "out.0.weight"),
            ("conv_out.bias", "out.2.bias"),
        ];
        for (d, l) in cases {
            assert_eq!(
                unet(d, &sd15()).as_deref(),
                Some(format!("{UNET_PREFIX}{l}").as_str()),
                "{d}"
            );
        }
    }

    #[test]
    fn vae_names_match_the_sd15_checkpoint() {
        let cases = [
            (
                "encoder.down_blocks.1.resnets.0.conv_shortcut.weight",
                "encoder.down.1.block.0.nin_shortcut.weight",
            ),
            (
                "encoder.down_blocks.0.downsamplers.0.conv.bias",
                "encoder.down.0.downsample.conv.bias",
            ),
            (
                "encoder.mid_block.attentions.0.to_q.weight",
                "encoder.mid.attn_1.q.weight",
            ),
            (
                "decoder.mid_block.attentions.0.proj_attn.bias",
                "decoder.mid.attn_1.proj_out.bias",
            ),
            (
                "decoder.mid_block.attentions.0.to_out.0.weight",
                "decoder.mid.attn_1.proj_out.weight",
            ),
            (
                "decoder.mid_block.attentions.0.group_norm.weight",
                "decoder.mid.attn_1.norm.weight",
            ),
            (
                "decoder.mid_block.resnets.1.norm2.weight",
                "decoder.mid.block_2.norm2.weight",
            ),
            (
                "decoder.up_blocks.0.resnets.2.conv1.weight",
                "decoder.up.3.block.2.conv1.weight",
            ),
            (
                "decoder.up_blocks.2.upsamplers.0.conv.weight",
                "decoder.up.1.upsample.conv.weight",
            ),
            ("decoder.conv_norm_out.bias", "decoder.norm_out.bias"),
            ("post_quant_conv.weight", "post_quant_conv.weight"),
        ];
        for (d, l) in cases {
            assert_eq!(
                vae(d, 4).as_deref(),
                Some(format!("{VAE_PREFIX}{l}").as_str()),
                "{d}"
            );
        }
    }

    #[test]
    fn open_clip_splits_the_fused_projection() {
        assert_eq!(
            open_clip("text_model.encoder.layers.3.self_attn.k_proj.weight"),
            Some(LdmSource::Rows {
                name: format!("{OPENCLIP_PREFIX}transformer.resblocks.3.attn.in_proj_weight"),
                part: 1,
                parts: 3
            })
        );
        assert_eq!(
            open_clip("text_model.embeddings.position_embedding.weight"),
            Some(LdmSource::Tensor(format!(
                "{OPENCLIP_PREFIX}positional_embedding"
            )))
        );
    }
}
