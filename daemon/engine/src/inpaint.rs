//! Inpainting's pixel work, as A1111 does it: the mask is read (white = repaint),
//! inverted if asked, blurred; with "only masked" the padded box around the mask is cut
//! out and generated at full resolution; the masked area starts from one of four fills;
//! and at the end the original is laid back over everything the mask keeps, so that
//! unmasked pixels come out exactly as they went in.
//!
//! The latent side (which latent cells are repainted, the 9-channel models' extra
//! input) lives in [`crate::pipeline`]; this module only sees images.

use image::imageops::FilterType;
use image::{GrayImage, RgbImage};
use ra_wire::PngImage;

use crate::error::{EngineError, Result};

/// How the masked area starts (A1111's `inpainting_fill`, 0–3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InpaintFill {
    /// Colours spread in from around the mask.
    Fill,
    /// The image as it is.
    #[default]
    Original,
    /// Fresh noise in the latent.
    LatentNoise,
    /// An empty latent.
    LatentNothing,
}

impl InpaintFill {
    pub const ALL: [Self; 4] = [
        Self::Fill,
        Self::Original,
        Self::LatentNoise,
        Self::LatentNothing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fill => "fill",
            Self::Original => "original",
            Self::LatentNoise => "latent noise",
            Self::LatentNothing => "latent nothing",
        }
    }

    /// A1111's labels, their snake_case forms, or its API's numbers 0–3.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase().replace('_', " ");
        if let Ok(n) = s.parse::<usize>() {
            if let Some(f) = Self::ALL.get(n) {
                return Ok(*f);
            }
        }
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                EngineError::InvalidRequest(format!(
                    "inpainting fill must be one of fill, original, latent noise, latent nothing (or 0–3), not '{s}'"
                ))
            })
    }
}

/// A mask and how to use it.
#[derive(Debug, Clone)]
pub struct Mask {
    /// Luminance times alpha, at any size (it is scaled to the image): white repaints.
    pub image: GrayImage,
    /// Gaussian blur of the mask's edge, in pixels.
    pub blur: u32,
    pub invert: bool,
    pub fill: InpaintFill,
    /// "Only masked": generate the padded box around the mask at full resolution.
    pub only_masked: bool,
    pub padding: u32,
}

impl Mask {
    /// A mask from an image file; transparent pixels count as black (kept), so a
    /// painted layer with transparency works as well as a black-and-white image.
    pub fn decode(bytes: &[u8]) -> Result<GrayImage> {
        let img = image::load_from_memory(bytes)
            .map_err(|e| {
                EngineError::Image(format!(
                    "the mask is not an image RA can read (PNG, JPEG, WebP or BMP): {e}"
                ))
            })?
            .to_luma_alpha8();
        let (w, h) = img.dimensions();
        let data = img
            .pixels()
            .map(|p| ((u16::from(p.0[0]) * u16::from(p.0[1]) + 127) / 255) as u8)
            .collect();
        GrayImage::from_raw(w, h, data)
            .ok_or_else(|| EngineError::Image("mask buffer has the wrong size".into()))
    }
}

/// What generation works on, and how to put its result back.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The image to encode, at the generation size, with the fill applied.
    pub image: PngImage,
    /// The mask at the generation size (255 = repaint).
    pub mask: GrayImage,
    /// The original at its own size and the mask that lays it back over the result.
    original: RgbImage,
    overlay: GrayImage,
    /// With "only masked": where the generated box goes in the original.
    paste: Option<Rect>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rect {
    x1: u32,
    y1: u32,
    x2: u32,
    y2: u32,
}

fn rgb(img: &PngImage) -> Result<RgbImage> {
    RgbImage::from_raw(img.width, img.height, img.rgb.clone())
        .ok_or_else(|| EngineError::Image("image buffer has the wrong size".into()))
}

fn png(img: RgbImage) -> Result<PngImage> {
    let (w, h) = img.dimensions();
    Ok(PngImage::new(w, h, img.into_raw())?)
}

/// Prepares `image` and `mask` for a generation of `width × height`.
pub fn prepare(image: &PngImage, mask: &Mask, width: u32, height: u32) -> Result<Prepared> {
    let original = rgb(image)?;
    let (iw, ih) = original.dimensions();
    let mut m = if mask.image.dimensions() == (iw, ih) {
        mask.image.clone()
    } else {
        image::imageops::resize(&mask.image, iw, ih, FilterType::Lanczos3)
    };
    if mask.invert {
        image::imageops::invert(&mut m);
    }
    if mask.blur > 0 {
        m = gaussian_blur(&m, mask.blur as f32);
    }
    if m.pixels().all(|p| p.0[0] == 0) {
        return Err(EngineError::InvalidRequest(
            "the mask is empty: paint the area to repaint in white (or turn off invert)".into(),
        ));
    }
    if mask.only_masked {
        let region = expand_to_aspect(crop_region(&m, mask.padding), width, height, iw, ih);
        let crop = |img: &RgbImage| {
            image::imageops::crop_imm(
                img,
                region.x1,
                region.y1,
                region.x2 - region.x1,
                region.y2 - region.y1,
            )
            .to_image()
        };
        let crop_mask = image::imageops::crop_imm(
            &m,
            region.x1,
            region.y1,
            region.x2 - region.x1,
            region.y2 - region.y1,
        )
        .to_image();
        let work_mask = image::imageops::resize(&crop_mask, width, height, FilterType::Lanczos3);
        let work = image::imageops::resize(&crop(&original), width, height, FilterType::Lanczos3);
        let work = apply_fill(work, &work_mask, mask.fill);
        return Ok(Prepared {
            image: png(work)?,
            mask: work_mask,
            original,
            overlay: m,
            paste: Some(region),
        });
    }
    let work_mask = image::imageops::resize(&m, width, height, FilterType::Lanczos3);
    let resized = if (iw, ih) == (width, height) {
        original
    } else {
        image::imageops::resize(&original, width, height, FilterType::Lanczos3)
    };
    // A1111 doubles the mask for the overlay, so its blurred edge keeps more of the new
    // pixels than of the old.
    let mut overlay = work_mask.clone();
    for p in overlay.pixels_mut() {
        p.0[0] = p.0[0].saturating_mul(2);
    }
    let work = apply_fill(resized.clone(), &work_mask, mask.fill);
    Ok(Prepared {
        image: png(work)?,
        mask: work_mask,
        original: resized,
        overlay,
        paste: None,
    })
}

impl Prepared {
    /// The generated image put back: scaled into its box for "only masked", then the
    /// original laid over wherever the mask keeps it.
    pub fn finish(&self, generated: &PngImage) -> Result<PngImage> {
        let gen = rgb(generated)?;
        let mut base = match self.paste {
            Some(r) => {
                let mut base = self.original.clone();
                let scaled =
                    image::imageops::resize(&gen, r.x2 - r.x1, r.y2 - r.y1, FilterType::Lanczos3);
                image::imageops::replace(&mut base, &scaled, i64::from(r.x1), i64::from(r.y1));
                base
            }
            None => gen,
        };
        for ((out, orig), m) in base
            .pixels_mut()
            .zip(self.original.pixels())
            .zip(self.overlay.pixels())
        {
            let a = u32::from(m.0[0]);
            for c in 0..3 {
                let blended =
                    (u32::from(out.0[c]) * a + u32::from(orig.0[c]) * (255 - a) + 127) / 255;
                out.0[c] = blended as u8;
            }
        }
        png(base)
    }
}

/// Outpainting's canvas: the image with `[left, top, right, bottom]` pixels added, the
/// new border continuing the image's edge colours, and the mask that repaints exactly
/// the new area (mask blur then redraws the seam).
pub fn outpaint_canvas(image: &PngImage, [l, t, r, b]: [u32; 4]) -> Result<(PngImage, GrayImage)> {
    let src = rgb(image)?;
    let (w, h) = (image.width + l + r, image.height + t + b);
    if w > crate::pipeline::MAX_SIDE || h > crate::pipeline::MAX_SIDE {
        return Err(EngineError::InvalidRequest(format!(
            "outpainting makes the image {w}×{h}; the largest side RA generates is {}",
            crate::pipeline::MAX_SIDE
        )));
    }
    let inside =
        |x: u32, y: u32| (l..l + image.width).contains(&x) && (t..t + image.height).contains(&y);
    let canvas = RgbImage::from_fn(w, h, |x, y| {
        let sx = x.saturating_sub(l).min(image.width - 1);
        let sy = y.saturating_sub(t).min(image.height - 1);
        *src.get_pixel(sx, sy)
    });
    let mask = GrayImage::from_fn(w, h, |x, y| {
        image::Luma([if inside(x, y) { 0 } else { 255 }])
    });
    Ok((png(canvas)?, mask))
}

/// An img2img input with its mask, or, when `outpaint` adds pixels, outpainting's
/// canvas with the border to paint as its mask. `mask` turns the mask image into a
/// [`Mask`] with the caller's settings. For outpainting also returns the size to
/// generate at: the canvas rounded up to the latent grid.
pub fn init_image(
    image: PngImage,
    strength: f64,
    mask: Option<GrayImage>,
    outpaint: [u32; 4],
    settings: impl FnOnce(GrayImage) -> Mask,
) -> Result<(crate::InitImage, Option<(u32, u32)>)> {
    let (image, mask, size) = if outpaint.iter().any(|&p| p > 0) {
        let (canvas, border) = outpaint_canvas(&image, outpaint)?;
        let size = (canvas.width.div_ceil(8) * 8, canvas.height.div_ceil(8) * 8);
        (canvas, Some(border), Some(size))
    } else {
        (image, mask, None)
    };
    let init = crate::InitImage {
        image,
        strength,
        mask: mask.map(settings),
    };
    Ok((init, size))
}

/// The bounding box of the mask's non-zero pixels, grown by `pad` within the image.
fn crop_region(mask: &GrayImage, pad: u32) -> Rect {
    let (w, h) = mask.dimensions();
    let (mut x1, mut y1, mut x2, mut y2) = (w, h, 0, 0);
    for (x, y, p) in mask.enumerate_pixels() {
        if p.0[0] > 0 {
            x1 = x1.min(x);
            y1 = y1.min(y);
            x2 = x2.max(x + 1);
            y2 = y2.max(y + 1);
        }
    }
    Rect {
        x1: x1.saturating_sub(pad),
        y1: y1.saturating_sub(pad),
        x2: (x2 + pad).min(w),
        y2: (y2 + pad).min(h),
    }
}

/// Grows the shorter side of `r` so the box has the generation's aspect ratio, keeping
/// it inside the image (A1111's `expand_crop_region`).
fn expand_to_aspect(r: Rect, width: u32, height: u32, iw: u32, ih: u32) -> Rect {
    let grow = |lo: u32, hi: u32, want: f64, limit: u32| -> (u32, u32) {
        let diff = (want - f64::from(hi - lo)).max(0.0) as i64;
        let (mut lo, mut hi) = (i64::from(lo) - diff / 2, i64::from(hi) + diff - diff / 2);
        let limit = i64::from(limit);
        if hi > limit {
            lo -= hi - limit;
            hi = limit;
        }
        if lo < 0 {
            hi = (hi - lo).min(limit);
            lo = 0;
        }
        (lo as u32, hi as u32)
    };
    let ratio = f64::from(width) / f64::from(height);
    let (cw, ch) = (f64::from(r.x2 - r.x1), f64::from(r.y2 - r.y1));
    if cw / ch > ratio {
        let (y1, y2) = grow(r.y1, r.y2, cw / ratio, ih);
        Rect { y1, y2, ..r }
    } else {
        let (x1, x2) = grow(r.x1, r.x2, ch * ratio, iw);
        Rect { x1, x2, ..r }
    }
}

/// OpenCV's Gaussian blur as A1111 calls it: kernel radius `⌊2.5σ + 0.5⌋`, mirrored
/// edges, one pass across and one down.
fn gaussian_blur(mask: &GrayImage, sigma: f32) -> GrayImage {
    let radius = (2.5 * sigma + 0.5) as i64;
    let kernel: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = kernel.iter().sum();
    let (w, h) = (mask.width() as i64, mask.height() as i64);
    let reflect = |i: i64, n: i64| -> usize {
        if n == 1 {
            return 0;
        }
        let period = 2 * (n - 1);
        let i = i.rem_euclid(period);
        (if i >= n { period - i } else { i }) as usize
    };
    let src: Vec<f32> = mask.pixels().map(|p| f32::from(p.0[0])).collect();
    let mut across = vec![0f32; src.len()];
    for y in 0..h {
        for x in 0..w {
            across[(y * w + x) as usize] = kernel
                .iter()
                .enumerate()
                .map(|(k, kv)| kv * src[(y * w) as usize + reflect(x + k as i64 - radius, w)])
                .sum::<f32>()
                / sum;
        }
    }
    let mut out = GrayImage::new(w as u32, h as u32);
    for y in 0..h {
        for x in 0..w {
            let v = kernel
                .iter()
                .enumerate()
                .map(|(k, kv)| {
                    kv * across[reflect(y + k as i64 - radius, h) * w as usize + x as usize]
                })
                .sum::<f32>()
                / sum;
            out.put_pixel(
                x as u32,
                y as u32,
                image::Luma([v.round().clamp(0.0, 255.0) as u8]),
            );
        }
    }
    out
}

/// "fill": the masked area painted with ever finer blurs of what surrounds it (A1111's
/// `masking.fill`); other modes leave the pixels alone.
fn apply_fill(image: RgbImage, mask: &GrayImage, fill: InpaintFill) -> RgbImage {
    if fill != InpaintFill::Fill {
        return image;
    }
    let (w, h) = (image.width() as usize, image.height() as usize);
    // Premultiplied RGBA of the kept pixels.
    let mut kept = vec![0f32; w * h * 4];
    for (i, (p, m)) in image.pixels().zip(mask.pixels()).enumerate() {
        let a = 1.0 - f32::from(m.0[0]) / 255.0;
        for c in 0..3 {
            kept[i * 4 + c] = f32::from(p.0[c]) / 255.0 * a;
        }
        kept[i * 4 + 3] = a;
    }
    let mut acc = vec![0f32; w * h * 4];
    for (radius, repeats) in [(256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1)] {
        let blurred = box_blur3(&kept, w, h, radius);
        for _ in 0..repeats {
            // Porter–Duff "over", premultiplied.
            for (dst, src) in acc.chunks_exact_mut(4).zip(blurred.chunks_exact(4)) {
                let keep = 1.0 - src[3];
                for c in 0..4 {
                    dst[c] = src[c] + dst[c] * keep;
                }
            }
        }
    }
    let mut out = image;
    for (i, p) in out.pixels_mut().enumerate() {
        let a = acc[i * 4 + 3];
        if a > 0.0 {
            for c in 0..3 {
                p.0[c] = (acc[i * 4 + c] / a * 255.0).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// Three box blurs approximate a Gaussian of standard deviation `sigma`; each pass is a
/// running sum, so large radii cost no more than small ones.
fn box_blur3(data: &[f32], w: usize, h: usize, sigma: usize) -> Vec<f32> {
    if sigma == 0 {
        return data.to_vec();
    }
    // Box half-width whose three passes give variance ≈ sigma².
    let r = ((((12.0 * (sigma * sigma) as f64 / 3.0) + 1.0).sqrt() - 1.0) / 2.0)
        .round()
        .max(1.0) as usize;
    let mut cur = data.to_vec();
    for _ in 0..3 {
        cur = box_pass(&cur, w, h, r, true);
        cur = box_pass(&cur, w, h, r, false);
    }
    cur
}

fn box_pass(data: &[f32], w: usize, h: usize, r: usize, across: bool) -> Vec<f32> {
    let (lines, len) = if across { (h, w) } else { (w, h) };
    let at = |line: usize, i: usize| if across { line * w + i } else { i * w + line };
    let mut out = vec![0f32; data.len()];
    let n = (2 * r + 1) as f32;
    for line in 0..lines {
        for c in 0..4 {
            // Edge pixels repeat beyond the border.
            let get = |i: i64| data[at(line, i.clamp(0, len as i64 - 1) as usize) * 4 + c];
            let mut sum: f32 = (-(r as i64)..=r as i64).map(get).sum();
            for i in 0..len {
                out[at(line, i) * 4 + c] = sum / n;
                sum += get(i as i64 + r as i64 + 1) - get(i as i64 - r as i64);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square_mask(w: u32, h: u32, x: u32, y: u32, s: u32) -> GrayImage {
        GrayImage::from_fn(w, h, |px, py| {
            image::Luma([if (x..x + s).contains(&px) && (y..y + s).contains(&py) {
                255
            } else {
                0
            }])
        })
    }

    #[test]
    fn crop_region_pads_and_matches_the_aspect_ratio() {
        let m = square_mask(200, 100, 90, 40, 10);
        let r = crop_region(&m, 5);
        assert_eq!(
            r,
            Rect {
                x1: 85,
                y1: 35,
                x2: 105,
                y2: 55
            }
        );
        // A 2:1 generation widens the 20×20 box to 40×20, centred.
        let e = expand_to_aspect(r, 128, 64, 200, 100);
        assert_eq!(
            e,
            Rect {
                x1: 75,
                y1: 35,
                x2: 115,
                y2: 55
            }
        );
    }

    #[test]
    fn blur_softens_the_edge_and_keeps_the_middle() {
        let m = gaussian_blur(&square_mask(40, 40, 10, 10, 20), 2.0);
        assert_eq!(m.get_pixel(20, 20).0[0], 255);
        assert_eq!(m.get_pixel(2, 2).0[0], 0);
        let edge = m.get_pixel(10, 20).0[0];
        assert!((60..200).contains(&edge), "{edge}");
    }

    #[test]
    fn fill_spreads_surrounding_colour_into_the_hole() {
        let img = RgbImage::from_pixel(32, 32, image::Rgb([200, 40, 40]));
        let mut holed = img.clone();
        for y in 8..24 {
            for x in 8..24 {
                holed.put_pixel(x, y, image::Rgb([0, 255, 0]));
            }
        }
        let out = apply_fill(holed, &square_mask(32, 32, 8, 8, 16), InpaintFill::Fill);
        let p = out.get_pixel(16, 16).0;
        assert!(p[0] > 150 && p[1] < 90, "{p:?}");
    }

    #[test]
    fn outpainting_adds_a_border_to_repaint() {
        let img = PngImage::new(8, 8, vec![100; 8 * 8 * 3]).unwrap();
        let (canvas, mask) = outpaint_canvas(&img, [16, 0, 8, 0]).unwrap();
        assert_eq!((canvas.width, canvas.height), (32, 8));
        assert_eq!(mask.get_pixel(0, 0).0[0], 255);
        assert_eq!(mask.get_pixel(16, 4).0[0], 0);
        assert_eq!(mask.get_pixel(24, 4).0[0], 255);
        assert!(canvas.rgb.iter().all(|&v| v == 100));
    }

    #[test]
    fn fill_modes_parse_from_names_and_numbers() {
        assert_eq!(
            InpaintFill::parse("latent_noise").unwrap(),
            InpaintFill::LatentNoise
        );
        assert_eq!(InpaintFill::parse("0").unwrap(), InpaintFill::Fill);
        assert!(InpaintFill::parse("sideways").is_err());
    }
}
