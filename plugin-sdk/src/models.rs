//! Neural networks the host runs for the plugin: models of the kinds the manifest lists
//! under `permissions.models` that the user has installed. The plugin prepares the
//! input tensors and reads the outputs; the host owns the weights and the backend.

use crate::bindings::ra::plugin::host;
use crate::{Image, Tensor};

/// An installed model this plugin may run.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// What [`run`] takes: `kind/name`.
    pub id: String,
    /// `upscaler` or `depth`.
    pub kind: String,
    /// What the host read from the weights, e.g. `{"scale": 4}` for an upscaler.
    pub details: serde_json::Value,
}

impl Model {
    /// The name after `kind/`.
    pub fn name(&self) -> &str {
        self.id.split_once('/').map(|(_, name)| name).unwrap_or(&self.id)
    }
}

/// The installed models this plugin may run, in the host's order.
pub fn list() -> Vec<Model> {
    host::models()
        .into_iter()
        .map(|m| Model {
            id: m.id,
            kind: m.kind,
            details: serde_json::from_str(&m.details).unwrap_or(serde_json::Value::Null),
        })
        .collect()
}

/// Runs the model `id` on the host's backend.
pub fn run(id: &str, inputs: &[Tensor]) -> Result<Vec<Tensor>, String> {
    host::run_model(id, inputs)
}

impl Tensor {
    /// The image's RGB as `[1, 3, height, width]` in 0..1 (alpha dropped), the layout
    /// upscalers take.
    pub fn from_rgb(image: &Image) -> Tensor {
        let plane = image.width as usize * image.height as usize;
        let mut data = vec![0.0; plane * 3];
        for (i, px) in image.rgba.chunks_exact(4).enumerate() {
            for c in 0..3 {
                data[c * plane + i] = f32::from(px[c]) / 255.0;
            }
        }
        Tensor { shape: vec![1, 3, image.height, image.width], data }
    }

    /// A `[1, 3, h, w]` tensor in 0..1 as an opaque image (values clamped).
    pub fn to_rgb(&self) -> Result<Image, String> {
        let [1, 3, h, w] = self.shape[..] else {
            return Err(format!("expected a [1, 3, h, w] tensor, got shape {:?}", self.shape));
        };
        let plane = w as usize * h as usize;
        if self.data.len() != plane * 3 {
            return Err(format!("a tensor of shape {:?} needs {} values, got {}", self.shape, plane * 3, self.data.len()));
        }
        let mut image = Image::new(w, h);
        for (i, px) in image.rgba.chunks_exact_mut(4).enumerate() {
            for c in 0..3 {
                px[c] = (self.data[c * plane + i].clamp(0.0, 1.0) * 255.0).round() as u8;
            }
            px[3] = 255;
        }
        Ok(image)
    }
}
