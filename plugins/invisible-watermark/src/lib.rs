//! RA's first-party invisible-watermark plugin: marks finished images as the original
//! Stable Diffusion release scripts did, and reads marks back.
//!
//! [`dwtdct`] is the watermark itself (pure Rust, no dependencies); below is the glue
//! over `ra-plugin-sdk`. Images smaller than the mark needs (256×256 pixels) are left
//! unmarked, with a log line, rather than failing the job.

pub mod dwtdct;

use ra_plugin_sdk::{settings, ActionOutput, Image, Params, Plugin, Postprocessed};

#[derive(Default)]
struct Watermark;

fn text() -> String {
    settings::string("text").unwrap_or_else(|| "StableDiffusionV1".to_string())
}

impl Plugin for Watermark {
    fn postprocess_image(&self, mut image: Image, params: &Params, _infotext: &str) -> Result<Postprocessed, String> {
        let wanted = match params.mode.as_str() {
            "img2img" => settings::bool("img2img").unwrap_or(false),
            _ => settings::bool("txt2img").unwrap_or(true),
        };
        let payload = text();
        if !wanted || payload.is_empty() {
            return Ok(Postprocessed { image: None, extra: Vec::new() });
        }
        match dwtdct::embed(&mut image.rgba, image.width, image.height, payload.as_bytes()) {
            Ok(()) => Ok(Postprocessed { image: Some(image), extra: Vec::new() }),
            Err(dwtdct::WatermarkError::TooSmall { .. }) => {
                ra_plugin_sdk::log::info(&format!(
                    "{}x{} is too small to carry a watermark; left unmarked",
                    image.width, image.height
                ));
                Ok(Postprocessed { image: None, extra: Vec::new() })
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// `read`: input `{"length": N}` (bytes to read; default the length of the
    /// configured text) and one image; answers `{"text": …, "hex": …}`.
    fn action(&self, name: &str, input: &str, images: Vec<Image>) -> Result<ActionOutput, String> {
        if name != "read" {
            return Err(format!("no action named {name:?}; this plugin has \"read\""));
        }
        let input: serde_json::Value =
            serde_json::from_str(input).map_err(|e| format!("the input is not JSON: {e}"))?;
        let length = match input.get("length") {
            None => text().len(),
            Some(v) => v.as_u64().filter(|&n| n > 0).ok_or("length must be a positive whole number of bytes")? as usize,
        };
        let [image] = images.as_slice() else {
            return Err(format!("read takes exactly one image, got {}", images.len()));
        };
        let bytes = dwtdct::read(&image.rgba, image.width, image.height, length).map_err(|e| e.to_string())?;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let json = serde_json::json!({ "text": String::from_utf8_lossy(&bytes), "hex": hex });
        Ok(ActionOutput { json: json.to_string(), images: Vec::new() })
    }
}

ra_plugin_sdk::register!(Watermark);
