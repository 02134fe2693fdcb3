//! Upscalers: Lanczos 2x and 4x in pure WebAssembly (A1111's "Lanczos", through the
//! SDK's `Image::resize`), and one upscaler per ESRGAN-family model the user has
//! installed, run by the host tile by tile (see `tiles`).

mod tiles;

use ra_plugin_sdk::models::{self, Model};
use ra_plugin_sdk::{Image, Plugin, Tensor, Upscaler};

#[derive(Default)]
struct Upscale;

const LANCZOS: [(&str, f32); 2] = [("Lanczos 2x", 2.0), ("Lanczos 4x", 4.0)];

/// A model's factor as the host read it from the weights.
fn model_scale(model: &Model) -> u32 {
    model.details.get("scale").and_then(|s| s.as_u64()).map(|s| s as u32).unwrap_or(4)
}

fn upscaler_models() -> Vec<Model> {
    models::list().into_iter().filter(|m| m.kind == "upscaler").collect()
}

/// The image at exactly `scale` times its size, as A1111 does it: the model's own
/// factor applied until the image is at least that large (at most three times), then
/// Lanczos to the exact size.
fn with_model(model: &Model, image: Image, scale: f32) -> Result<Image, String> {
    let factor = model_scale(model);
    let (width, height) = target(&image, scale)?;
    let mut current = image;
    for _ in 0..3 {
        if current.width >= width && current.height >= height {
            break;
        }
        current = tiles::upscale(&current, factor, tiles::TILE, tiles::OVERLAP, |tile| {
            let out = models::run(&model.id, &[Tensor::from_rgb(tile)])?;
            out.first().ok_or_else(|| format!("{} returned no tensor", model.id))?.to_rgb()
        })?;
    }
    Ok(if (current.width, current.height) == (width, height) { current } else { current.resize(width, height) })
}

fn target(image: &Image, scale: f32) -> Result<(u32, u32), String> {
    let width = (image.width as f32 * scale).round() as u32;
    let height = (image.height as f32 * scale).round() as u32;
    if width == 0 || height == 0 || !scale.is_finite() || scale <= 0.0 {
        return Err(format!("cannot scale a {}x{} image by {scale}", image.width, image.height));
    }
    Ok((width, height))
}

impl Plugin for Upscale {
    fn upscalers(&self) -> Vec<Upscaler> {
        let lanczos = LANCZOS.iter().map(|&(name, scale)| Upscaler { name: name.to_string(), scale });
        // A1111 lists an ESRGAN model under its file name.
        let nets = upscaler_models()
            .into_iter()
            .map(|m| Upscaler { name: m.name().to_string(), scale: model_scale(&m) as f32 });
        lanczos.chain(nets).collect()
    }

    fn upscale(&self, name: &str, image: Image, scale: f32) -> Result<Image, String> {
        image.validate()?;
        if LANCZOS.iter().any(|(n, _)| *n == name) {
            // Any factor works with Lanczos; the name only says the one it is listed at.
            let (width, height) = target(&image, scale)?;
            return Ok(image.resize(width, height));
        }
        match upscaler_models().into_iter().find(|m| m.name() == name) {
            Some(model) => with_model(&model, image, scale),
            None => Err(format!(
                "no upscaler named {name:?}; this plugin has Lanczos 2x, Lanczos 4x and one per model in models/ESRGAN"
            )),
        }
    }
}

ra_plugin_sdk::register!(Upscale);
