//! Lanczos upscalers: the resampling A1111's "Lanczos" upscaler does through PIL
//! (a = 3, window centred on each output pixel's centre, weights normalised per pixel,
//! taps outside the image dropped rather than mirrored).

mod lanczos;

use ra_plugin_sdk::{Image, Plugin, Upscaler};

#[derive(Default)]
struct Upscale;

const UPSCALERS: [(&str, f32); 2] = [("Lanczos 2x", 2.0), ("Lanczos 4x", 4.0)];

impl Plugin for Upscale {
    fn upscalers(&self) -> Vec<Upscaler> {
        UPSCALERS.iter().map(|&(name, scale)| Upscaler { name: name.to_string(), scale }).collect()
    }

    fn upscale(&self, name: &str, image: Image, scale: f32) -> Result<Image, String> {
        if !UPSCALERS.iter().any(|(n, _)| *n == name) {
            return Err(format!("no upscaler named {name:?}; this plugin has Lanczos 2x and Lanczos 4x"));
        }
        image.validate()?;
        // Any factor works with Lanczos; the name only says the one it is listed at.
        let width = (image.width as f32 * scale).round() as u32;
        let height = (image.height as f32 * scale).round() as u32;
        if width == 0 || height == 0 || !scale.is_finite() || scale <= 0.0 {
            return Err(format!("cannot scale a {}x{} image by {scale}", image.width, image.height));
        }
        Ok(lanczos::resize(&image, width, height))
    }
}

ra_plugin_sdk::register!(Upscale);
