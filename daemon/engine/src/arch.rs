//! What a model is: its family, prediction type and the configuration of each component,
//! with named presets and inference from the weights themselves (never a file name).

use crate::clip::{ClipActivation, ClipConfig};
use crate::error::{EngineError, Result};
use crate::unet::{BlockConfig, Structure};
use crate::vae::VaeConfig;
use crate::weights::Weights;

/// The UNet's configuration and presets live with the UNet; [`infer_unet`] reads it from
/// weights.
pub use crate::unet::UnetConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// SD 1.x: OpenAI CLIP ViT-L text encoder, 8 attention heads per UNet block.
    Sd1,
    /// SD 2.x: OpenCLIP ViT-H text encoder, 64-channel attention heads.
    Sd2,
}

/// What the UNet predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prediction {
    /// The added noise (SD 1.x, SD 2.x 512 base).
    Epsilon,
    /// The velocity `alpha·noise − sigma·x0` (SD 2.x 768).
    V,
}

impl Prediction {
    /// Reads diffusers' `prediction_type` or ModelSpec's `modelspec.prediction_type`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "epsilon" | "eps" => Some(Self::Epsilon),
            "v_prediction" | "v" => Some(Self::V),
            _ => None,
        }
    }

    pub fn diffusers_name(self) -> &'static str {
        match self {
            Self::Epsilon => "epsilon",
            Self::V => "v_prediction",
        }
    }
}

/// What a UNet reads besides the noisy latent, told apart by its input channels (the
/// weights say nothing else about it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnetConditioning {
    /// 4 channels: the latent alone (text-to-image and img2img models).
    Plain,
    /// 9 channels: the latent, the repaint mask and the masked image's latent (SD's
    /// inpainting checkpoints).
    Inpainting,
    /// 5 channels: the latent and a depth map at latent size in [-1, 1] (SD 2's
    /// `512-depth-ema`, diffusers' StableDiffusionDepth2ImgPipeline).
    Depth,
}

impl UnetConditioning {
    /// The kind of UNet with `n` input channels, or `None` for one RA cannot feed.
    pub fn from_in_channels(n: usize) -> Option<Self> {
        match n {
            4 => Some(Self::Plain),
            5 => Some(Self::Depth),
            9 => Some(Self::Inpainting),
            _ => None,
        }
    }

    /// Channels concatenated after the 4 latent ones on every UNet call.
    pub fn extra_channels(self) -> usize {
        match self {
            Self::Plain => 0,
            Self::Depth => 1,
            Self::Inpainting => 5,
        }
    }
}

impl UnetConfig {
    /// What this UNet reads besides the latent. [`infer_unet`] refuses every input width
    /// but 4, 5 and 9, so anything else (a hand-built config) counts as plain.
    pub fn conditioning(&self) -> UnetConditioning {
        UnetConditioning::from_in_channels(self.in_channels).unwrap_or(UnetConditioning::Plain)
    }
}

#[derive(Debug, Clone)]
pub struct ModelArch {
    pub family: Family,
    pub prediction: Prediction,
    pub clip: ClipConfig,
    pub unet: UnetConfig,
    pub vae: VaeConfig,
}

impl ModelArch {
    /// What the UNet reads besides the latent.
    pub fn conditioning(&self) -> UnetConditioning {
        self.unet.conditioning()
    }

    /// A depth-to-image model: every UNet call needs a depth map.
    pub fn is_depth(&self) -> bool {
        self.conditioning() == UnetConditioning::Depth
    }

    /// Stable Diffusion 1.5 at its published size.
    pub fn sd15() -> Self {
        Self {
            family: Family::Sd1,
            prediction: Prediction::Epsilon,
            clip: ClipConfig::sd15(),
            unet: UnetConfig::sd15(),
            vae: VaeConfig::sd15(),
        }
    }

    /// Stable Diffusion 2.1 (768, v-prediction) at its published size.
    pub fn sd21() -> Self {
        Self {
            family: Family::Sd2,
            prediction: Prediction::V,
            clip: ClipConfig::sd21(),
            unet: UnetConfig::sd21(),
            vae: VaeConfig::sd15(),
        }
    }

    /// An SD 2.x-shaped model (OpenCLIP text tower, linear projections, 64-wide heads,
    /// v-prediction) as small as [`ModelArch::tiny`].
    pub fn tiny_sd2() -> Self {
        Self {
            family: Family::Sd2,
            prediction: Prediction::V,
            clip: ClipConfig {
                activation: ClipActivation::Gelu,
                pad_id: 0,
                ..ClipConfig::tiny()
            },
            unet: UnetConfig::tiny_sd2(),
            vae: VaeConfig::tiny(),
        }
    }

    /// An SD 1.x-shaped model small enough for tests to run in seconds.
    pub fn tiny() -> Self {
        Self {
            family: Family::Sd1,
            prediction: Prediction::Epsilon,
            clip: ClipConfig::tiny(),
            unet: UnetConfig::tiny(),
            vae: VaeConfig::tiny(),
        }
    }
}

/// How many attention heads each UNet block has, which the weights do not show.
#[derive(Debug, Clone)]
pub enum HeadRule {
    /// SD 1.x: the same count everywhere.
    Fixed(usize),
    /// SD 2.x: channels / this.
    HeadWidth(usize),
    /// From a diffusers `config.json`, per block.
    PerBlock(Vec<usize>),
}

impl HeadRule {
    pub fn for_family(family: Family) -> Self {
        match family {
            Family::Sd1 => Self::Fixed(8),
            Family::Sd2 => Self::HeadWidth(64),
        }
    }

    fn heads(&self, block: usize, channels: usize) -> Result<usize> {
        let n = match self {
            Self::Fixed(n) => *n,
            Self::HeadWidth(w) => (channels / (*w).max(1)).max(1),
            Self::PerBlock(v) => v.get(block).or(v.last()).copied().unwrap_or(8),
        };
        if n == 0 || channels % n != 0 {
            return Err(EngineError::Architecture(format!(
                "{n} attention heads cannot split {channels} channels (check attention_head_dim in unet/config.json)"
            )));
        }
        Ok(n)
    }
}

fn need(w: &Weights, name: &str) -> Result<Vec<usize>> {
    w.shape(name).ok_or_else(|| EngineError::MissingWeight {
        name: name.to_string(),
        detail: None,
    })
}

/// Dimension `i` of a weight, or an error naming the weight when it has fewer.
fn dim(w: &Weights, name: &str, i: usize) -> Result<usize> {
    need(w, name)?
        .get(i)
        .copied()
        .ok_or_else(|| EngineError::Architecture(format!("weight '{name}' has too few dimensions")))
}

/// How many consecutive indices `pattern` names an existing weight for.
pub(crate) fn count(w: &Weights, pattern: impl Fn(usize) -> String) -> usize {
    (0..).take_while(|&i| w.contains(&pattern(i))).count()
}

/// Reads the UNet's block structure from its weights (diffusers names).
pub fn infer_unet(w: &Weights, heads: &HeadRule) -> Result<UnetConfig> {
    let conv_in = need(w, "conv_in.weight")?;
    let conv_out = need(w, "conv_out.weight")?;
    if conv_in.len() != 4 || conv_out.len() != 4 {
        return Err(EngineError::Architecture(
            "the UNet's conv_in/conv_out are not convolutions".into(),
        ));
    }
    if UnetConditioning::from_in_channels(conv_in[1]).is_none() {
        return Err(EngineError::Architecture(format!(
            "the UNet takes {} input channels; RA runs text-to-image (4), depth (5) and inpainting (9) models",
            conv_in[1]
        )));
    }
    let levels = count(w, |i| format!("down_blocks.{i}.resnets.0.conv1.weight"));
    let layers = count(w, |j| format!("down_blocks.0.resnets.{j}.conv1.weight"));
    if levels == 0 || layers == 0 {
        return Err(EngineError::Architecture(
            "the UNet has no down blocks".into(),
        ));
    }
    let mut blocks = Vec::with_capacity(levels);
    let mut context = None;
    let mut linear = false;
    for i in 0..levels {
        let channels = dim(w, &format!("down_blocks.{i}.resnets.0.conv1.weight"), 0)?;
        let attn = format!("down_blocks.{i}.attentions.0");
        let depth = count(w, |k| {
            format!("{attn}.transformer_blocks.{k}.attn2.to_k.weight")
        });
        if depth > 0 {
            context = Some(dim(
                w,
                &format!("{attn}.transformer_blocks.0.attn2.to_k.weight"),
                1,
            )?);
            linear = need(w, &format!("{attn}.proj_in.weight"))?.len() == 2;
        }
        blocks.push(BlockConfig {
            out_channels: channels,
            use_cross_attn: (depth > 0).then_some(depth),
            heads: heads.heads(i, channels)?,
        });
    }
    let context = context.ok_or_else(|| {
        EngineError::Architecture(
            "the UNet has no cross-attention, so it cannot follow a prompt".into(),
        )
    })?;
    Ok(UnetConfig {
        in_channels: conv_in[1],
        out_channels: conv_out[0],
        inner: Structure::sd(blocks, layers, context, linear),
    })
}

/// Reads the VAE's structure from its weights (diffusers names).
pub fn infer_vae(w: &Weights) -> Result<VaeConfig> {
    let levels = count(w, |i| {
        format!("encoder.down_blocks.{i}.resnets.0.conv1.weight")
    });
    let layers = count(w, |j| {
        format!("encoder.down_blocks.0.resnets.{j}.conv1.weight")
    });
    if levels == 0 || layers == 0 {
        return Err(EngineError::Architecture(
            "the VAE has no encoder blocks".into(),
        ));
    }
    let block_out_channels = (0..levels)
        .map(|i| {
            need(
                w,
                &format!("encoder.down_blocks.{i}.resnets.0.conv1.weight"),
            )
            .map(|s| s[0])
        })
        .collect::<Result<Vec<_>>>()?;
    let latent_channels = dim(w, "decoder.conv_in.weight", 1)?;
    Ok(VaeConfig {
        block_out_channels,
        layers_per_block: layers,
        latent_channels,
        norm_num_groups: 32,
        use_quant_conv: w.contains("quant_conv.weight"),
        use_post_quant_conv: w.contains("post_quant_conv.weight"),
        scaling_factor: 0.18215,
    })
}

/// Reads the text encoder's size from its weights (transformers names, with or without
/// the `text_model.` prefix). `layers` caps the depth (SD 2.x drops OpenCLIP's last).
pub fn infer_clip(w: &Weights, family: Family, max_layers: Option<usize>) -> Result<ClipConfig> {
    let p = if w.contains("text_model.embeddings.token_embedding.weight") {
        "text_model."
    } else {
        ""
    };
    let tok_name = format!("{p}embeddings.token_embedding.weight");
    let (vocab_size, embed_dim) = (dim(w, &tok_name, 0)?, dim(w, &tok_name, 1)?);
    let max_positions = dim(w, &format!("{p}embeddings.position_embedding.weight"), 0)?;
    let intermediate_size = dim(w, &format!("{p}encoder.layers.0.mlp.fc1.weight"), 0)?;
    let layers = count(w, |i| format!("{p}encoder.layers.{i}.mlp.fc1.weight"));
    let layers = max_layers.map_or(layers, |m| layers.min(m));
    let base = match family {
        Family::Sd1 => ClipConfig::sd15(),
        Family::Sd2 => ClipConfig::sd21(),
    };
    Ok(ClipConfig {
        vocab_size,
        embed_dim,
        intermediate_size,
        max_positions,
        layers,
        // Every CLIP text tower SD uses has 64-wide heads.
        heads: (embed_dim / 64).max(1),
        ..base
    })
}

impl ClipActivation {
    /// transformers' `hidden_act` names.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "quick_gelu" => Some(Self::QuickGelu),
            "gelu" => Some(Self::Gelu),
            _ => None,
        }
    }
}
