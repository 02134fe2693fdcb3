//! Live previews: a cheap latent → RGB projection, as A1111's "Approx cheap" preview.
//! It skips the VAE entirely (a fixed 4×3 linear map per latent pixel), so a preview
//! costs microseconds and can go out on every step. The result has the latent's size —
//! one pixel per 8×8 block of the final image — which is what a progress thumbnail needs.

use candle_core::{DType, Tensor};
use ra_wire::PngImage;

use crate::error::{EngineError, Result};

/// How much each of the four SD 1.x/2.x latent channels adds to R, G and B. These are
/// the published least-squares fit of the SD VAE's decoder (the same latent space
/// serves both families).
const LATENT_RGB: [[f32; 3]; 4] = [
    [0.298, 0.207, 0.208],
    [0.187, 0.286, 0.173],
    [-0.158, 0.189, 0.264],
    [-0.184, -0.271, -0.473],
];

/// Projects a `[1, 4, h, w]` (or `[4, h, w]`) latent to an RGB image of `w`×`h`.
pub fn latent_to_rgb(latent: &Tensor) -> Result<PngImage> {
    let latent = match latent.rank() {
        4 => latent.get(0)?,
        _ => latent.clone(),
    };
    let (c, h, w) = latent.dims3()?;
    if c != LATENT_RGB.len() {
        return Err(EngineError::Image(format!(
            "a preview needs a 4-channel latent, got {c} channels"
        )));
    }
    let values = latent
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let plane = h * w;
    let mut rgb = Vec::with_capacity(plane * 3);
    for p in 0..plane {
        for ch in 0..3 {
            let v: f32 = (0..c)
                .map(|k| values[k * plane + p] * LATENT_RGB[k][ch])
                .sum();
            rgb.push(((v + 1.0) * 127.5).clamp(0.0, 255.0).round() as u8);
        }
    }
    Ok(PngImage::new(w as u32, h as u32, rgb)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn zero_latent_is_mid_grey_and_channels_steer_colour() {
        let zero = Tensor::zeros((1, 4, 2, 3), DType::F32, &Device::Cpu).unwrap();
        let img = latent_to_rgb(&zero).unwrap();
        assert_eq!((img.width, img.height), (3, 2));
        assert!(img.rgb.iter().all(|&v| v == 128));

        // Channel 3 strongly negative in blue: a positive value there darkens blue most.
        let mut v = vec![0f32; 4];
        v[3] = 1.0;
        let t = Tensor::from_vec(v, (4, 1, 1), &Device::Cpu).unwrap();
        let px = latent_to_rgb(&t).unwrap().rgb;
        assert!(px[2] < px[1] && px[1] < px[0] && px[0] < 128, "{px:?}");
    }

    #[test]
    fn refuses_other_channel_counts() {
        let t = Tensor::zeros((1, 3, 2, 2), DType::F32, &Device::Cpu).unwrap();
        assert!(latent_to_rgb(&t)
            .unwrap_err()
            .to_string()
            .contains("4-channel"));
    }
}
