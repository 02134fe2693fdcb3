//! The UNet's spatial transformer (diffusers' `Transformer2DModel`): the feature map as a
//! sequence of pixels, through self-attention, cross-attention on the prompt and a
//! GEGLU feed-forward, and back.

use candle_core::{Module, Result, Tensor, D};
use candle_nn::{
    conv2d, group_norm, layer_norm, linear, Conv2d, GroupNorm, LayerNorm, Linear, VarBuilder,
};

use super::attention::{AttentionSlicing, CrossAttention};

/// The GELU of the feed-forward's gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Gelu {
    /// `x·Φ(x)` with the exact normal CDF, as PyTorch's `F.gelu` (diffusers, LDM) runs it.
    #[default]
    Exact,
    /// The tanh approximation candle's UNet uses; about 1e-4 of the output apart from
    /// [`Gelu::Exact`]. Kept to compare with candle.
    Tanh,
}

/// What a spatial transformer needs to know besides its width.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransformerConfig {
    pub heads: usize,
    /// Transformer blocks in sequence.
    pub depth: usize,
    pub groups: usize,
    pub context_dim: usize,
    pub linear_projection: bool,
    pub slicing: AttentionSlicing,
    pub gelu: Gelu,
}

/// `net.0.proj` (to twice the width, halves gated by GELU) then `net.2`.
struct FeedForward {
    proj_in: Linear,
    proj_out: Linear,
    gelu: Gelu,
}

impl FeedForward {
    fn new(vb: VarBuilder, dim: usize, gelu: Gelu) -> Result<Self> {
        let inner = 4 * dim;
        Ok(Self {
            proj_in: linear(dim, 2 * inner, vb.pp("net.0.proj"))?,
            proj_out: linear(inner, dim, vb.pp("net.2"))?,
            gelu,
        })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let h = self.proj_in.forward(xs)?;
        let half = h.dim(D::Minus1)? / 2;
        let gate = h.narrow(D::Minus1, half, half)?;
        let gate = match self.gelu {
            Gelu::Exact => gate.gelu_erf()?,
            Gelu::Tanh => gate.gelu()?,
        };
        self.proj_out
            .forward(&(h.narrow(D::Minus1, 0, half)? * gate)?)
    }
}

struct TransformerBlock {
    norm1: LayerNorm,
    attn1: CrossAttention,
    norm2: LayerNorm,
    attn2: CrossAttention,
    norm3: LayerNorm,
    ff: FeedForward,
}

impl TransformerBlock {
    fn new(vb: VarBuilder, dim: usize, c: &TransformerConfig) -> Result<Self> {
        let head_dim = dim / c.heads;
        Ok(Self {
            norm1: layer_norm(dim, 1e-5, vb.pp("norm1"))?,
            attn1: CrossAttention::new(vb.pp("attn1"), dim, None, c.heads, head_dim, c.slicing)?,
            norm2: layer_norm(dim, 1e-5, vb.pp("norm2"))?,
            attn2: CrossAttention::new(
                vb.pp("attn2"),
                dim,
                Some(c.context_dim),
                c.heads,
                head_dim,
                c.slicing,
            )?,
            norm3: layer_norm(dim, 1e-5, vb.pp("norm3"))?,
            ff: FeedForward::new(vb.pp("ff"), dim, c.gelu)?,
        })
    }

    fn forward(&self, xs: &Tensor, context: &Tensor) -> Result<Tensor> {
        let xs = (self.attn1.forward(&self.norm1.forward(xs)?, None)? + xs)?;
        let xs = (self
            .attn2
            .forward(&self.norm2.forward(&xs)?, Some(context))?
            + xs)?;
        self.ff.forward(&self.norm3.forward(&xs)?)? + xs
    }
}

enum Projection {
    /// SD 1.x: 1×1 convolutions on the feature map.
    Conv(Conv2d),
    /// SD 2.x: linear layers on the pixel sequence.
    Linear(Linear),
}

pub struct SpatialTransformer {
    norm: GroupNorm,
    proj_in: Projection,
    blocks: Vec<TransformerBlock>,
    proj_out: Projection,
}

impl SpatialTransformer {
    /// The transformer's inner width equals its `channels` in every SD UNet.
    pub fn new(vb: VarBuilder, channels: usize, c: &TransformerConfig) -> Result<Self> {
        let proj = |name: &str| -> Result<Projection> {
            Ok(if c.linear_projection {
                Projection::Linear(linear(channels, channels, vb.pp(name))?)
            } else {
                Projection::Conv(conv2d(
                    channels,
                    channels,
                    1,
                    Default::default(),
                    vb.pp(name),
                )?)
            })
        };
        let blocks = (0..c.depth)
            .map(|i| TransformerBlock::new(vb.pp(format!("transformer_blocks.{i}")), channels, c))
            .collect::<Result<_>>()?;
        Ok(Self {
            norm: group_norm(c.groups, channels, 1e-6, vb.pp("norm"))?,
            proj_in: proj("proj_in")?,
            blocks,
            proj_out: proj("proj_out")?,
        })
    }

    pub fn forward(&self, xs: &Tensor, context: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = xs.dims4()?;
        let to_seq = |t: &Tensor| t.flatten_from(2)?.transpose(1, 2)?.contiguous();
        let normed = self.norm.forward(xs)?;
        let mut seq = match &self.proj_in {
            Projection::Conv(p) => to_seq(&p.forward(&normed)?)?,
            Projection::Linear(p) => p.forward(&to_seq(&normed)?)?,
        };
        for block in &self.blocks {
            seq = block.forward(&seq, context)?;
        }
        let to_map = |t: &Tensor| t.transpose(1, 2)?.reshape((b, c, h, w));
        let out = match &self.proj_out {
            Projection::Conv(p) => p.forward(&to_map(&seq)?)?,
            Projection::Linear(p) => to_map(&p.forward(&seq)?)?,
        };
        out + xs
    }
}
