//! The VAE's encoder and decoder (diffusers' `Encoder`/`Decoder` of `AutoencoderKL`),
//! built from the UNet's resnet and resampling blocks and a single-head self-attention
//! in the middle.

use candle_core::{Module, Result, Tensor};
use candle_nn::{group_norm, linear, Conv2d, GroupNorm, Linear, VarBuilder};

use super::VaeConfig;
use crate::unet::attention::{attention, AttentionSlicing};
use crate::unet::blocks::{Downsample, Upsample};
use crate::unet::resnet::{conv3x3, ResnetBlock, ResnetConfig};

/// Every norm in the VAE uses this epsilon.
const EPS: f64 = 1e-6;

fn resnet_config(c: &VaeConfig) -> ResnetConfig {
    ResnetConfig {
        groups: c.norm_num_groups,
        eps: EPS,
        temb_channels: None,
        output_scale_factor: 1.0,
    }
}

/// A square projection stored as a linear weight `[c, c]` (diffusers) or as a 1×1
/// convolution `[c, c, 1, 1]` (LDM checkpoints).
fn projection(vb: VarBuilder, channels: usize) -> Result<Linear> {
    match linear(channels, channels, vb.clone()) {
        Ok(l) => Ok(l),
        Err(_) => {
            let w = vb.get((channels, channels, 1, 1), "weight")?;
            let b = vb.get(channels, "bias")?;
            Ok(Linear::new(w.reshape((channels, channels))?, Some(b)))
        }
    }
}

/// One head over all channels, every pixel attending to every other.
struct SelfAttention {
    norm: GroupNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    scale: f64,
}

impl SelfAttention {
    fn new(vb: VarBuilder, channels: usize, c: &VaeConfig) -> Result<Self> {
        // Current diffusers names, or those of VAEs saved before diffusers 0.14.
        let [q, k, v, out] = if vb.contains_tensor("to_q.weight") {
            ["to_q", "to_k", "to_v", "to_out.0"]
        } else {
            ["query", "key", "value", "proj_attn"]
        };
        Ok(Self {
            norm: group_norm(c.norm_num_groups, channels, EPS, vb.pp("group_norm"))?,
            q: projection(vb.pp(q), channels)?,
            k: projection(vb.pp(k), channels)?,
            v: projection(vb.pp(v), channels)?,
            out: projection(vb.pp(out), channels)?,
            scale: 1.0 / (channels as f64).sqrt(),
        })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = xs.dims4()?;
        // Contiguous, not a transposed view: candle 0.11's CPU matmul folds a
        // broadcast weight wrongly over a strided input (huggingface/candle#3758),
        // which is what candle's own VAE attention block feeds its linear layers.
        let seq = self
            .norm
            .forward(xs)?
            .flatten_from(2)?
            .transpose(1, 2)?
            .contiguous()?;
        let (q, k, v) = (
            self.q.forward(&seq)?,
            self.k.forward(&seq)?,
            self.v.forward(&seq)?,
        );
        // At a 96×96 latent (the largest decoded whole) the scores are 9216² f32, 340 MB.
        let attended = attention(&q, &k, &v, self.scale, AttentionSlicing::DEFAULT)?;
        let out = self
            .out
            .forward(&attended)?
            .transpose(1, 2)?
            .reshape((b, c, h, w))?;
        out + xs
    }
}

/// resnet, attention, resnet at the lowest resolution.
struct MidBlock {
    first: ResnetBlock,
    attention: SelfAttention,
    second: ResnetBlock,
}

impl MidBlock {
    fn new(vb: VarBuilder, channels: usize, c: &VaeConfig) -> Result<Self> {
        let r = resnet_config(c);
        Ok(Self {
            first: ResnetBlock::new(vb.pp("resnets.0"), channels, channels, r)?,
            attention: SelfAttention::new(vb.pp("attentions.0"), channels, c)?,
            second: ResnetBlock::new(vb.pp("resnets.1"), channels, channels, r)?,
        })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let xs = self.first.forward(xs, None)?;
        let xs = self.attention.forward(&xs)?;
        self.second.forward(&xs, None)
    }
}

fn resnets(
    vb: &VarBuilder,
    input: usize,
    out: usize,
    n: usize,
    c: &VaeConfig,
) -> Result<Vec<ResnetBlock>> {
    (0..n)
        .map(|j| {
            let i = if j == 0 { input } else { out };
            ResnetBlock::new(vb.pp(format!("resnets.{j}")), i, out, resnet_config(c))
        })
        .collect()
}

/// Image `[b, 3, h, w]` → moments `[b, 2·latent, h/f, w/f]` (mean, then log-variance).
pub struct Encoder {
    conv_in: Conv2d,
    down: Vec<(Vec<ResnetBlock>, Option<Downsample>)>,
    mid: MidBlock,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

impl Encoder {
    pub fn new(vb: VarBuilder, c: &VaeConfig) -> Result<Self> {
        let ch = &c.block_out_channels;
        let (Some(&first), Some(&last)) = (ch.first(), ch.last()) else {
            return Err(candle_core::Error::Msg(
                "a VAE needs at least one level".into(),
            ));
        };
        let down = (0..ch.len())
            .map(|i| {
                let vb = vb.pp(format!("down_blocks.{i}"));
                let input = if i == 0 { first } else { ch[i - 1] };
                let down = (i + 1 < ch.len())
                    .then(|| Downsample::new(vb.clone(), ch[i], 0))
                    .transpose()?;
                Ok((resnets(&vb, input, ch[i], c.layers_per_block, c)?, down))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            conv_in: conv3x3(3, first, vb.pp("conv_in"))?,
            down,
            mid: MidBlock::new(vb.pp("mid_block"), last, c)?,
            norm_out: group_norm(c.norm_num_groups, last, EPS, vb.pp("conv_norm_out"))?,
            conv_out: conv3x3(last, 2 * c.latent_channels, vb.pp("conv_out"))?,
        })
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let mut xs = self.conv_in.forward(xs)?;
        for (resnets, down) in &self.down {
            for r in resnets {
                xs = r.forward(&xs, None)?;
            }
            if let Some(d) = down {
                xs = d.forward(&xs)?;
            }
        }
        let xs = self.mid.forward(&xs)?;
        let xs = candle_nn::ops::silu(&self.norm_out.forward(&xs)?)?;
        self.conv_out.forward(&xs)
    }
}

/// Latent `[b, latent, h, w]` → image `[b, 3, h·f, w·f]`.
pub struct Decoder {
    conv_in: Conv2d,
    mid: MidBlock,
    up: Vec<(Vec<ResnetBlock>, Option<Upsample>)>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

impl Decoder {
    pub fn new(vb: VarBuilder, c: &VaeConfig) -> Result<Self> {
        let rev: Vec<usize> = c.block_out_channels.iter().rev().copied().collect();
        let (Some(&deepest), Some(&first)) = (rev.first(), c.block_out_channels.first()) else {
            return Err(candle_core::Error::Msg(
                "a VAE needs at least one level".into(),
            ));
        };
        let up = (0..rev.len())
            .map(|i| {
                let vb = vb.pp(format!("up_blocks.{i}"));
                let input = if i == 0 { deepest } else { rev[i - 1] };
                let up = (i + 1 < rev.len())
                    .then(|| Upsample::new(vb.clone(), rev[i]))
                    .transpose()?;
                Ok((resnets(&vb, input, rev[i], c.layers_per_block + 1, c)?, up))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            conv_in: conv3x3(c.latent_channels, deepest, vb.pp("conv_in"))?,
            mid: MidBlock::new(vb.pp("mid_block"), deepest, c)?,
            up,
            norm_out: group_norm(c.norm_num_groups, first, EPS, vb.pp("conv_norm_out"))?,
            conv_out: conv3x3(first, 3, vb.pp("conv_out"))?,
        })
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let mut xs = self.mid.forward(&self.conv_in.forward(xs)?)?;
        for (resnets, up) in &self.up {
            for r in resnets {
                xs = r.forward(&xs, None)?;
            }
            if let Some(u) = up {
                xs = u.forward(&xs, None)?;
            }
        }
        let xs = candle_nn::ops::silu(&self.norm_out.forward(&xs)?)?;
        self.conv_out.forward(&xs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::make_model::random_var_builder;
    use candle_core::{DType, Device};

    /// The attention block against the formula written out, one image at a time.
    #[test]
    fn self_attention_is_softmax_of_scaled_scores() {
        let dev = Device::Cpu;
        let c = VaeConfig::tiny();
        let vb = random_var_builder(9, DType::F32, &dev);
        let block = SelfAttention::new(vb.clone(), 32, &c).unwrap();
        let xs = Tensor::randn(0f32, 1., (2, 32, 3, 5), &dev).unwrap();
        let got = block.forward(&xs).unwrap();
        for b in 0..2 {
            let x = xs.get(b).unwrap();
            // [c, h, w] → [hw, c], normalised as the block does.
            let normed = block.norm.forward(&x.unsqueeze(0).unwrap()).unwrap();
            let seq = normed
                .squeeze(0)
                .unwrap()
                .reshape((32, 15))
                .unwrap()
                .t()
                .unwrap()
                .contiguous()
                .unwrap();
            let lin = |l: &Linear| {
                seq.matmul(&l.weight().t().unwrap())
                    .unwrap()
                    .broadcast_add(l.bias().unwrap())
                    .unwrap()
            };
            let (q, k, v) = (lin(&block.q), lin(&block.k), lin(&block.v));
            let scores = (q.matmul(&k.t().unwrap()).unwrap() / 32f64.sqrt()).unwrap();
            let probs = candle_nn::ops::softmax_last_dim(&scores).unwrap();
            let attended = probs.matmul(&v).unwrap();
            let out = attended
                .matmul(&block.out.weight().t().unwrap())
                .unwrap()
                .broadcast_add(block.out.bias().unwrap())
                .unwrap();
            let want = (out.t().unwrap().reshape((32, 3, 5)).unwrap() + &x).unwrap();
            let diff = (got.get(b).unwrap() - want)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap();
            assert!(diff.to_scalar::<f32>().unwrap() < 1e-4);
        }
    }
}
