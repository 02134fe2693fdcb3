//! The UNet's levels: down blocks that keep their outputs for the skip connections, the
//! middle block, and up blocks that consume them; plus the resampling convolutions the
//! VAE shares.

use candle_core::{Module, Result, Tensor};
use candle_nn::{conv2d, Conv2d, Conv2dConfig, VarBuilder};

use super::resnet::{conv3x3, ResnetBlock, ResnetConfig};
use super::transformer::{SpatialTransformer, TransformerConfig};

/// A 3×3 stride-2 convolution halving the resolution.
pub struct Downsample {
    conv: Conv2d,
    /// 0 (the VAE): pad only the right and bottom by one, as LDM's encoder does.
    padding: usize,
}

impl Downsample {
    /// `vb` is the block's: the conv is `downsamplers.0.conv`.
    pub fn new(vb: VarBuilder, channels: usize, padding: usize) -> Result<Self> {
        let cfg = Conv2dConfig {
            stride: 2,
            padding,
            ..Default::default()
        };
        Ok(Self {
            conv: conv2d(channels, channels, 3, cfg, vb.pp("downsamplers.0.conv"))?,
            padding,
        })
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        if self.padding == 0 {
            let xs = xs.pad_with_zeros(3, 0, 1)?.pad_with_zeros(2, 0, 1)?;
            self.conv.forward(&xs)
        } else {
            self.conv.forward(xs)
        }
    }
}

/// Nearest-neighbour enlargement then a 3×3 convolution.
pub struct Upsample {
    conv: Conv2d,
}

impl Upsample {
    /// `vb` is the block's: the conv is `upsamplers.0.conv`.
    pub fn new(vb: VarBuilder, channels: usize) -> Result<Self> {
        Ok(Self {
            conv: conv3x3(channels, channels, vb.pp("upsamplers.0.conv"))?,
        })
    }

    /// To `size` (height, width), or twice the size without one.
    pub fn forward(&self, xs: &Tensor, size: Option<(usize, usize)>) -> Result<Tensor> {
        let (_, _, h, w) = xs.dims4()?;
        let (th, tw) = size.unwrap_or((2 * h, 2 * w));
        self.conv.forward(&xs.upsample_nearest2d(th, tw)?)
    }
}

/// One level on the way down: resnets (each followed by a transformer when the level
/// has attention), then a downsample unless it is the last level.
pub struct DownBlock {
    resnets: Vec<ResnetBlock>,
    attentions: Vec<SpatialTransformer>,
    downsample: Option<Downsample>,
}

impl DownBlock {
    pub fn new(
        vb: VarBuilder,
        in_channels: usize,
        out_channels: usize,
        layers: usize,
        resnet: ResnetConfig,
        attention: Option<&TransformerConfig>,
        downsample_padding: Option<usize>,
    ) -> Result<Self> {
        let resnets = (0..layers)
            .map(|j| {
                let input = if j == 0 { in_channels } else { out_channels };
                ResnetBlock::new(vb.pp(format!("resnets.{j}")), input, out_channels, resnet)
            })
            .collect::<Result<_>>()?;
        let attentions = match attention {
            Some(c) => (0..layers)
                .map(|j| SpatialTransformer::new(vb.pp(format!("attentions.{j}")), out_channels, c))
                .collect::<Result<_>>()?,
            None => Vec::new(),
        };
        let downsample = downsample_padding
            .map(|p| Downsample::new(vb.clone(), out_channels, p))
            .transpose()?;
        Ok(Self {
            resnets,
            attentions,
            downsample,
        })
    }

    /// The block's output and every intermediate state the up path will read.
    pub fn forward(
        &self,
        xs: &Tensor,
        temb: Option<&Tensor>,
        context: &Tensor,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let mut xs = xs.clone();
        let mut states = Vec::with_capacity(self.resnets.len() + 1);
        for (j, resnet) in self.resnets.iter().enumerate() {
            xs = resnet.forward(&xs, temb)?;
            if let Some(attn) = self.attentions.get(j) {
                xs = attn.forward(&xs, context)?;
            }
            states.push(xs.clone());
        }
        if let Some(d) = &self.downsample {
            xs = d.forward(&xs)?;
            states.push(xs.clone());
        }
        Ok((xs, states))
    }
}

/// The middle of the UNet: resnet, transformer, resnet.
pub struct MidBlock {
    first: ResnetBlock,
    attention: SpatialTransformer,
    second: ResnetBlock,
}

impl MidBlock {
    pub fn new(
        vb: VarBuilder,
        channels: usize,
        resnet: ResnetConfig,
        attention: &TransformerConfig,
    ) -> Result<Self> {
        Ok(Self {
            first: ResnetBlock::new(vb.pp("resnets.0"), channels, channels, resnet)?,
            attention: SpatialTransformer::new(vb.pp("attentions.0"), channels, attention)?,
            second: ResnetBlock::new(vb.pp("resnets.1"), channels, channels, resnet)?,
        })
    }

    pub fn forward(&self, xs: &Tensor, temb: Option<&Tensor>, context: &Tensor) -> Result<Tensor> {
        let xs = self.first.forward(xs, temb)?;
        let xs = self.attention.forward(&xs, context)?;
        self.second.forward(&xs, temb)
    }
}

/// One level on the way up: each resnet reads the previous output concatenated with a
/// skip state from the mirrored down level, then an upsample unless it is the last.
pub struct UpBlock {
    resnets: Vec<ResnetBlock>,
    attentions: Vec<SpatialTransformer>,
    upsample: Option<Upsample>,
}

/// The widths an up block's resnets connect.
#[derive(Debug, Clone, Copy)]
pub struct UpChannels {
    /// What the previous (deeper) up block produced.
    pub previous: usize,
    /// The skip states from this level's down block.
    pub skip: usize,
    /// The skip state from the level above (read by the last resnet).
    pub skip_above: usize,
    pub out: usize,
}

impl UpBlock {
    pub fn new(
        vb: VarBuilder,
        ch: UpChannels,
        layers: usize,
        resnet: ResnetConfig,
        attention: Option<&TransformerConfig>,
        upsample: bool,
    ) -> Result<Self> {
        let resnets = (0..layers)
            .map(|j| {
                let input = if j == 0 { ch.previous } else { ch.out };
                let skip = if j + 1 == layers {
                    ch.skip_above
                } else {
                    ch.skip
                };
                ResnetBlock::new(vb.pp(format!("resnets.{j}")), input + skip, ch.out, resnet)
            })
            .collect::<Result<_>>()?;
        let attentions = match attention {
            Some(c) => (0..layers)
                .map(|j| SpatialTransformer::new(vb.pp(format!("attentions.{j}")), ch.out, c))
                .collect::<Result<_>>()?,
            None => Vec::new(),
        };
        Ok(Self {
            resnets,
            attentions,
            upsample: upsample
                .then(|| Upsample::new(vb.clone(), ch.out))
                .transpose()?,
        })
    }

    pub fn skips_needed(&self) -> usize {
        self.resnets.len()
    }

    /// `skips` are this block's states in the order the down path made them; the last
    /// is read first. `size` is where the upsample must land (the next skip's size).
    pub fn forward(
        &self,
        xs: &Tensor,
        skips: &[Tensor],
        temb: Option<&Tensor>,
        context: &Tensor,
        size: Option<(usize, usize)>,
    ) -> Result<Tensor> {
        let mut xs = xs.clone();
        for (j, resnet) in self.resnets.iter().enumerate() {
            let skip = skips
                .len()
                .checked_sub(1 + j)
                .and_then(|i| skips.get(i))
                .ok_or_else(|| {
                    candle_core::Error::Msg("UNet up block: too few skip states".into())
                })?;
            xs = resnet.forward(&Tensor::cat(&[&xs, skip], 1)?, temb)?;
            if let Some(attn) = self.attentions.get(j) {
                xs = attn.forward(&xs, context)?;
            }
        }
        match &self.upsample {
            Some(u) => u.forward(&xs, size),
            None => Ok(xs),
        }
    }
}
