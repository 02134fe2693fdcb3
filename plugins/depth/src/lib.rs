//! The `depth` preprocessor: an image in, its depth map out (grey, nearer brighter, the
//! convention of ControlNet's depth maps and SD 2's depth2img), estimated by a Depth
//! Anything model the host runs.

use ra_plugin_sdk::models::{self, Model};
use ra_plugin_sdk::{settings, Image, Plugin, Tensor};

#[derive(Default)]
struct Depth;

/// ImageNet's statistics, which Depth Anything's backbone (DINOv2) was trained with.
const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The square input the network takes, normalised as it expects.
pub fn network_input(image: &Image, size: u32) -> Tensor {
    let mut t = Tensor::from_rgb(&image.resize(size, size));
    let plane = (size * size) as usize;
    for (i, v) in t.data.iter_mut().enumerate() {
        let c = i / plane;
        *v = (*v - MEAN[c]) / STD[c];
    }
    t
}

/// The network's relative depth as a grey image of `width` × `height`: stretched to the
/// full 0..255 range (a flat map is mid-grey), then resized.
pub fn depth_image(output: &Tensor, width: u32, height: u32) -> Result<Image, String> {
    let [1, 1, h, w] = output.shape[..] else {
        return Err(format!("the depth model returned shape {:?}, not [1, 1, h, w]", output.shape));
    };
    if output.data.len() != (w * h) as usize || output.data.iter().any(|v| !v.is_finite()) {
        return Err("the depth model returned a broken tensor (wrong length or not finite)".into());
    }
    let (lo, hi) = output.data.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let mut grey = Image::new(w, h);
    for (px, &v) in grey.rgba.chunks_exact_mut(4).zip(&output.data) {
        let g = if hi > lo { ((v - lo) / (hi - lo) * 255.0).round() as u8 } else { 128 };
        px.copy_from_slice(&[g, g, g, 255]);
    }
    Ok(if (w, h) == (width, height) { grey } else { grey.resize(width, height) })
}

fn pick_model() -> Result<Model, String> {
    let wanted = settings::string("model").unwrap_or_default();
    let installed: Vec<Model> = models::list().into_iter().filter(|m| m.kind == "depth").collect();
    let found = if wanted.is_empty() {
        installed.first().cloned()
    } else {
        installed.iter().find(|m| m.name() == wanted || m.id == wanted).cloned()
    };
    found.ok_or_else(|| match wanted.as_str() {
        "" => "no depth model is installed: put a Depth Anything V2 .safetensors \
               (such as depth_anything_v2_vits.safetensors) in models/depth"
            .to_string(),
        name => format!(
            "the depth model {name:?} chosen in this plugin's settings is not installed; installed: {:?}",
            installed.iter().map(|m| m.name()).collect::<Vec<_>>()
        ),
    })
}

impl Plugin for Depth {
    fn preprocess(&self, name: &str, image: Image) -> Result<Image, String> {
        if name != "depth" {
            return Err(format!("no preprocessor named {name:?}; this plugin has \"depth\""));
        }
        image.validate()?;
        let model = pick_model()?;
        let size = model.details.get("input_size").and_then(|s| s.as_u64()).unwrap_or(518) as u32;
        let out = models::run(&model.id, &[network_input(&image, size)])?;
        let depth = out.first().ok_or_else(|| format!("{} returned no tensor", model.id))?;
        depth_image(depth, image.width, image.height)
    }
}

ra_plugin_sdk::register!(Depth);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_normalised_per_channel() {
        let mut img = Image::new(4, 4);
        img.rgba.chunks_exact_mut(4).for_each(|p| p.copy_from_slice(&[255, 0, 124, 255]));
        let t = network_input(&img, 14);
        assert_eq!(t.shape, vec![1, 3, 14, 14]);
        let plane = 14 * 14;
        assert!((t.data[0] - (1.0 - MEAN[0]) / STD[0]).abs() < 1e-5);
        assert!((t.data[plane] - (0.0 - MEAN[1]) / STD[1]).abs() < 1e-5);
        assert!((t.data[2 * plane] - (124.0 / 255.0 - MEAN[2]) / STD[2]).abs() < 1e-5);
    }

    #[test]
    fn depth_is_stretched_to_grey_with_nearer_brighter() {
        let out = Tensor { shape: vec![1, 1, 2, 2], data: vec![1.0, 2.0, 3.0, 5.0] };
        let img = depth_image(&out, 2, 2).unwrap();
        let greys: Vec<u8> = img.rgba.chunks_exact(4).map(|p| p[0]).collect();
        assert_eq!(greys, vec![0, 64, 128, 255]);
        let flat = Tensor { shape: vec![1, 1, 1, 1], data: vec![7.0] };
        assert_eq!(depth_image(&flat, 3, 2).unwrap().pixel(2, 1), [128, 128, 128, 255]);
    }

    #[test]
    fn broken_outputs_are_refused() {
        let nan = Tensor { shape: vec![1, 1, 1, 2], data: vec![1.0, f32::NAN] };
        assert!(depth_image(&nan, 2, 1).unwrap_err().contains("broken"));
        let shape = Tensor { shape: vec![1, 3, 1, 1], data: vec![0.0; 3] };
        assert!(depth_image(&shape, 1, 1).unwrap_err().contains("[1, 1, h, w]"));
    }
}
