//! The residual block both the UNet and the VAE are built from (diffusers'
//! `ResnetBlock2D`): norm, SiLU, 3×3 conv, the timestep added per channel, again, plus
//! the input (through a 1×1 conv when the width changes).

use candle_core::{Module, Result, Tensor};
use candle_nn::{conv2d, group_norm, linear, Conv2d, Conv2dConfig, GroupNorm, Linear, VarBuilder};

/// How a resnet block is built, beyond its widths.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResnetConfig {
    pub groups: usize,
    pub eps: f64,
    /// Width of the timestep embedding it adds; `None` in the VAE.
    pub temb_channels: Option<usize>,
    /// The sum is divided by this (1 in every SD model).
    pub output_scale_factor: f64,
}

pub struct ResnetBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    norm2: GroupNorm,
    conv2: Conv2d,
    time_emb_proj: Option<Linear>,
    conv_shortcut: Option<Conv2d>,
    output_scale_factor: f64,
}

pub(crate) fn conv3x3(i: usize, o: usize, vb: VarBuilder) -> Result<Conv2d> {
    let cfg = Conv2dConfig {
        padding: 1,
        ..Default::default()
    };
    conv2d(i, o, 3, cfg, vb)
}

impl ResnetBlock {
    pub fn new(
        vb: VarBuilder,
        in_channels: usize,
        out_channels: usize,
        c: ResnetConfig,
    ) -> Result<Self> {
        let conv_shortcut = (in_channels != out_channels)
            .then(|| {
                conv2d(
                    in_channels,
                    out_channels,
                    1,
                    Default::default(),
                    vb.pp("conv_shortcut"),
                )
            })
            .transpose()?;
        let time_emb_proj = c
            .temb_channels
            .map(|t| linear(t, out_channels, vb.pp("time_emb_proj")))
            .transpose()?;
        Ok(Self {
            norm1: group_norm(c.groups, in_channels, c.eps, vb.pp("norm1"))?,
            conv1: conv3x3(in_channels, out_channels, vb.pp("conv1"))?,
            norm2: group_norm(c.groups, out_channels, c.eps, vb.pp("norm2"))?,
            conv2: conv3x3(out_channels, out_channels, vb.pp("conv2"))?,
            time_emb_proj,
            conv_shortcut,
            output_scale_factor: c.output_scale_factor,
        })
    }

    /// `temb` is the raw timestep embedding `[batch, temb_channels]`.
    pub fn forward(&self, xs: &Tensor, temb: Option<&Tensor>) -> Result<Tensor> {
        let h = self
            .conv1
            .forward(&candle_nn::ops::silu(&self.norm1.forward(xs)?)?)?;
        let h = match (temb, &self.time_emb_proj) {
            (Some(t), Some(proj)) => {
                let t = proj.forward(&candle_nn::ops::silu(t)?)?;
                h.broadcast_add(&t.unsqueeze(2)?.unsqueeze(3)?)?
            }
            _ => h,
        };
        let h = self
            .conv2
            .forward(&candle_nn::ops::silu(&self.norm2.forward(&h)?)?)?;
        let shortcut = match &self.conv_shortcut {
            Some(c) => c.forward(xs)?,
            None => xs.clone(),
        };
        let out = (shortcut + h)?;
        if self.output_scale_factor == 1.0 {
            Ok(out)
        } else {
            out / self.output_scale_factor
        }
    }
}
