//! Text-to-image and image-to-image: prompt → conditioning → sampled latent → pixels,
//! plus the infotext that records how.
//!
//! Sampling math runs in f32 whatever the model's dtype; only model calls use it. Cond
//! and uncond go through the UNet as one batch of two.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use candle_core::{DType, Device, Tensor};
use image::imageops::FilterType;
use ra_wire::{GenerationInfo, PngImage, SamplerName, ScheduleType};

use crate::arch::Prediction;
use crate::error::{EngineError, Result};
use crate::model::SdModel;
use crate::noise::NoiseStream;
use crate::sampler::sampler_for;
use crate::schedule::{NoiseSchedule, Spacing};

/// Largest side RA accepts, as A1111's UI does.
pub const MAX_SIDE: u32 = 2048;

/// An RGB input image for img2img with how much of it to keep.
#[derive(Debug, Clone)]
pub struct InitImage {
    pub image: PngImage,
    /// A1111's denoising strength in [0, 1]: 0 keeps the input, 1 ignores it.
    pub strength: f64,
}

#[derive(Debug, Clone)]
pub struct GenerateRequest {
    pub prompt: String,
    pub negative_prompt: String,
    pub steps: u32,
    pub sampler: SamplerName,
    pub schedule_type: ScheduleType,
    pub cfg_scale: f64,
    /// -1 (any negative) picks a random seed, reported in the result.
    pub seed: i64,
    pub width: u32,
    pub height: u32,
    pub init: Option<InitImage>,
}

impl GenerateRequest {
    /// A1111's defaults for a prompt.
    pub fn new(prompt: impl Into<String>) -> Self {
        Self {
            prompt: prompt.into(),
            negative_prompt: String::new(),
            steps: 20,
            sampler: SamplerName::EulerA,
            schedule_type: ScheduleType::Automatic,
            cfg_scale: 7.0,
            seed: -1,
            width: 512,
            height: 512,
            init: None,
        }
    }

    /// Checks what can be checked before any model work.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(EngineError::InvalidRequest(m));
        for (name, v) in [("width", self.width), ("height", self.height)] {
            if v == 0 || v % 8 != 0 || v > MAX_SIDE {
                return bad(format!(
                    "{name} must be a multiple of 8 between 8 and {MAX_SIDE}, got {v}"
                ));
            }
        }
        if self.steps == 0 || self.steps > 1000 {
            return bad(format!(
                "steps must be between 1 and 1000, got {}",
                self.steps
            ));
        }
        if !self.cfg_scale.is_finite() || !(0.0..=100.0).contains(&self.cfg_scale) {
            return bad(format!(
                "CFG scale must be between 0 and 100, got {}",
                self.cfg_scale
            ));
        }
        if self.seed > i64::from(u32::MAX) {
            return bad(format!(
                "seed must be -1 or between 0 and {}, got {}",
                u32::MAX,
                self.seed
            ));
        }
        if let Some(init) = &self.init {
            if !(0.0..=1.0).contains(&init.strength) {
                return bad(format!(
                    "denoising strength must be between 0 and 1, got {}",
                    init.strength
                ));
            }
        }
        Ok(())
    }

    /// The steps actually run: `round(strength × steps)` for img2img, the tail of the
    /// full schedule. (A1111 runs one more, `int(min(strength, 0.999) × steps) + 1`.)
    pub fn steps_to_run(&self) -> u32 {
        match &self.init {
            Some(init) => (init.strength * f64::from(self.steps)).round() as u32,
            None => self.steps,
        }
    }
}

/// What a step reports to whoever waits for the image.
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// Steps finished, 1-based once the first is done.
    pub step: u32,
    pub total: u32,
    pub started: Instant,
    /// The model's current guess at the clean latent, for a live preview
    /// ([`crate::preview::latent_to_rgb`]).
    pub denoised: &'a Tensor,
}

/// What generation returns.
#[derive(Debug, Clone)]
pub struct Generated {
    pub image: PngImage,
    pub info: GenerationInfo,
}

impl Generated {
    pub fn png_bytes(&self) -> Result<Vec<u8>> {
        Ok(self.image.encode(Some(&self.info.render()))?)
    }
}

/// A seed for `-1`: in A1111's range, [0, 2³²).
pub fn random_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut s = NoiseStream::new(nanos as u64 ^ u64::from(std::process::id()));
    (s.uniforms(1)[0] * f64::from(u32::MAX)) as u64
}

/// Runs one generation. `on_step` is called after every model step; returning `false`
/// cancels the run with [`EngineError::Cancelled`].
pub fn generate(
    model: &SdModel,
    req: &GenerateRequest,
    on_step: &mut dyn FnMut(Progress<'_>) -> bool,
) -> Result<Generated> {
    req.validate()?;
    let seed = if req.seed < 0 {
        random_seed()
    } else {
        req.seed as u64
    };
    let info = GenerationInfo {
        prompt: req.prompt.clone(),
        negative_prompt: req.negative_prompt.clone(),
        steps: req.steps,
        sampler: req.sampler,
        schedule_type: req.schedule_type,
        cfg_scale: req.cfg_scale,
        seed,
        width: req.width,
        height: req.height,
        model_hash: model.hash.clone(),
        model: model.name.clone(),
        denoising_strength: req.init.as_ref().map(|i| i.strength),
        extra: Vec::new(),
    };
    let init_pixels = match &req.init {
        Some(init) => Some(resize(&init.image, req.width, req.height)?),
        None => None,
    };
    let run_steps = req.steps_to_run();
    if run_steps == 0 {
        if let Some(pixels) = init_pixels {
            // Nothing to denoise: the input is the answer, without a lossy VAE round trip.
            return Ok(Generated {
                image: pixels,
                info,
            });
        }
    }

    let dev = &model.options.device;
    let context = encode_prompts(model, &req.prompt, &req.negative_prompt)?;
    let schedule = NoiseSchedule::sd();
    let all = schedule.sigmas(
        Spacing::resolve(req.sampler, req.schedule_type),
        req.steps as usize,
    );
    let sigmas = &all[all.len() - 1 - run_steps as usize..];

    let mut noise = NoiseStream::new(seed);
    let f = model.arch.vae.downscale() as u32;
    let latent_shape = [
        1,
        model.arch.unet.out_channels,
        (req.height / f) as usize,
        (req.width / f) as usize,
    ];
    let initial = noise.tensor(&latent_shape, dev)?;
    let x = match &init_pixels {
        Some(pixels) => {
            let latent = model
                .vae
                .encode(&image_to_tensor(pixels, dev)?.to_dtype(model.options.dtype)?)?;
            (latent.to_dtype(DType::F32)? + (initial * sigmas[0])?)?
        }
        None => (initial * sigmas[0])?,
    };

    let started = Instant::now();
    let cfg = req.cfg_scale;
    let prediction = model.arch.prediction;
    let mut cancelled = false;
    let mut denoise = |x: &Tensor, sigma: f64, i: usize| -> candle_core::Result<Tensor> {
        let c_in = 1.0 / (sigma * sigma + 1.0).sqrt();
        let t = schedule.sigma_to_t(sigma);
        let input = (Tensor::cat(&[x, x], 0)? * c_in)?.to_dtype(model.options.dtype)?;
        let out = model
            .unet
            .forward(&input, t, &context)?
            .to_dtype(DType::F32)?;
        let uncond = out.get(0)?.unsqueeze(0)?;
        let cond = out.get(1)?.unsqueeze(0)?;
        let guided = (&uncond + ((cond - &uncond)? * cfg)?)?;
        let denoised = match prediction {
            Prediction::Epsilon => (x - (guided * sigma)?)?,
            Prediction::V => {
                let s2 = sigma * sigma + 1.0;
                ((x * (1.0 / s2))? - (guided * (sigma / s2.sqrt()))?)?
            }
        };
        let progress = Progress {
            step: i as u32 + 1,
            total: run_steps,
            started,
            denoised: &denoised,
        };
        if !on_step(progress) {
            cancelled = true;
            return Err(candle_core::Error::Msg("cancelled".into()));
        }
        Ok(denoised)
    };
    let sampled = sampler_for(req.sampler).sample(&mut denoise, x, sigmas, &mut noise);
    let latent = match sampled {
        Ok(latent) => latent,
        Err(_) if cancelled => return Err(EngineError::Cancelled),
        Err(e) => return Err(e.into()),
    };
    let pixels = model.vae.decode(&latent.to_dtype(model.options.dtype)?)?;
    Ok(Generated {
        image: tensor_to_image(&pixels)?,
        info,
    })
}

/// Conditioning for `[uncond, cond]` as one batch.
fn encode_prompts(model: &SdModel, prompt: &str, negative: &str) -> Result<Tensor> {
    let pad = model.arch.clip.pad_id;
    let mut ids = model.tokenizer.window(negative, pad)?.input_ids;
    ids.extend(model.tokenizer.window(prompt, pad)?.input_ids);
    let ids = Tensor::from_vec(ids, (2, 77), &model.options.device)?;
    Ok(model.text_encoder.forward(&ids)?)
}

/// Resizes with Lanczos, as A1111's "just resize" does.
fn resize(img: &PngImage, width: u32, height: u32) -> Result<PngImage> {
    if img.width == width && img.height == height {
        return Ok(img.clone());
    }
    let buf = image::RgbImage::from_raw(img.width, img.height, img.rgb.clone())
        .ok_or_else(|| EngineError::Image("input image buffer has the wrong size".into()))?;
    let out = image::imageops::resize(&buf, width, height, FilterType::Lanczos3);
    Ok(PngImage::new(width, height, out.into_raw())?)
}

/// RGB bytes → `[1, 3, h, w]` f32 in [-1, 1].
fn image_to_tensor(img: &PngImage, dev: &Device) -> Result<Tensor> {
    let (w, h) = (img.width as usize, img.height as usize);
    let t = Tensor::from_vec(img.rgb.clone(), (h, w, 3), dev)?
        .permute((2, 0, 1))?
        .to_dtype(DType::F32)?;
    Ok(((t / 127.5)? - 1.0)?.unsqueeze(0)?)
}

/// `[1, 3, h, w]` in [-1, 1] → RGB bytes.
fn tensor_to_image(t: &Tensor) -> Result<PngImage> {
    let t = t.to_dtype(DType::F32)?.squeeze(0)?;
    let (_, h, w) = t.dims3()?;
    let t = ((t + 1.0)? * 127.5)?.clamp(0f32, 255f32)?.round()?;
    let rgb = t
        .permute((1, 2, 0))?
        .flatten_all()?
        .to_dtype(DType::U8)?
        .to_vec1::<u8>()?;
    Ok(PngImage::new(w as u32, h as u32, rgb)?)
}

/// Decodes any common image file (PNG, JPEG, WebP, BMP) to RGB.
pub fn load_image(bytes: &[u8]) -> Result<PngImage> {
    let img = image::load_from_memory(bytes)
        .map_err(|e| {
            EngineError::Image(format!(
                "not an image RA can read (PNG, JPEG, WebP or BMP): {e}"
            ))
        })?
        .to_rgb8();
    let (w, h) = img.dimensions();
    Ok(PngImage::new(w, h, img.into_raw())?)
}
