//! Text-to-image, image-to-image and inpainting: prompt → conditioning → sampled latent
//! → pixels, plus the infotext that records how.
//!
//! Sampling math runs in f32 whatever the model's dtype; only model calls use it. The
//! unconditional pass and every `AND` part go through the UNet as one batch when their
//! conditioning lengths agree. Inpainting pins the kept latent cells to the input's
//! after every model call and lays the original pixels back at the end
//! ([`crate::inpaint`]); 9-channel inpainting models also get the mask and the masked
//! image's latent as extra input channels, and 5-channel depth models the request's depth
//! map ([`crate::depth`]), on every UNet call of every pass.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use candle_core::{DType, Device, Tensor};
use image::imageops::FilterType;
use ra_wire::{GenerationInfo, PngImage, SamplerName, ScheduleType};

use crate::arch::{Prediction, UnetConditioning};
use crate::conditioning::{Conditioning, Embedding, PromptEncoder};
use crate::error::{EngineError, Result};
use crate::inpaint::{InpaintFill, Mask, Prepared};
use crate::model::SdModel;
use crate::networks::{apply_loras, embeddings_for, lora_uses, NetworkDirs};
use crate::noise::{initial_noise, RngSource, SeedStream, Variation};
use crate::sampler::{sampler_for, SamplerOptions};
use crate::schedule::NoiseSchedule;

pub use crate::depth::DepthMap;

/// Largest side RA accepts, as A1111's UI does.
pub const MAX_SIDE: u32 = 2048;

/// An RGB input image for img2img with how much of it to keep.
#[derive(Debug, Clone)]
pub struct InitImage {
    pub image: PngImage,
    /// A1111's denoising strength in [0, 1]: 0 keeps the input, 1 ignores it.
    pub strength: f64,
    /// Inpainting: only the masked area is repainted.
    pub mask: Option<Mask>,
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
    /// Which generator makes the noise (A1111's `randn_source`).
    pub rng: RngSource,
    /// A second seed blended into the noise.
    pub variation: Option<Variation>,
    /// `None`: A1111's defaults for the sampler.
    pub sampler_options: Option<SamplerOptions>,
    /// A1111's "Clip skip": 1 uses the text encoder's last layer, 2 the one before.
    pub clip_skip: u32,
    /// Where `<lora:…>` tags and embedding names are looked up.
    pub networks: NetworkDirs,
    /// txt2img only: a second, larger pass.
    pub hires: Option<HiresFix>,
    /// A separate VAE (a name in the VAE folders, or a path) instead of the model's.
    pub vae: Option<String>,
    /// The depth map a depth model (5-channel UNet) follows, normally made from the init
    /// image by the depth preprocessor. Required by depth models, ignored by others.
    pub depth: Option<DepthMap>,
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
            rng: RngSource::Gpu,
            variation: None,
            sampler_options: None,
            clip_skip: 1,
            networks: NetworkDirs::default(),
            hires: None,
            vae: None,
            depth: None,
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
        if let Some(hr) = &self.hires {
            let (w, h) = hr.size(self.width, self.height);
            if self.init.is_some() {
                return bad("hires fix is for txt2img; for img2img set the size you want".into());
            }
            if !(1.0..=4.0).contains(&hr.scale) || w > MAX_SIDE || h > MAX_SIDE {
                return bad(format!(
                    "hires scale must be between 1 and 4 and the result at most {MAX_SIDE} pixels a side, got {} ({w}×{h})",
                    hr.scale
                ));
            }
            if !(0.0..=1.0).contains(&hr.denoising_strength) || hr.steps > 1000 {
                return bad(
                    "hires denoising strength must be between 0 and 1 and hires steps at most 1000"
                        .into(),
                );
            }
        }
        if !(1..=12).contains(&self.clip_skip) {
            return bad(format!(
                "clip skip must be between 1 and 12, got {}",
                self.clip_skip
            ));
        }
        if let Some(v) = &self.variation {
            if !(0.0..=1.0).contains(&v.strength) || v.seed > u64::from(u32::MAX) {
                return bad(format!(
                    "variation seed must be between 0 and {} with a strength between 0 and 1, got {} at {}",
                    u32::MAX,
                    v.seed,
                    v.strength
                ));
            }
        }
        if let Some(init) = &self.init {
            if !(0.0..=1.0).contains(&init.strength) {
                return bad(format!(
                    "denoising strength must be between 0 and 1, got {}",
                    init.strength
                ));
            }
        }
        // Checked whatever the model: a malformed map is a broken request even where
        // the model would ignore it.
        if let Some(depth) = &self.depth {
            depth.validate()?;
        }
        Ok(())
    }

    /// The steps actually run, as progress counts them: the first pass plus hires fix's.
    pub fn steps_to_run(&self) -> u32 {
        self.first_pass_steps()
            + self
                .hires
                .as_ref()
                .map_or(0, |h| h.steps_to_run(self.steps))
    }

    /// `round(strength × steps)` for img2img, the tail of the full schedule. (A1111 runs
    /// one more, `int(min(strength, 0.999) × steps) + 1`.)
    fn first_pass_steps(&self) -> u32 {
        match &self.init {
            Some(init) => (init.strength * f64::from(self.steps)).round() as u32,
            None => self.steps,
        }
    }
}

/// How hires fix enlarges the first pass.
#[derive(Debug, Clone, PartialEq)]
pub enum HiresUpscaler {
    /// The latent, bilinearly (A1111's "Latent").
    Latent,
    /// The decoded image with Lanczos, encoded again.
    Lanczos,
    /// The decoded image through an upscaler outside the engine (a plugin's, e.g. an
    /// ESRGAN model), encoded again.
    Image(ImageUpscaler),
}

/// What an outside upscaler does: the decoded first pass and the second pass's size in,
/// the enlarged image out (resized with Lanczos if it comes back another size).
pub type UpscaleFn = dyn Fn(&PngImage, u32, u32) -> std::result::Result<PngImage, String> + Send + Sync;

/// A named outside upscaler. Equal when the names are.
#[derive(Clone)]
pub struct ImageUpscaler {
    pub name: String,
    pub run: Arc<UpscaleFn>,
}

impl std::fmt::Debug for ImageUpscaler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ImageUpscaler({:?})", self.name)
    }
}

impl PartialEq for ImageUpscaler {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl HiresUpscaler {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Latent => "Latent",
            Self::Lanczos => "Lanczos",
            Self::Image(u) => &u.name,
        }
    }

    /// The engine's own upscalers by A1111's names; outside ones are the caller's to find.
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "latent" | "latent (bilinear)" => Ok(Self::Latent),
            "lanczos" => Ok(Self::Lanczos),
            _ => Err(EngineError::InvalidRequest(format!(
                "hires upscaler must be Latent or Lanczos, not '{s}'"
            ))),
        }
    }
}

/// A1111's hires fix: a first pass at the requested size, then an img2img pass at
/// `scale` times it.
#[derive(Debug, Clone, PartialEq)]
pub struct HiresFix {
    pub scale: f64,
    pub upscaler: HiresUpscaler,
    /// Steps of the second pass; 0 uses the first pass's.
    pub steps: u32,
    pub denoising_strength: f64,
}

impl HiresFix {
    /// The second pass's size, on the 8-pixel grid.
    pub fn size(&self, width: u32, height: u32) -> (u32, u32) {
        let grid = |v: u32| ((f64::from(v) * self.scale / 8.0).round() as u32).max(1) * 8;
        (grid(width), grid(height))
    }

    pub fn steps_or(&self, steps: u32) -> u32 {
        if self.steps == 0 {
            steps
        } else {
            self.steps
        }
    }

    pub fn steps_to_run(&self, steps: u32) -> u32 {
        (self.denoising_strength * f64::from(self.steps_or(steps))).round() as u32
    }

    fn infotext(&self) -> Vec<(String, String)> {
        let mut out = vec![("Hires upscale".to_string(), self.scale.to_string())];
        if self.steps > 0 {
            out.push(("Hires steps".into(), self.steps.to_string()));
        }
        out.push(("Hires upscaler".into(), self.upscaler.as_str().into()));
        out
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
    let mut s = SeedStream::new(nanos as u64 ^ u64::from(std::process::id()));
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
    if model.arch.is_depth() && req.depth.is_none() {
        return Err(depth_map_needed());
    }
    let seed = if req.seed < 0 {
        random_seed()
    } else {
        req.seed as u64
    };
    let (prompt, networks) = ra_tokenizer::prompt::extra_networks(&req.prompt);
    let (negative, _) = ra_tokenizer::prompt::extra_networks(&req.negative_prompt);
    // LoRAs patch a copy of the model for this generation only; a chosen VAE too.
    let (patched, lora_hashes) = apply_loras(model, &lora_uses(&networks)?, &req.networks)?;
    let (patched, vae) = match &req.vae {
        Some(name) => {
            let path = req.networks.vae(name)?;
            let (m, hash) = patched.with_vae(&path)?;
            let file = path.file_name().map(|n| n.to_string_lossy().into_owned());
            (m, Some((hash, file.unwrap_or_default())))
        }
        None => (patched, None),
    };
    let model = &patched;
    let embeddings = embeddings_for(model, &format!("{prompt}\n{negative}"), &req.networks)?;
    let embeddings = embeddings.as_slice();
    let mut info = GenerationInfo {
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
        // A1111 records hires fix's strength here too.
        denoising_strength: req
            .init
            .as_ref()
            .map(|i| i.strength)
            .or(req.hires.as_ref().map(|h| h.denoising_strength)),
        extra: Vec::new(),
    };
    if let Some((hash, file)) = vae {
        info.extra.push(("VAE hash".into(), hash));
        info.extra.push(("VAE".into(), file));
    }
    if let Some(v) = req.variation.filter(|v| v.strength > 0.0) {
        info.extra
            .push(("Variation seed".into(), v.seed.to_string()));
        info.extra
            .push(("Variation seed strength".into(), v.strength.to_string()));
    }
    if req.clip_skip > 1 {
        info.extra
            .push(("Clip skip".into(), req.clip_skip.to_string()));
    }
    if let Some(mask) = req.init.as_ref().and_then(|i| i.mask.as_ref()) {
        info.extra.push(("Mask blur".into(), mask.blur.to_string()));
        if mask.only_masked {
            info.extra
                .push(("Inpaint area".into(), "Only masked".into()));
            info.extra
                .push(("Masked area padding".into(), mask.padding.to_string()));
        }
    }
    if let Some(rng) = req.rng.infotext() {
        info.extra.push(("RNG".into(), rng.to_string()));
    }

    let inpaint = match &req.init {
        Some(InitImage {
            image,
            mask: Some(mask),
            ..
        }) => Some(crate::inpaint::prepare(image, mask, req.width, req.height)?),
        _ => None,
    };
    let init_pixels = match (&req.init, &inpaint) {
        (_, Some(p)) => Some(p.image.clone()),
        (Some(init), None) => Some(resize(&init.image, req.width, req.height)?),
        (None, None) => None,
    };
    let run_steps = req.first_pass_steps();
    if run_steps == 0 {
        if let (Some(pixels), None) = (&init_pixels, &inpaint) {
            // Nothing to denoise: the input is the answer, without a lossy VAE round trip.
            return Ok(Generated {
                image: pixels.clone(),
                info,
            });
        }
    }

    let dev = &model.options.device;
    let dtype = model.options.dtype;
    // A1111 schedules prompt edits over model calls: twice per step for second-order
    // samplers.
    let calls_per_step = if second_order(req.sampler) { 2 } else { 1 };
    if !lora_hashes.is_empty() {
        let hashes: Vec<String> = lora_hashes
            .iter()
            .map(|(name, hash)| format!("{name}: {hash}"))
            .collect();
        info.extra.push(("Lora hashes".into(), hashes.join(", ")));
    }
    let conditioning = PromptEncoder::new(model, embeddings, req.clip_skip)?.condition(
        &prompt,
        &negative,
        req.steps * calls_per_step,
    )?;
    let used: Vec<&Embedding> = conditioning
        .used_embeddings
        .iter()
        .map(|&i| &embeddings[i])
        .collect();
    if !used.is_empty() {
        let hashes: Vec<String> = used
            .iter()
            .map(|e| format!("{}: {}", e.name, e.hash))
            .collect();
        info.extra.push(("TI hashes".into(), hashes.join(", ")));
    }

    let schedule = NoiseSchedule::sd();
    let all = schedule.sigmas_for(req.sampler, req.schedule_type, req.steps as usize);
    let run = (run_steps as usize).min(all.len() - 1);
    let sigmas = &all[all.len() - 1 - run..];

    let f = model.arch.vae.downscale() as u32;
    let (lh, lw) = ((req.height / f) as usize, (req.width / f) as usize);
    let latent_shape = [1, model.arch.unet.out_channels, lh, lw];
    let (initial, mut noise) = initial_noise(req.rng, seed, req.variation, &latent_shape, dev)?;

    let init_latent = match &init_pixels {
        Some(pixels) => Some(
            model
                .vae
                .encode(&image_to_tensor(pixels, dev)?.to_dtype(dtype)?)?
                .to_dtype(DType::F32)?,
        ),
        None => None,
    };
    // 1 where the latent is repainted, 0 where it is kept (rounded, as A1111 does).
    let repaint = match &inpaint {
        Some(p) => Some(latent_mask(p, latent_shape, dev)?),
        None => None,
    };
    let start = match (&init_latent, &repaint) {
        (Some(latent), Some(repaint)) => {
            let keep = (1.0 - repaint)?;
            match req
                .init
                .as_ref()
                .and_then(|i| i.mask.as_ref())
                .map(|m| m.fill)
            {
                Some(InpaintFill::LatentNoise) => ((latent * &keep)? + (&initial * repaint)?)?,
                Some(InpaintFill::LatentNothing) => (latent * &keep)?,
                _ => latent.clone(),
            }
        }
        (Some(latent), None) => latent.clone(),
        (None, _) => initial.zeros_like()?,
    };
    let x = (start + (&initial * sigmas[0])?)?;
    let image_cond = image_conditioning(
        model,
        req,
        init_pixels.as_ref(),
        inpaint.as_ref(),
        (req.width, req.height),
    )?;
    // Kept latent cells are pinned to the input's after every model call.
    let pin = match (&init_latent, &repaint) {
        (Some(latent), Some(repaint)) => Some((latent.clone(), repaint.clone())),
        _ => None,
    };

    let mut pass = Pass {
        model,
        req,
        image_cond,
        pin: pin.as_ref(),
        started: Instant::now(),
        done_before: 0,
        total: req.steps_to_run(),
        on_step,
    };
    let mut latent = pass.run(&conditioning, x, sigmas, &mut noise)?;
    if let Some((init, repaint)) = &pin {
        latent = blend(init, &latent, repaint)?;
    }
    if let Some(hr) = &req.hires {
        // A1111's hires fix: upscale the first pass, then an img2img pass at the new
        // size from fresh noise of the same seed.
        let (w, h) = hr.size(req.width, req.height);
        let (hw, hh) = ((w / f) as usize, (h / f) as usize);
        let upscaled = match &hr.upscaler {
            HiresUpscaler::Latent => latent.upsample_bilinear2d(hh, hw, false)?,
            pixels => {
                let first = tensor_to_image(&model.vae.decode(&latent.to_dtype(dtype)?)?)?;
                let big = match pixels {
                    HiresUpscaler::Image(u) => (u.run)(&first, w, h).map_err(|e| {
                        EngineError::InvalidRequest(format!("hires upscaler {}: {e}", u.name))
                    })?,
                    _ => resize(&first, w, h)?,
                };
                // resize() passes an image already the right size through.
                let big = resize(&big, w, h)?;
                model
                    .vae
                    .encode(&image_to_tensor(&big, dev)?.to_dtype(dtype)?)?
                    .to_dtype(DType::F32)?
            }
        };
        let steps = hr.steps_or(req.steps);
        let conditioning = PromptEncoder::new(model, embeddings, req.clip_skip)?.condition(
            &prompt,
            &negative,
            steps * calls_per_step,
        )?;
        let all = schedule.sigmas_for(req.sampler, req.schedule_type, steps as usize);
        let run = (hr.steps_to_run(req.steps) as usize).min(all.len() - 1);
        let sigmas = &all[all.len() - 1 - run..];
        let shape = [1, model.arch.unet.out_channels, hh, hw];
        let (initial, mut noise) = initial_noise(req.rng, seed, req.variation, &shape, dev)?;
        let x = (upscaled + (initial * sigmas[0])?)?;
        // The extra input channels at the new size: the depth map resized from the
        // request's again (not from the first pass's channel, which would lose detail);
        // for inpainting models the all-repaint mask over a blank image, as in the first
        // pass, since hires fix is txt2img only.
        pass.image_cond = image_conditioning(model, req, None, None, (w, h))?;
        pass.done_before = run_steps;
        latent = pass.run(&conditioning, x, sigmas, &mut noise)?;
        info.extra.extend(hr.infotext());
    }
    let pixels = model.vae.decode(&latent.to_dtype(dtype)?)?;
    let mut image = tensor_to_image(&pixels)?;
    if let Some(p) = &inpaint {
        image = p.finish(&image)?;
    }
    Ok(Generated { image, info })
}

/// What every sampling run of a generation shares.
struct Pass<'a> {
    model: &'a SdModel,
    req: &'a GenerateRequest,
    /// The extra input channels of inpainting and depth models, at this run's size.
    image_cond: Option<Tensor>,
    /// Inpainting: the input latent and where it is repainted.
    pin: Option<&'a (Tensor, Tensor)>,
    started: Instant,
    /// Steps of earlier runs, so that progress counts over the whole generation.
    done_before: u32,
    total: u32,
    on_step: &'a mut dyn FnMut(Progress<'_>) -> bool,
}

impl Pass<'_> {
    /// Samples from `x` (at noise level `sigmas[0]`) down the levels.
    fn run(
        &mut self,
        conditioning: &Conditioning,
        x: Tensor,
        sigmas: &[f64],
        noise: &mut crate::noise::NoiseStream,
    ) -> Result<Tensor> {
        let (model, req) = (self.model, self.req);
        let schedule = NoiseSchedule::sd();
        let dtype = model.options.dtype;
        let cfg = req.cfg_scale;
        let prediction = model.arch.prediction;
        let cond_only = conditioning.cond_only(cfg);
        let (image_cond, pin) = (self.image_cond.as_ref(), self.pin);
        let (started, done_before, total) = (self.started, self.done_before, self.total);
        let on_step = &mut *self.on_step;
        let mut cancelled = false;
        let mut calls = 0u32;
        let mut denoise = |x: &Tensor, sigma: f64, i: usize| -> candle_core::Result<Tensor> {
            let c_in = 1.0 / (sigma * sigma + 1.0).sqrt();
            // An LCM was distilled on 50 timesteps only; it sees the nearest of them.
            let t = if req.sampler == SamplerName::Lcm {
                schedule.lcm_timestep(sigma)
            } else {
                schedule.sigma_to_t(sigma)
            };
            let scaled = (x * c_in)?;
            let unet_in = match image_cond {
                Some(c) => Tensor::cat(&[&scaled, c], 1)?,
                None => scaled,
            }
            .to_dtype(dtype)?;
            let guided = guide(model, &unet_in, t, conditioning, calls, cfg, cond_only)?;
            calls += 1;
            let mut denoised = match prediction {
                Prediction::Epsilon => (x - (guided * sigma)?)?,
                Prediction::V => {
                    let s2 = sigma * sigma + 1.0;
                    ((x * (1.0 / s2))? - (guided * (sigma / s2.sqrt()))?)?
                }
            };
            if let Some((latent, repaint)) = pin {
                denoised = blend(latent, &denoised, repaint)?;
            }
            let progress = Progress {
                step: done_before + i as u32 + 1,
                total,
                started,
                denoised: &denoised,
            };
            if !on_step(progress) {
                cancelled = true;
                return Err(candle_core::Error::Msg("cancelled".into()));
            }
            Ok(denoised)
        };
        let options = req
            .sampler_options
            .unwrap_or_else(|| SamplerOptions::for_sampler(req.sampler));
        match sampler_for(req.sampler, &options).sample(&mut denoise, x, sigmas, noise) {
            Ok(latent) => Ok(latent),
            Err(_) if cancelled => Err(EngineError::Cancelled),
            Err(e) => Err(e.into()),
        }
    }
}

/// Second-order samplers call the model twice per step (A1111's `second_order`).
fn second_order(sampler: SamplerName) -> bool {
    matches!(
        sampler,
        SamplerName::Heun
            | SamplerName::Dpm2
            | SamplerName::Dpm2A
            | SamplerName::DpmPp2sA
            | SamplerName::DpmPpSde
    )
}

/// `kept · keep + new · repaint`.
fn blend(kept: &Tensor, new: &Tensor, repaint: &Tensor) -> candle_core::Result<Tensor> {
    (kept * (1.0 - repaint)?)? + (new * repaint)?
}

/// The classifier-free guided prediction for one model call: the unconditional pass and
/// one pass per `AND` part (batched when their lengths agree), combined as A1111's
/// composable diffusion does, `u + Σ wᵢ·cfg·(cᵢ − u)`.
fn guide(
    model: &SdModel,
    x: &Tensor,
    t: f64,
    cond: &Conditioning,
    call: u32,
    cfg: f64,
    cond_only: bool,
) -> candle_core::Result<Tensor> {
    let parts: Vec<&Tensor> = cond.parts.iter().map(|(_, s)| s.at(call)).collect();
    if cond_only {
        return Ok(model.unet.forward(x, t, parts[0])?.to_dtype(DType::F32)?);
    }
    let mut contexts = vec![cond.uncond.at(call)];
    contexts.extend(&parts);
    let outs = unet_batched(model, x, t, &contexts)?;
    let uncond = &outs[0];
    let mut guided = uncond.clone();
    for ((weight, _), out) in cond.parts.iter().zip(&outs[1..]) {
        guided = (guided + ((out - uncond)? * (weight * cfg))?)?;
    }
    Ok(guided)
}

/// The UNet on `x` once per context, in one batch when the contexts have one length.
fn unet_batched(
    model: &SdModel,
    x: &Tensor,
    t: f64,
    contexts: &[&Tensor],
) -> candle_core::Result<Vec<Tensor>> {
    let n = contexts.len();
    if contexts.iter().all(|c| c.dims() == contexts[0].dims()) {
        let xs = Tensor::cat(&vec![x; n], 0)?;
        let out = model
            .unet
            .forward(&xs, t, &Tensor::cat(contexts, 0)?)?
            .to_dtype(DType::F32)?;
        (0..n).map(|i| out.narrow(0, i, 1)).collect()
    } else {
        contexts
            .iter()
            .map(|c| model.unet.forward(x, t, c)?.to_dtype(DType::F32))
            .collect()
    }
}

/// The repaint mask at latent resolution over every channel, each cell 0 or 1.
fn latent_mask(p: &Prepared, shape: [usize; 4], dev: &Device) -> Result<Tensor> {
    let [_, channels, lh, lw] = shape;
    let small = image::imageops::resize(&p.mask, lw as u32, lh as u32, FilterType::Triangle);
    let cells: Vec<f32> = small
        .pixels()
        .map(|px| (f32::from(px.0[0]) / 255.0).round())
        .collect();
    Ok(Tensor::from_vec(cells, (1, 1, lh, lw), dev)?.repeat((1, channels, 1, 1))?)
}

/// What [`generate`] says when a depth model gets no depth map.
fn depth_map_needed() -> EngineError {
    EngineError::InvalidRequest(
        "this is a depth model: it needs a depth map, which the depth preprocessor makes from an init image (use img2img with the depth preprocessor on)".into(),
    )
}

/// What the UNet reads after the 4 latent channels for a `width × height` image, if
/// anything: see [`UnetConditioning`].
fn image_conditioning(
    model: &SdModel,
    req: &GenerateRequest,
    pixels: Option<&PngImage>,
    inpaint: Option<&Prepared>,
    (width, height): (u32, u32),
) -> Result<Option<Tensor>> {
    match model.arch.conditioning() {
        UnetConditioning::Plain => Ok(None),
        UnetConditioning::Inpainting => {
            inpainting_conditioning(model, pixels, inpaint, width, height).map(Some)
        }
        UnetConditioning::Depth => {
            let depth = req.depth.as_ref().ok_or_else(depth_map_needed)?;
            let f = model.arch.vae.downscale() as u32;
            let (lh, lw) = ((height / f) as usize, (width / f) as usize);
            depth
                .latent_channel(lh, lw, &model.options.device)
                .map(Some)
        }
    }
}

/// The extra input of a 9-channel inpainting UNet: the repaint mask and the latent of
/// the image with the masked area blanked. Without a mask everything is repainted
/// from a blank (mid-grey) image, as A1111 does for txt2img.
fn inpainting_conditioning(
    model: &SdModel,
    pixels: Option<&PngImage>,
    inpaint: Option<&Prepared>,
    width: u32,
    height: u32,
) -> Result<Tensor> {
    let dev = &model.options.device;
    let (w, h) = (width as usize, height as usize);
    let mask = match inpaint {
        Some(p) => {
            let m: Vec<f32> = p
                .mask
                .pixels()
                .map(|px| (f32::from(px.0[0]) / 255.0).round())
                .collect();
            Tensor::from_vec(m, (1, 1, h, w), dev)?
        }
        None => Tensor::ones((1, 1, h, w), DType::F32, dev)?,
    };
    let source = match pixels {
        Some(p) => image_to_tensor(p, dev)?,
        None => Tensor::zeros((1, 3, h, w), DType::F32, dev)?,
    };
    let masked = source.broadcast_mul(&(1.0 - &mask)?)?;
    let latent = model
        .vae
        .encode(&masked.to_dtype(model.options.dtype)?)?
        .to_dtype(DType::F32)?;
    let (_, _, lh, lw) = latent.dims4()?;
    let small = mask.interpolate2d(lh, lw)?;
    Ok(Tensor::cat(&[&small, &latent], 1)?)
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
