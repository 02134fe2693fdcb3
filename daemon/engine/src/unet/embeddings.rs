//! The timestep embedding: the noise level as sinusoids, then a two-layer MLP.

use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{linear, Linear, VarBuilder};

pub struct TimeEmbedding {
    /// Width of the sinusoidal features (the UNet's first level's channels).
    channels: usize,
    flip_sin_to_cos: bool,
    freq_shift: f64,
    linear_1: Linear,
    linear_2: Linear,
}

impl TimeEmbedding {
    /// `vb` is the UNet's root: the MLP lives under `time_embedding.`.
    pub fn new(
        vb: VarBuilder,
        channels: usize,
        embed_dim: usize,
        flip_sin_to_cos: bool,
        freq_shift: f64,
    ) -> Result<Self> {
        let vb = vb.pp("time_embedding");
        Ok(Self {
            channels,
            flip_sin_to_cos,
            freq_shift,
            linear_1: linear(channels, embed_dim, vb.pp("linear_1"))?,
            linear_2: linear(embed_dim, embed_dim, vb.pp("linear_2"))?,
        })
    }

    /// `[batch, embed_dim]` in `dtype` for one timestep shared by the batch.
    pub fn forward(
        &self,
        timestep: f64,
        batch: usize,
        dtype: DType,
        dev: &Device,
    ) -> Result<Tensor> {
        let half = self.channels / 2;
        // The sinusoids are computed in f32 even for a half-precision model (diffusers
        // does the same): t·freq reaches ~1000, where f16 keeps only 3 digits of phase.
        let freqs: Vec<f32> = (0..half)
            .map(|i| {
                let exponent = -(10000f64.ln()) * i as f64 / (half as f64 - self.freq_shift);
                (timestep * exponent.exp()) as f32
            })
            .collect();
        let args = Tensor::from_vec(freqs, (1, half), dev)?;
        let (sin, cos) = (args.sin()?, args.cos()?);
        let emb = if self.flip_sin_to_cos {
            Tensor::cat(&[&cos, &sin], D::Minus1)?
        } else {
            Tensor::cat(&[&sin, &cos], D::Minus1)?
        };
        let emb = if self.channels % 2 == 1 {
            emb.pad_with_zeros(D::Minus1, 0, 1)?
        } else {
            emb
        };
        let emb = emb.to_dtype(dtype)?.repeat((batch, 1))?;
        let emb = candle_nn::ops::silu(&self.linear_1.forward(&emb)?)?;
        self.linear_2.forward(&emb)
    }
}
