//! Live previews of a run's progress, as A1111's live-preview settings make them.
//!
//! - [`latent_to_rgb`], A1111's "Approx cheap": skips the VAE entirely (a fixed 4×3
//!   linear map per latent pixel), so a preview costs microseconds and can go out on
//!   every step. The result has the latent's size — one pixel per 8×8 block of the final
//!   image.
//! - [`Previewer`] uses TAESD ([`crate::taesd`]) when its decoder file is present, for a
//!   full-size preview that looks like the final image, and the cheap projection
//!   otherwise. It loads the decoder lazily, once, on the first preview, and says once
//!   which preview it makes and why, so that a missing or broken file is visible
//!   without failing any run.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use candle_core::{DType, Tensor};
use ra_wire::PngImage;

use crate::error::{EngineError, Result};
use crate::taesd::TaesdDecoder;

/// The SD 1.x/2.x decoder's file name, as madebyollin publishes it and A1111 looks for
/// it (in `models/VAE-taesd`; ComfyUI's `models/vae_approx` holds the same file).
pub const TAESD_DECODER_FILE: &str = "taesd_decoder.safetensors";

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

/// Which preview a [`Previewer`] made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviewKind {
    /// TAESD: the image's full size.
    Taesd,
    /// The cheap projection: the latent's size.
    Cheap,
}

/// A step's preview, and the note to show (once per [`Previewer`]) about which kind
/// previews are and why.
#[derive(Debug, Clone)]
pub struct Preview {
    pub image: PngImage,
    pub kind: PreviewKind,
    pub note: Option<String>,
}

/// Makes previews with TAESD when a decoder file is found, else the cheap projection.
///
/// `places` are searched in order: a file is taken as the decoder itself, a folder for
/// [`TAESD_DECODER_FILE`] in it. Nothing is read until the first preview; a file that
/// fails to load is not retried (fix it and restart), and previews fall back to the cheap
/// projection, with the reason in that first preview's note. TAESD is used only as often
/// as it stays within a tenth of the time (see [`TAESD_SHARE`]).
#[derive(Debug)]
pub struct Previewer {
    places: Vec<PathBuf>,
    /// The loaded decoder, or why there is none.
    taesd: OnceLock<std::result::Result<TaesdDecoder, String>>,
    /// Whether a TAESD decode failure has been reported (it falls back, noted once).
    decode_failure_noted: AtomicBool,
    /// When the last TAESD preview ended and what it cost.
    last_taesd: std::sync::Mutex<Option<(std::time::Instant, std::time::Duration)>>,
    taesd_share: u32,
}

/// TAESD may take at most 1/`TAESD_SHARE` of the time between previews. On a GPU every
/// preview is then TAESD; on a 2-core CPU, where one costs about a sampling step, most
/// are the cheap projection instead of doubling the generation time.
const TAESD_SHARE: u32 = 10;

impl Previewer {
    pub fn new(places: Vec<PathBuf>) -> Self {
        Self {
            places,
            taesd: OnceLock::new(),
            decode_failure_noted: AtomicBool::new(false),
            last_taesd: std::sync::Mutex::new(None),
            taesd_share: TAESD_SHARE,
        }
    }

    /// Lets TAESD take up to 1/`share` of the time between previews (1: every preview).
    pub fn with_taesd_share(mut self, share: u32) -> Self {
        self.taesd_share = share.max(1);
        self
    }

    /// The decoder file the places point at, if any exists.
    pub fn find_decoder(&self) -> Option<PathBuf> {
        self.places.iter().find_map(|p| {
            let file = if p.is_dir() {
                p.join(TAESD_DECODER_FILE)
            } else {
                p.clone()
            };
            file.is_file().then_some(file)
        })
    }

    fn load(&self, device: &candle_core::Device) -> std::result::Result<TaesdDecoder, String> {
        let Some(path) = self.find_decoder() else {
            return Err(if self.places.is_empty() {
                format!("no TAESD folder was found (put {TAESD_DECODER_FILE} in models/VAE-taesd)")
            } else {
                format!(
                    "no {TAESD_DECODER_FILE} in {}",
                    self.places
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            });
        };
        TaesdDecoder::load(&path, device).map_err(|e| e.to_string())
    }

    /// The preview of a `[1, 4, h, w]` (or `[4, h, w]`) latent as the UNet sees it.
    pub fn preview(&self, latent: &Tensor) -> Result<Preview> {
        let mut note = None;
        let taesd = self.taesd.get_or_init(|| {
            let loaded = self.load(latent.device());
            note = Some(match &loaded {
                Ok(d) => format!("live previews use TAESD from {}", d.path().display()),
                Err(why) => format!("live previews use the cheap projection: {why}"),
            });
            loaded
        });
        let mut last = self.last_taesd.lock().unwrap_or_else(|p| p.into_inner());
        let due = last.is_none_or(|(ended, cost)| ended.elapsed() >= cost * (self.taesd_share - 1));
        if let (Ok(decoder), true) = (taesd, due) {
            let started = std::time::Instant::now();
            let decoded = taesd_to_rgb(decoder, latent);
            *last = Some((std::time::Instant::now(), started.elapsed()));
            match decoded {
                Ok(image) => {
                    return Ok(Preview {
                        image,
                        kind: PreviewKind::Taesd,
                        note,
                    })
                }
                Err(e) => {
                    if !self.decode_failure_noted.swap(true, Ordering::Relaxed) {
                        note = Some(format!(
                            "TAESD could not decode a preview ({e}); previews fall back to the cheap projection while it fails"
                        ));
                    }
                }
            }
        }
        Ok(Preview {
            image: latent_to_rgb(latent)?,
            kind: PreviewKind::Cheap,
            note,
        })
    }
}

/// Decodes the first image of `latent` with TAESD into 8-bit RGB.
pub fn taesd_to_rgb(decoder: &TaesdDecoder, latent: &Tensor) -> Result<PngImage> {
    let image = decoder.decode(latent)?.get(0)?;
    let (_, h, w) = image.dims3()?;
    // [3, h, w] in [0, 1] → interleaved RGB bytes.
    let bytes = (image.permute((1, 2, 0))? * 255.0)?
        .round()?
        .to_dtype(DType::U8)?
        .flatten_all()?
        .to_vec1::<u8>()?;
    Ok(PngImage::new(w as u32, h as u32, bytes)?)
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
