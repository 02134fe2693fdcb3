//! The denoising UNet of SD 1.x and 2.x, reading diffusers' weight names
//! (`conv_in`, `time_embedding`, `down_blocks.N`, `mid_block`, `up_blocks.N`,
//! `conv_norm_out`, `conv_out`).
//!
//! Ours rather than candle's so that attention can run in slices of query rows
//! ([`AttentionSlicing`]): candle 0.11's full attention holds every head's score matrix
//! at once, and its sliced mode fails on its own reshape. The arithmetic is otherwise
//! candle's and diffusers', except that the feed-forward's GELU is the exact one, as in
//! diffusers and LDM ([`Gelu`]; candle uses the tanh approximation).
//!
//! - [`config`]: the structure, with presets; [`crate::arch`] infers it from weights.
//! - [`embeddings`]: the timestep embedding.
//! - [`resnet`]: the residual block (also the VAE's).
//! - [`attention`]: sliced scaled dot-product attention and the multi-head layer.
//! - [`transformer`]: the spatial transformer around it.
//! - [`blocks`]: down, middle and up levels, and the resampling convolutions.

pub mod attention;
pub mod blocks;
pub mod config;
pub mod embeddings;
pub mod resnet;
pub mod transformer;

use candle_core::{Module, Result, Tensor};
use candle_nn::{group_norm, Conv2d, GroupNorm, VarBuilder};

pub use attention::AttentionSlicing;
pub use config::{BlockConfig, Structure, UnetConfig};
pub use transformer::Gelu;

use blocks::{DownBlock, MidBlock, UpBlock, UpChannels};
use embeddings::TimeEmbedding;
use resnet::{conv3x3, ResnetConfig};
use transformer::TransformerConfig;

/// How to run a UNet, beyond its weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UnetOptions {
    pub slicing: AttentionSlicing,
    pub gelu: Gelu,
}

pub struct Unet {
    conv_in: Conv2d,
    time: TimeEmbedding,
    down: Vec<DownBlock>,
    mid: MidBlock,
    up: Vec<UpBlock>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
    pub config: UnetConfig,
}

impl Unet {
    pub fn new(vb: VarBuilder, config: &UnetConfig, options: UnetOptions) -> Result<Self> {
        let s = &config.inner;
        let levels = &s.blocks;
        let (Some(first), Some(last)) = (levels.first(), levels.last()) else {
            return Err(candle_core::Error::Msg(
                "a UNet needs at least one level".into(),
            ));
        };
        let base = first.out_channels;
        let temb = 4 * base;
        let resnet = ResnetConfig {
            groups: s.norm_num_groups,
            eps: s.norm_eps,
            temb_channels: Some(temb),
            output_scale_factor: 1.0,
        };
        let transformer = |b: &BlockConfig| -> Option<TransformerConfig> {
            b.use_cross_attn.map(|depth| TransformerConfig {
                heads: b.heads,
                depth,
                groups: s.norm_num_groups,
                context_dim: s.cross_attention_dim,
                linear_projection: s.use_linear_projection,
                slicing: options.slicing,
                gelu: options.gelu,
            })
        };
        let n = levels.len();
        let down = levels
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let input = if i == 0 {
                    base
                } else {
                    levels[i - 1].out_channels
                };
                DownBlock::new(
                    vb.pp(format!("down_blocks.{i}")),
                    input,
                    b.out_channels,
                    s.layers_per_block,
                    resnet,
                    transformer(b).as_ref(),
                    (i + 1 < n).then_some(s.downsample_padding),
                )
            })
            .collect::<Result<_>>()?;
        // diffusers gives the middle the last level's heads, and its depth when it has one.
        let mid_attention = TransformerConfig {
            heads: last.heads,
            depth: last.use_cross_attn.unwrap_or(1),
            groups: s.norm_num_groups,
            context_dim: s.cross_attention_dim,
            linear_projection: s.use_linear_projection,
            slicing: options.slicing,
            gelu: options.gelu,
        };
        let mid_resnet = ResnetConfig {
            output_scale_factor: s.mid_block_scale_factor,
            ..resnet
        };
        let mid = MidBlock::new(
            vb.pp("mid_block"),
            last.out_channels,
            mid_resnet,
            &mid_attention,
        )?;
        let up = (0..n)
            .map(|i| {
                // Up block i mirrors down level n-1-i.
                let level = n - 1 - i;
                let b = &levels[level];
                let ch = UpChannels {
                    previous: if i == 0 {
                        last.out_channels
                    } else {
                        levels[level + 1].out_channels
                    },
                    skip: b.out_channels,
                    skip_above: if level == 0 {
                        base
                    } else {
                        levels[level - 1].out_channels
                    },
                    out: b.out_channels,
                };
                UpBlock::new(
                    vb.pp(format!("up_blocks.{i}")),
                    ch,
                    s.layers_per_block + 1,
                    resnet,
                    transformer(b).as_ref(),
                    i + 1 < n,
                )
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            conv_in: conv3x3(config.in_channels, base, vb.pp("conv_in"))?,
            time: TimeEmbedding::new(vb.clone(), base, temb, s.flip_sin_to_cos, s.freq_shift)?,
            down,
            mid,
            up,
            norm_out: group_norm(s.norm_num_groups, base, s.norm_eps, vb.pp("conv_norm_out"))?,
            conv_out: conv3x3(base, config.out_channels, vb.pp("conv_out"))?,
            config: config.clone(),
        })
    }

    /// The model's prediction for `xs: [b, in_channels, h, w]` at `timestep`, given the
    /// text encoder's hidden states `context: [b, tokens, cross_attention_dim]`.
    pub fn forward(&self, xs: &Tensor, timestep: f64, context: &Tensor) -> Result<Tensor> {
        let batch = xs.dim(0)?;
        let xs = if self.config.inner.center_input_sample {
            ((xs * 2.0)? - 1.0)?
        } else {
            xs.clone()
        };
        let temb = self
            .time
            .forward(timestep, batch, xs.dtype(), xs.device())?;
        let temb = Some(&temb);
        let mut xs = self.conv_in.forward(&xs)?;
        let mut skips = vec![xs.clone()];
        for block in &self.down {
            let (out, states) = block.forward(&xs, temb, context)?;
            skips.extend(states);
            xs = out;
        }
        xs = self.mid.forward(&xs, temb, context)?;
        for block in &self.up {
            let at = skips.len().saturating_sub(block.skips_needed());
            let mine = skips.split_off(at);
            // Upsample to the size of the skip state the next block reads first, which
            // is twice this one unless the input's size was not a multiple of 2^levels.
            let size = skips
                .last()
                .map(|t| t.dims4())
                .transpose()?
                .map(|(_, _, h, w)| (h, w));
            xs = block.forward(&xs, &mine, temb, context, size)?;
        }
        let xs = candle_nn::ops::silu(&self.norm_out.forward(&xs)?)?;
        self.conv_out.forward(&xs)
    }
}
