//! The Generate and img2img pages' fields as one form: what QML sends as JSON, checked
//! here and turned into the daemon's [`JobRequest`]; and the way back, from an infotext
//! (ours or A1111's) to a filled form for "reuse parameters" and "send to Generate".

use std::path::Path;

use base64::Engine as _;
use ra_wire::infotext::Infotext;
use ra_wire::sampler::{SamplerName, ScheduleType};
use ra_wire::JobRequest;
use serde::{Deserialize, Serialize};

use crate::files::local_path;
use crate::notice::Notice;

/// Width × height buttons on the Generate page, SD 1.x sizes first.
pub const SIZE_PRESETS: [(u32, u32); 6] = [
    (512, 512),
    (512, 768),
    (768, 512),
    (768, 768),
    (640, 384),
    (384, 640),
];

pub const MAX_SIDE: u32 = 2048;
pub const MAX_STEPS: u32 = 150;
pub const MAX_COUNT: u32 = 16;

/// How a masked area starts, as A1111's `inpainting_fill` numbers it.
pub const FILL_MODES: [&str; 4] = ["fill", "original", "latent_noise", "latent_nothing"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerateForm {
    pub prompt: String,
    pub negative_prompt: String,
    /// Checkpoint title; empty keeps the daemon's current one.
    pub model: String,
    pub sampler: String,
    pub schedule_type: String,
    pub steps: u32,
    pub cfg_scale: f64,
    /// -1 picks a new random seed.
    pub seed: i64,
    pub width: u32,
    pub height: u32,
    pub count: u32,
    /// img2img: a local image file; empty for txt2img.
    pub init_image: String,
    pub denoising_strength: f64,
    /// Inpainting: the painted mask as a PNG data URL (white = repaint); empty for none.
    pub mask: String,
    pub mask_blur: u32,
    /// One of [`FILL_MODES`].
    pub inpainting_fill: String,
    /// What makes an A1111 seed give A1111's image: its noise source (`GPU`, `NV`,
    /// `CPU`), variation seed and strength, and clip skip.
    pub rng: String,
    pub subseed: i64,
    pub subseed_strength: f64,
    pub clip_skip: u32,
    /// Hires fix (Generate only): scale, `Latent` or `Lanczos`, strength.
    pub enable_hr: bool,
    pub hr_scale: f64,
    pub hr_upscaler: String,
    pub hr_denoising: f64,
}

/// Noise sources, as A1111's `randn_source` names them.
pub const RNG_SOURCES: [&str; 3] = ["GPU", "NV", "CPU"];
/// How hires fix enlarges the first pass.
pub const HIRES_UPSCALERS: [&str; 2] = ["Latent", "Lanczos"];

impl Default for GenerateForm {
    fn default() -> Self {
        let r = JobRequest::default();
        Self {
            prompt: r.prompt,
            negative_prompt: r.negative_prompt,
            model: String::new(),
            sampler: r.sampler,
            schedule_type: r.schedule_type,
            steps: r.steps,
            cfg_scale: r.cfg_scale,
            seed: r.seed,
            width: r.width,
            height: r.height,
            count: r.count,
            init_image: String::new(),
            denoising_strength: 0.75,
            mask: String::new(),
            mask_blur: 4,
            inpainting_fill: "original".into(),
            rng: r.rng,
            subseed: r.subseed,
            subseed_strength: r.subseed_strength,
            clip_skip: r.clip_skip,
            enable_hr: false,
            hr_scale: r.hr_scale,
            hr_upscaler: r.hr_upscaler,
            hr_denoising: 0.7,
        }
    }
}

fn field(name: &str) -> Notice {
    Notice::new("form-invalid").arg("field", name)
}

impl GenerateForm {
    /// The request to submit; the input image is read and sent inline.
    pub fn to_request(&self) -> Result<JobRequest, Notice> {
        if self.prompt.trim().is_empty() && self.init_image.is_empty() {
            return Err(Notice::new("form-prompt-empty"));
        }
        if !(1..=MAX_STEPS).contains(&self.steps) {
            return Err(field("steps").arg("min", 1).arg("max", MAX_STEPS));
        }
        if !(1.0..=30.0).contains(&self.cfg_scale) {
            return Err(field("cfg_scale").arg("min", 1).arg("max", 30));
        }
        for (name, side) in [("width", self.width), ("height", self.height)] {
            if !(64..=MAX_SIDE).contains(&side) || side % 8 != 0 {
                return Err(Notice::new("form-size-invalid")
                    .arg("field", name)
                    .arg("max", MAX_SIDE));
            }
        }
        if !(1..=MAX_COUNT).contains(&self.count) {
            return Err(field("count").arg("min", 1).arg("max", MAX_COUNT));
        }
        if self.seed < -1 || self.seed > u32::MAX as i64 {
            return Err(field("seed").arg("min", -1).arg("max", u32::MAX));
        }
        let init_image = if self.init_image.is_empty() {
            None
        } else {
            if !(0.0..=1.0).contains(&self.denoising_strength) {
                return Err(field("denoising_strength").arg("min", 0).arg("max", 1));
            }
            Some(read_image_base64(&local_path(&self.init_image))?)
        };
        if !self.mask.is_empty() {
            if init_image.is_none() {
                return Err(Notice::new("form-mask-without-image"));
            }
            if !FILL_MODES.contains(&self.inpainting_fill.as_str()) || self.mask_blur > 64 {
                return Err(field("mask").arg("min", 0).arg("max", 64));
            }
        }
        if !RNG_SOURCES.contains(&self.rng.as_str()) || !(1..=12).contains(&self.clip_skip) {
            return Err(field("clip_skip").arg("min", 1).arg("max", 12));
        }
        if !(0.0..=1.0).contains(&self.subseed_strength) || self.subseed < -1 {
            return Err(field("subseed_strength").arg("min", 0).arg("max", 1));
        }
        let hires = self.enable_hr && init_image.is_none();
        if hires
            && (!(1.0..=4.0).contains(&self.hr_scale)
                || !HIRES_UPSCALERS.contains(&self.hr_upscaler.as_str())
                || !(0.0..=1.0).contains(&self.hr_denoising))
        {
            return Err(field("hr_scale").arg("min", 1).arg("max", 4));
        }
        Ok(JobRequest {
            prompt: self.prompt.clone(),
            negative_prompt: self.negative_prompt.clone(),
            steps: self.steps,
            sampler: self.sampler.clone(),
            schedule_type: self.schedule_type.clone(),
            cfg_scale: self.cfg_scale,
            seed: self.seed,
            width: self.width,
            height: self.height,
            count: self.count,
            denoising_strength: match (&init_image, hires) {
                (Some(_), _) => Some(self.denoising_strength),
                (None, true) => Some(self.hr_denoising),
                (None, false) => None,
            },
            rng: self.rng.clone(),
            subseed: self.subseed,
            subseed_strength: self.subseed_strength,
            clip_skip: self.clip_skip,
            enable_hr: hires,
            hr_scale: self.hr_scale,
            hr_upscaler: self.hr_upscaler.clone(),
            init_image,
            mask: (!self.mask.is_empty()).then(|| self.mask.clone()),
            mask_blur: self.mask_blur,
            inpainting_fill: self.inpainting_fill.clone(),
            model: (!self.model.is_empty()).then(|| self.model.clone()),
            priority: 0,
            ..JobRequest::default()
        })
    }

    /// A form filled from an infotext; what the text lacks keeps its default, and a
    /// sampler RA does not know yet is kept by name (the daemon says so on submit).
    pub fn from_infotext(text: &str) -> Result<Self, Notice> {
        let info = Infotext::parse(text)
            .map_err(|e| Notice::new("pnginfo-unreadable").arg("detail", e))?;
        let mut form = Self {
            prompt: info.prompt.clone(),
            negative_prompt: info.negative_prompt.clone(),
            ..Self::default()
        };
        let num = |key: &str| info.get(key).and_then(|v| v.trim().parse::<f64>().ok());
        if let Some(v) = num("Steps") {
            form.steps = v as u32;
        }
        if let Some(v) = num("CFG scale") {
            form.cfg_scale = v;
        }
        if let Some(v) = num("Seed") {
            form.seed = v as i64;
        }
        if let Some(v) = num("Denoising strength") {
            form.denoising_strength = v;
        }
        if let Some((w, h)) = info.get("Size").and_then(|s| s.split_once('x')) {
            if let (Ok(w), Ok(h)) = (w.trim().parse(), h.trim().parse()) {
                (form.width, form.height) = (w, h);
            }
        }
        if let Some(s) = info.get("Sampler") {
            match SamplerName::parse_with_schedule(s) {
                Ok((name, legacy)) => {
                    form.sampler = name.a1111_name().to_string();
                    if let Some(l) = legacy {
                        form.schedule_type = l.a1111_name().to_string();
                    }
                }
                Err(_) => form.sampler = s.to_string(),
            }
        }
        if let Some(s) = info.get("Schedule type") {
            form.schedule_type = s
                .parse::<ScheduleType>()
                .map_or_else(|_| s.to_string(), |t| t.a1111_name().to_string());
        }
        if let Some(m) = info.get("Model") {
            form.model = m.to_string();
        }
        if let Some(r) = info.get("RNG").filter(|r| RNG_SOURCES.contains(r)) {
            form.rng = r.to_string();
        }
        if let (Some(seed), Some(strength)) = (num("Variation seed"), num("Variation seed strength")) {
            (form.subseed, form.subseed_strength) = (seed as i64, strength);
        }
        if let Some(v) = num("Clip skip") {
            form.clip_skip = v as u32;
        }
        if let Some(scale) = num("Hires upscale") {
            form.enable_hr = true;
            form.hr_scale = scale;
            if let Some(u) = info.get("Hires upscaler").filter(|u| HIRES_UPSCALERS.contains(u)) {
                form.hr_upscaler = u.to_string();
            }
            if let Some(s) = num("Denoising strength") {
                form.hr_denoising = s;
            }
        }
        Ok(form)
    }
}

/// Largest input file the launcher sends (the daemon's default body limit is 64 MiB of
/// base64).
const MAX_INPUT_BYTES: u64 = 40 << 20;

fn read_image_base64(path: &Path) -> Result<String, Notice> {
    let unreadable = |detail: &dyn std::fmt::Display| {
        Notice::new("image-unreadable")
            .arg("path", path.display())
            .arg("detail", detail)
    };
    let meta = std::fs::metadata(path).map_err(|e| unreadable(&e))?;
    if meta.len() > MAX_INPUT_BYTES {
        return Err(Notice::new("image-too-big")
            .arg("path", path.display())
            .arg("mib", MAX_INPUT_BYTES >> 20));
    }
    let bytes = std::fs::read(path).map_err(|e| unreadable(&e))?;
    // Only the header is checked here; the daemon decodes and checks the whole image.
    image_kind(&bytes).ok_or_else(|| unreadable(&"not a PNG, JPEG, WebP or BMP image"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn image_kind(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if starts(&[0xff, 0xd8, 0xff]) {
        Some("jpeg")
    } else if starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Some("webp")
    } else if starts(b"BM") {
        Some("bmp")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_form_with_a_prompt_is_a_txt2img_request() {
        let form = GenerateForm {
            prompt: "a lighthouse".into(),
            ..Default::default()
        };
        let r = form.to_request().unwrap();
        assert_eq!(r.prompt, "a lighthouse");
        assert_eq!((r.width, r.height, r.steps, r.count), (512, 512, 20, 1));
        assert_eq!((r.init_image, r.denoising_strength, r.model), (None, None, None));
    }

    #[test]
    fn an_a1111_infotext_brings_its_seed_settings_along() {
        let text = "a fox\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 42, Size: 512x512, \
                    Variation seed: 7, Variation seed strength: 0.25, Denoising strength: 0.55, Clip skip: 2, \
                    RNG: CPU, Hires upscale: 1.5, Hires upscaler: Lanczos";
        let form = GenerateForm::from_infotext(text).unwrap();
        assert_eq!((form.rng.as_str(), form.subseed, form.subseed_strength), ("CPU", 7, 0.25));
        assert_eq!(form.clip_skip, 2);
        assert!(form.enable_hr);
        assert_eq!((form.hr_scale, form.hr_upscaler.as_str(), form.hr_denoising), (1.5, "Lanczos", 0.55));
        let r = form.to_request().unwrap();
        assert_eq!((r.rng.as_str(), r.subseed, r.clip_skip), ("CPU", 7, 2));
        assert!(r.enable_hr);
        assert_eq!(r.denoising_strength, Some(0.55));
    }

    #[test]
    fn bad_fields_name_themselves() {
        let ok = GenerateForm {
            prompt: "x".into(),
            ..Default::default()
        };
        let cases = [
            (GenerateForm { prompt: " ".into(), ..ok.clone() }, "form-prompt-empty", None),
            (GenerateForm { steps: 0, ..ok.clone() }, "form-invalid", Some("steps")),
            (GenerateForm { width: 500, ..ok.clone() }, "form-size-invalid", Some("width")),
            (GenerateForm { height: 4096, ..ok.clone() }, "form-size-invalid", Some("height")),
            (GenerateForm { count: 0, ..ok.clone() }, "form-invalid", Some("count")),
            (GenerateForm { seed: -2, ..ok.clone() }, "form-invalid", Some("seed")),
            (GenerateForm { cfg_scale: 0.0, ..ok.clone() }, "form-invalid", Some("cfg_scale")),
            (
                GenerateForm { mask: "data:image/png;base64,AA==".into(), ..ok.clone() },
                "form-mask-without-image",
                None,
            ),
            (
                GenerateForm { init_image: "/no/such/file.png".into(), ..ok.clone() },
                "image-unreadable",
                None,
            ),
        ];
        for (form, id, name) in cases {
            let n = form.to_request().unwrap_err();
            assert_eq!(n.id, id, "{form:?}");
            if let Some(name) = name {
                assert!(n.args.contains(&("field".into(), name.into())), "{n:?}");
            }
        }
    }

    #[test]
    fn an_input_image_is_sent_inline_and_a_non_image_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let png = ra_wire::png_text::PngImage::new(8, 8, vec![9; 192])
            .unwrap()
            .encode(None)
            .unwrap();
        let path = dir.path().join("in put.png");
        std::fs::write(&path, &png).unwrap();
        let form = GenerateForm {
            init_image: format!("file://{}", path.display()).replace(' ', "%20"),
            denoising_strength: 0.4,
            ..Default::default()
        };
        let r = form.to_request().unwrap();
        let sent = base64::engine::general_purpose::STANDARD
            .decode(r.init_image.unwrap())
            .unwrap();
        assert_eq!(sent, png);
        assert_eq!(r.denoising_strength, Some(0.4));

        std::fs::write(&path, b"just text").unwrap();
        assert_eq!(form.to_request().unwrap_err().id, "image-unreadable");
    }

    #[test]
    fn an_a1111_infotext_fills_the_form() {
        let text = "masterpiece, (cat:1.2)\nNegative prompt: blurry\nSteps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 1234567890, Size: 512x768, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.55, Version: v1.10.1";
        let f = GenerateForm::from_infotext(text).unwrap();
        assert_eq!(f.prompt, "masterpiece, (cat:1.2)");
        assert_eq!(f.negative_prompt, "blurry");
        assert_eq!((f.steps, f.cfg_scale, f.seed), (28, 6.5, 1234567890));
        assert_eq!((f.width, f.height), (512, 768));
        assert_eq!((f.sampler.as_str(), f.schedule_type.as_str()), ("DPM++ 2M", "Karras"));
        assert_eq!(f.model, "v1-5-pruned-emaonly");
        assert_eq!(f.denoising_strength, 0.55);
        // A sampler RA does not have yet is kept by name.
        let f = GenerateForm::from_infotext("x\nSteps: 20, Sampler: UniPC, Seed: 1, Size: 512x512").unwrap();
        assert_eq!(f.sampler, "UniPC");
        assert_eq!(
            GenerateForm::from_infotext("").unwrap_err().id,
            "pnginfo-unreadable"
        );
    }
}
