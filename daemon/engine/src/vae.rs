//! The KL auto-encoder that maps images to latents and back.
//!
//! Built from candle's diffusers-compatible blocks; the encoder returns the mean of the
//! latent distribution rather than a sample, so that img2img is a pure function of its
//! inputs and the seed.

use candle_core::{Module, Result, Tensor};
use candle_nn::{conv2d, group_norm, Conv2d, Conv2dConfig, GroupNorm, VarBuilder};
use candle_transformers::models::stable_diffusion::unet_2d_blocks::{
    DownEncoderBlock2D, DownEncoderBlock2DConfig, UNetMidBlock2D, UNetMidBlock2DConfig,
    UpDecoderBlock2D, UpDecoderBlock2DConfig,
};

#[derive(Debug, Clone, PartialEq)]
pub struct VaeConfig {
    pub block_out_channels: Vec<usize>,
    pub layers_per_block: usize,
    pub latent_channels: usize,
    pub norm_num_groups: usize,
    pub use_quant_conv: bool,
    pub use_post_quant_conv: bool,
    /// Latents are multiplied by this after encoding (SD 1.x/2.x: 0.18215).
    pub scaling_factor: f64,
}

impl VaeConfig {
    /// SD 1.x and 2.x share this VAE.
    pub fn sd15() -> Self {
        Self {
            block_out_channels: vec![128, 256, 512, 512],
            layers_per_block: 2,
            latent_channels: 4,
            norm_num_groups: 32,
            use_quant_conv: true,
            use_post_quant_conv: true,
            scaling_factor: 0.18215,
        }
    }

    /// Four levels like the real one (so latents are 1/8 of the image), 32 channels each.
    pub fn tiny() -> Self {
        Self {
            block_out_channels: vec![32, 32, 32, 32],
            layers_per_block: 1,
            ..Self::sd15()
        }
    }

    /// How many image pixels one latent pixel covers along each side.
    pub fn downscale(&self) -> usize {
        1 << (self.block_out_channels.len() - 1)
    }
}

fn conv3(i: usize, o: usize, vb: VarBuilder) -> Result<Conv2d> {
    conv2d(
        i,
        o,
        3,
        Conv2dConfig {
            padding: 1,
            ..Default::default()
        },
        vb,
    )
}

fn mid_block(vb: VarBuilder, channels: usize, c: &VaeConfig) -> Result<UNetMidBlock2D> {
    let cfg = UNetMidBlock2DConfig {
        resnet_eps: 1e-6,
        output_scale_factor: 1.,
        attn_num_head_channels: None,
        resnet_groups: Some(c.norm_num_groups),
        ..Default::default()
    };
    UNetMidBlock2D::new(vb, channels, None, cfg)
}

struct Encoder {
    conv_in: Conv2d,
    down: Vec<DownEncoderBlock2D>,
    mid: UNetMidBlock2D,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

impl Encoder {
    fn new(vb: VarBuilder, c: &VaeConfig) -> Result<Self> {
        let ch = &c.block_out_channels;
        let last = ch[ch.len() - 1];
        let down = (0..ch.len())
            .map(|i| {
                let cfg = DownEncoderBlock2DConfig {
                    num_layers: c.layers_per_block,
                    resnet_eps: 1e-6,
                    resnet_groups: c.norm_num_groups,
                    add_downsample: i + 1 < ch.len(),
                    downsample_padding: 0,
                    ..Default::default()
                };
                let input = if i == 0 { ch[0] } else { ch[i - 1] };
                DownEncoderBlock2D::new(vb.pp(format!("down_blocks.{i}")), input, ch[i], cfg)
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            conv_in: conv3(3, ch[0], vb.pp("conv_in"))?,
            down,
            mid: mid_block(vb.pp("mid_block"), last, c)?,
            norm_out: group_norm(c.norm_num_groups, last, 1e-6, vb.pp("conv_norm_out"))?,
            conv_out: conv3(last, 2 * c.latent_channels, vb.pp("conv_out"))?,
        })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let mut xs = self.conv_in.forward(xs)?;
        for block in &self.down {
            xs = block.forward(&xs)?;
        }
        let xs = self.mid.forward(&xs, None)?;
        let xs = candle_nn::ops::silu(&self.norm_out.forward(&xs)?)?;
        self.conv_out.forward(&xs)
    }
}

struct Decoder {
    conv_in: Conv2d,
    mid: UNetMidBlock2D,
    up: Vec<UpDecoderBlock2D>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

impl Decoder {
    fn new(vb: VarBuilder, c: &VaeConfig) -> Result<Self> {
        let rev: Vec<usize> = c.block_out_channels.iter().rev().copied().collect();
        let up = (0..rev.len())
            .map(|i| {
                let cfg = UpDecoderBlock2DConfig {
                    num_layers: c.layers_per_block + 1,
                    resnet_eps: 1e-6,
                    resnet_groups: c.norm_num_groups,
                    add_upsample: i + 1 < rev.len(),
                    ..Default::default()
                };
                let input = if i == 0 { rev[0] } else { rev[i - 1] };
                UpDecoderBlock2D::new(vb.pp(format!("up_blocks.{i}")), input, rev[i], cfg)
            })
            .collect::<Result<_>>()?;
        let first = c.block_out_channels[0];
        Ok(Self {
            conv_in: conv3(c.latent_channels, rev[0], vb.pp("conv_in"))?,
            mid: mid_block(vb.pp("mid_block"), rev[0], c)?,
            up,
            norm_out: group_norm(c.norm_num_groups, first, 1e-6, vb.pp("conv_norm_out"))?,
            conv_out: conv3(first, 3, vb.pp("conv_out"))?,
        })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let mut xs = self.mid.forward(&self.conv_in.forward(xs)?, None)?;
        for block in &self.up {
            xs = block.forward(&xs)?;
        }
        let xs = candle_nn::ops::silu(&self.norm_out.forward(&xs)?)?;
        self.conv_out.forward(&xs)
    }
}

pub struct Vae {
    encoder: Encoder,
    decoder: Decoder,
    quant_conv: Option<Conv2d>,
    post_quant_conv: Option<Conv2d>,
    pub config: VaeConfig,
}

impl Vae {
    pub fn new(vb: VarBuilder, config: &VaeConfig) -> Result<Self> {
        let l = config.latent_channels;
        let one = Conv2dConfig::default();
        Ok(Self {
            encoder: Encoder::new(vb.pp("encoder"), config)?,
            decoder: Decoder::new(vb.pp("decoder"), config)?,
            quant_conv: config
                .use_quant_conv
                .then(|| conv2d(2 * l, 2 * l, 1, one, vb.pp("quant_conv")))
                .transpose()?,
            post_quant_conv: config
                .use_post_quant_conv
                .then(|| conv2d(l, l, 1, one, vb.pp("post_quant_conv")))
                .transpose()?,
            config: config.clone(),
        })
    }

    /// Image in [-1, 1], `[b, 3, h, w]` → scaled latent mean `[b, c, h/8, w/8]`.
    pub fn encode(&self, image: &Tensor) -> Result<Tensor> {
        let mut moments = self.encoder.forward(image)?;
        if let Some(q) = &self.quant_conv {
            moments = q.forward(&moments)?;
        }
        moments.narrow(1, 0, self.config.latent_channels)? * self.config.scaling_factor
    }

    /// Scaled latent → image in roughly [-1, 1].
    pub fn decode(&self, latent: &Tensor) -> Result<Tensor> {
        let mut xs = (latent / self.config.scaling_factor)?;
        if let Some(q) = &self.post_quant_conv {
            xs = q.forward(&xs)?;
        }
        self.decoder.forward(&xs)
    }
}
