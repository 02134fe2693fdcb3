//! The KL auto-encoder that maps images to latents and back (diffusers'
//! `AutoencoderKL` names).
//!
//! - The encoder returns the mean of the latent distribution rather than a sample, so
//!   that img2img is a pure function of its inputs and the seed.
//! - Latents larger than 96×96 are decoded and encoded in overlapping tiles
//!   ([`VaeTiling`], [`tiles`]), so memory stays that of a 768² image.
//! - A half-precision VAE whose output overflows (NaN or inf; SD 1.x's VAE is known to
//!   in f16) is rebuilt in f32 from the same weights and run again, with a note on
//!   stderr.
//! - [`coder`] holds the encoder and decoder networks.

pub mod coder;
pub mod tiles;

use std::sync::Arc;

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{conv2d, Conv2d, Conv2dConfig, VarBuilder};

use crate::weights::{Recording, TensorMap};
use coder::{Decoder, Encoder};
pub use tiles::VaeTiling;

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

pub struct Vae {
    encoder: Encoder,
    decoder: Decoder,
    quant_conv: Option<Conv2d>,
    post_quant_conv: Option<Conv2d>,
    pub config: VaeConfig,
    /// When to work in tiles; `None`: never.
    pub tiling: Option<VaeTiling>,
    dtype: DType,
    /// A half-precision VAE's weights (the same tensors it runs on, not a copy), to
    /// rebuild it in f32 when its output overflows.
    half_weights: Option<Arc<TensorMap>>,
}

/// Serves a [`VarBuilder`]'s tensors as a backend, so that [`Recording`] can keep them.
struct Through(VarBuilder<'static>);

impl SimpleBackend for Through {
    fn get(
        &self,
        s: candle_core::Shape,
        name: &str,
        init: candle_nn::Init,
        dtype: DType,
        _: &candle_core::Device,
    ) -> Result<Tensor> {
        self.0.get_with_hints_dtype(s, name, init, dtype)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, _: &candle_core::Device) -> Result<Tensor> {
        self.0.get_unchecked_dtype(name, dtype)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.0.contains_tensor(name)
    }
}

fn is_half(dtype: DType) -> bool {
    matches!(dtype, DType::F16 | DType::BF16)
}

/// Whether every value is finite: `x·0` is 0 for finite `x` and NaN for NaN or ±inf,
/// so one sum finds any.
fn all_finite(t: &Tensor) -> Result<bool> {
    Ok((t.to_dtype(DType::F32)? * 0.0)?
        .sum_all()?
        .to_scalar::<f32>()?
        .is_finite())
}

impl Vae {
    /// Built in `vb`'s dtype; in f16 or bf16 it keeps the tensors it took so that it can
    /// fall back to f32.
    pub fn new(vb: VarBuilder<'static>, config: &VaeConfig) -> crate::Result<Self> {
        let (dtype, dev) = (vb.dtype(), vb.device().clone());
        if !is_half(dtype) {
            return Ok(Self::build(vb, config)?);
        }
        let (mut vae, weights) =
            Recording::new(Through(vb)).build(dtype, &dev, |vb| Ok(Self::build(vb, config)?))?;
        vae.half_weights = Some(Arc::new(weights));
        Ok(vae)
    }

    fn build(vb: VarBuilder, config: &VaeConfig) -> Result<Self> {
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
            tiling: Some(VaeTiling::DEFAULT),
            dtype: vb.dtype(),
            half_weights: None,
        })
    }

    /// Image in [-1, 1], `[b, 3, h, w]` → scaled latent mean `[b, c, h/8, w/8]`, in the
    /// VAE's dtype.
    pub fn encode(&self, image: &Tensor) -> Result<Tensor> {
        let out = self.encode_any(&image.to_dtype(self.dtype)?)?;
        self.unless_overflowed(out, "encode", image, Self::encode_any)
    }

    /// Scaled latent → image in roughly [-1, 1], in the VAE's dtype.
    pub fn decode(&self, latent: &Tensor) -> Result<Tensor> {
        let out = self.decode_any(&latent.to_dtype(self.dtype)?)?;
        self.unless_overflowed(out, "decode", latent, Self::decode_any)
    }

    /// `out` if it is finite; otherwise, for a half-precision VAE, `run` again on
    /// `input` by an f32 copy of this VAE.
    fn unless_overflowed(
        &self,
        out: Tensor,
        what: &str,
        input: &Tensor,
        run: fn(&Self, &Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let Some(weights) = &self.half_weights else {
            return Ok(out);
        };
        if all_finite(&out)? {
            return Ok(out);
        }
        eprintln!(
            "ra-engine: the {:?} VAE's {what} produced NaN or infinity; running it again in f32",
            self.dtype
        );
        // Built for this call and dropped after it: keeping an f32 copy would double
        // the VAE's memory for a fallback most runs never need.
        let vb = VarBuilder::from_tensors(weights.as_ref().clone(), DType::F32, input.device());
        let mut full = Self::build(vb, &self.config)?;
        full.tiling = self.tiling;
        run(&full, &input.to_dtype(DType::F32)?)?.to_dtype(self.dtype)
    }

    fn tiled(&self, h: usize, w: usize) -> Option<&VaeTiling> {
        self.tiling.as_ref().filter(|t| t.applies(h, w))
    }

    fn encode_any(&self, image: &Tensor) -> Result<Tensor> {
        let f = self.config.downscale();
        let (_, _, h, w) = image.dims4()?;
        match self.tiled(h / f, w / f) {
            // Tiles are laid out in latent pixels, so the image must divide into them.
            Some(t) if h % f == 0 && w % f == 0 => {
                tiles::run(image, t, f, 1, |x| self.encode_whole(x))
            }
            _ => self.encode_whole(image),
        }
    }

    fn decode_any(&self, latent: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = latent.dims4()?;
        match self.tiled(h, w) {
            Some(t) => tiles::run(latent, t, 1, self.config.downscale(), |x| {
                self.decode_whole(x)
            }),
            None => self.decode_whole(latent),
        }
    }

    fn encode_whole(&self, image: &Tensor) -> Result<Tensor> {
        let mut moments = self.encoder.forward(image)?;
        if let Some(q) = &self.quant_conv {
            moments = q.forward(&moments)?;
        }
        moments.narrow(1, 0, self.config.latent_channels)? * self.config.scaling_factor
    }

    fn decode_whole(&self, latent: &Tensor) -> Result<Tensor> {
        let mut xs = (latent / self.config.scaling_factor)?;
        if let Some(q) = &self.post_quant_conv {
            xs = q.forward(&xs)?;
        }
        self.decoder.forward(&xs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::make_model::random_var_builder;
    use candle_core::Device;

    /// 2·10⁴ fits in f16 (max 65504), but the decoder's first step divides by the
    /// scaling factor (0.18215), which overflows to infinity.
    #[test]
    fn half_precision_overflow_is_decoded_again_in_f32() {
        let dev = Device::Cpu;
        let config = VaeConfig::tiny();
        let vae = Vae::new(random_var_builder(4, DType::F16, &dev), &config).unwrap();
        assert!(vae.half_weights.is_some());
        let latent = (Tensor::randn(0f32, 1., (1, 4, 8, 8), &dev).unwrap() + 2e4)
            .unwrap()
            .to_dtype(DType::F16)
            .unwrap();
        assert!(!all_finite(&vae.decode_any(&latent).unwrap()).unwrap());

        let out = vae.decode(&latent).unwrap();
        assert_eq!(out.dtype(), DType::F16);
        assert!(all_finite(&out).unwrap());
        // The same weights in f32 throughout: apart only by the f16 rounding of weights.
        let reference = Vae::new(random_var_builder(4, DType::F32, &dev), &config)
            .unwrap()
            .decode(&latent.to_dtype(DType::F32).unwrap())
            .unwrap();
        let diff = (out.to_dtype(DType::F32).unwrap() - &reference).unwrap();
        let worst = diff
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let scale = reference
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        eprintln!("f32 fallback: worst difference {worst:.2e} of {scale:.3}");
        assert!(worst < 1e-2 * scale, "worst difference {worst} of {scale}");
    }

    #[test]
    fn full_precision_has_no_fallback() {
        let vae = Vae::new(
            random_var_builder(4, DType::F32, &Device::Cpu),
            &VaeConfig::tiny(),
        )
        .unwrap();
        assert!(vae.half_weights.is_none());
    }
}
