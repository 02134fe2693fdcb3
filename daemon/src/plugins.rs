//! The daemon's side of plugins: where they are found, and the conversions between
//! jobs and images as the daemon holds them and as the plugin contract passes them.
//! The sandbox and the hook calls themselves are `ra_plugins`.

use std::path::PathBuf;
use std::sync::Arc;

use ra_plugins::{Field, Image, Limits, Params, Plugins, PluginsConfig};
use ra_engine::pipeline::{HiresUpscaler, ImageUpscaler};
use ra_engine::DepthMap;
use ra_wire::{JobRequest, PngImage};

use crate::config::Config;

/// The bundled plugins folder: configured, else `plugins` beside the binary, else one
/// folder up (a build's `target/<profile>/ra-daemon` finds `target/plugins`).
pub fn bundled_dir(config: &Config) -> Option<PathBuf> {
    if let Some(dir) = &config.bundled_plugins_dir {
        return Some(dir.clone());
    }
    let exe = std::env::current_exe().ok()?;
    let beside = exe.parent()?.join("plugins");
    let above = exe.parent()?.parent()?.join("plugins");
    [beside, above].into_iter().find(|d| d.is_dir())
}

/// Opens the plugin host for the daemon's data folder. Plugins that fail to load are
/// listed as broken; only an unusable plugins folder is an error.
pub fn open(config: &Config) -> Result<Arc<Plugins>, ra_plugins::PluginError> {
    let mut settings = PluginsConfig::under(&config.data_dir, bundled_dir(config));
    settings.limits = Limits { memory_mib: config.plugin_memory_mib, call_seconds: config.plugin_call_seconds };
    let models = crate::model_runner::LocalModels::new(config.models_dirs.clone())
        // A bad ONNX setting is reported when the worker starts; plugins need not fail on it.
        .with_onnx(config.backends().map(|b| b.onnx).unwrap_or_default());
    Ok(Arc::new(Plugins::open(settings, Arc::new(models))?))
}

/// Hires fix's upscaler by name: the engine's (Latent, Lanczos), else one an enabled
/// plugin offers (Lanczos 2x, an ESRGAN model, …), called with the decoded first pass.
pub fn hires_upscaler(name: &str, plugins: Option<&Arc<Plugins>>) -> Result<HiresUpscaler, String> {
    let name = name.trim();
    if let Ok(builtin) = HiresUpscaler::parse(name) {
        return Ok(builtin);
    }
    let offered: Vec<String> = plugins.map(|p| p.upscalers().into_iter().map(|(_, u)| u.name).collect()).unwrap_or_default();
    let plugins = match plugins {
        Some(p) if offered.iter().any(|n| n == name) => p.clone(),
        _ => {
            return Err(format!(
                "no hires upscaler named '{name}'; available: Latent, Lanczos{}",
                offered.iter().map(|n| format!(", {n}")).collect::<String>()
            ))
        }
    };
    let owned = name.to_string();
    Ok(HiresUpscaler::Image(ImageUpscaler {
        name: owned.clone(),
        run: Arc::new(move |image, width, _height| {
            let scale = width as f32 / image.width as f32;
            let out = plugins.upscale(&owned, to_image(image), scale).map_err(|e| e.to_string())?;
            from_image(&out)
        }),
    }))
}

/// Says on stderr which plugins `serve` runs with.
pub fn log_list(plugins: &Plugins) {
    for info in plugins.list() {
        match &info.error {
            None => eprintln!("ra-daemon: plugin {} {} ({:?}{})", info.id, info.version, info.source,
                if info.enabled { "" } else { ", disabled" }),
            Some(e) => eprintln!("ra-daemon: plugin {} is broken: {e}", info.id),
        }
    }
}

/// The depth map a depth model's job reads: the `depth` preprocessor (the `depth`
/// plugin with a Depth Anything model in `models/depth`) run on the init image.
pub fn depth_map(plugins: Option<&Plugins>, image: &PngImage) -> Result<DepthMap, String> {
    let offered = plugins.is_some_and(|p| p.preprocessors().iter().any(|(_, name)| name == "depth"));
    let plugins = plugins.filter(|_| offered).ok_or(
        "this is a depth model (SD 2 depth): it needs the `depth` plugin enabled to make a depth map \
         from the init image (see /ra/v1/plugins)",
    )?;
    let grey = plugins.preprocess("depth", to_image(image)).map_err(|e| e.to_string())?;
    Ok(depth_from_grey(&grey))
}

/// A grey depth image (nearer brighter) as the engine's depth map.
pub fn depth_from_grey(image: &Image) -> DepthMap {
    DepthMap {
        width: image.width,
        height: image.height,
        values: image.rgba.chunks_exact(4).map(|p| f32::from(p[0])).collect(),
    }
}

/// The parameters `process` sees for a job whose first image uses `seed`.
pub fn params(req: &JobRequest, seed: u64) -> Params {
    Params {
        prompt: req.prompt.clone(),
        negative_prompt: req.negative_prompt.clone(),
        steps: req.steps,
        sampler: req.sampler.clone(),
        scheduler: req.schedule_type.clone(),
        cfg_scale: req.cfg_scale as f32,
        seed,
        width: req.width,
        height: req.height,
        mode: if req.init_image.is_some() { "img2img" } else { "txt2img" }.into(),
        styles: req.styles.clone(),
        extra: Vec::new(),
    }
}

/// Runs the `process` hooks on a job: returns the job as the plugins left it (checked
/// like a client's request) and the infotext fields they added.
pub fn process(plugins: &Plugins, req: &JobRequest, seed: u64) -> Result<(JobRequest, Params), String> {
    let out = plugins.process(params(req, seed)).map_err(|e| e.to_string())?;
    let mut job = req.clone();
    job.prompt = out.prompt.clone();
    job.negative_prompt = out.negative_prompt.clone();
    job.steps = out.steps;
    job.sampler = out.sampler.clone();
    job.schedule_type = out.scheduler.clone();
    job.cfg_scale = f64::from(out.cfg_scale);
    job.seed = i64::try_from(out.seed).map_err(|_| format!("a plugin set the seed to {}, past the largest seed", out.seed))?;
    job.width = out.width;
    job.height = out.height;
    crate::service::validate(&job).map_err(|e| format!("a plugin's process hook made the job invalid: {e}"))?;
    Ok((job, out))
}

pub fn fields(extra: Vec<Field>) -> impl Iterator<Item = (String, String)> {
    extra.into_iter().map(|f| (f.key, f.value))
}

pub fn to_image(image: &PngImage) -> Image {
    let mut rgba = Vec::with_capacity(image.rgb.len() / 3 * 4);
    for px in image.rgb.chunks_exact(3) {
        rgba.extend_from_slice(&[px[0], px[1], px[2], 255]);
    }
    Image { width: image.width, height: image.height, rgba }
}

/// Drops alpha: the daemon's outputs are RGB, as A1111's are.
pub fn from_image(image: &Image) -> Result<PngImage, String> {
    let rgb: Vec<u8> = image.rgba.chunks_exact(4).flat_map(|px| [px[0], px[1], px[2]]).collect();
    PngImage::new(image.width, image.height, rgb).map_err(|e| e.to_string())
}
