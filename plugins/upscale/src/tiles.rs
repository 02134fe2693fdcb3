//! Running a fixed-factor upscaler over an image in overlapping tiles, so that a large
//! image fits in memory and a network's edge effects at tile borders do not show.
//!
//! Tiles are placed in raster order; where a tile overlaps what its left and upper
//! neighbours already wrote, it fades in linearly across the overlap, so the output is
//! continuous at every tile border and each tile's own border pixels weigh nothing.

use ra_plugin_sdk::Image;

/// Tile side and overlap in input pixels: A1111 runs ESRGAN in 192² tiles; a wider
/// overlap than its 8 hides the border effects of small tiles better.
pub const TILE: u32 = 192;
pub const OVERLAP: u32 = 16;

/// Start offsets of the fewest tiles that cover `len` pixels overlapping by at least
/// `overlap`, spread evenly so no overlap is much wider than another.
fn starts(len: u32, tile: u32, overlap: u32) -> Vec<u32> {
    if len <= tile {
        return vec![0];
    }
    let n = (len - overlap).div_ceil(tile - overlap);
    let span = u64::from(len - tile);
    (0..n).map(|i| ((u64::from(i) * span + u64::from(n - 1) / 2) / u64::from(n - 1)) as u32).collect()
}

/// Upscales `image` by the integer `scale` with `model`, which must turn a w × h image
/// into a (w·scale) × (h·scale) one.
pub fn upscale(
    image: &Image,
    scale: u32,
    tile: u32,
    overlap: u32,
    mut model: impl FnMut(&Image) -> Result<Image, String>,
) -> Result<Image, String> {
    let mut out = Image::new(image.width * scale, image.height * scale);
    let xs = starts(image.width, tile, overlap);
    let ys = starts(image.height, tile, overlap);
    for (j, &y0) in ys.iter().enumerate() {
        let th = tile.min(image.height);
        // How far this tile reaches back into the one above (the last tile may overlap more).
        let over_y = if j == 0 { 0 } else { (ys[j - 1] + th - y0) * scale };
        for (i, &x0) in xs.iter().enumerate() {
            let tw = tile.min(image.width);
            let over_x = if i == 0 { 0 } else { (xs[i - 1] + tw - x0) * scale };
            let piece = model(&image.crop(x0, y0, tw, th))?;
            if (piece.width, piece.height) != (tw * scale, th * scale) {
                return Err(format!(
                    "the model turned a {tw}x{th} tile into {}x{}, not {}x{} (a {scale}x model)",
                    piece.width,
                    piece.height,
                    tw * scale,
                    th * scale
                ));
            }
            place(&mut out, &piece, x0 * scale, y0 * scale, over_x, over_y);
        }
    }
    Ok(out)
}

fn ramp(pos: u32, over: u32) -> f32 {
    if pos >= over {
        1.0
    } else {
        (pos as f32 + 0.5) / over as f32
    }
}

fn place(out: &mut Image, piece: &Image, x0: u32, y0: u32, over_x: u32, over_y: u32) {
    let ow = out.width as usize;
    for y in 0..piece.height {
        let wy = ramp(y, over_y);
        for x in 0..piece.width {
            let w = wy * ramp(x, over_x);
            let src = (y as usize * piece.width as usize + x as usize) * 4;
            let dst = ((y0 + y) as usize * ow + (x0 + x) as usize) * 4;
            for c in 0..4 {
                let (old, new) = (f32::from(out.rgba[dst + c]), f32::from(piece.rgba[src + c]));
                out.rgba[dst + c] = (old + (new - old) * w).round() as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(w: u32, h: u32) -> Image {
        let mut img = Image::new(w, h);
        for y in 0..h {
            for x in 0..w {
                img.set_pixel(x, y, [(x * 7 % 256) as u8, (y * 13 % 256) as u8, ((x ^ y) % 256) as u8, 255]);
            }
        }
        img
    }

    fn nearest(img: &Image, s: u32) -> Image {
        let mut out = Image::new(img.width * s, img.height * s);
        for y in 0..out.height {
            for x in 0..out.width {
                out.set_pixel(x, y, img.pixel(x / s, y / s));
            }
        }
        out
    }

    #[test]
    fn tiles_cover_the_axis_and_overlap() {
        assert_eq!(starts(100, 192, 16), vec![0]);
        assert_eq!(starts(192, 192, 16), vec![0]);
        assert_eq!(starts(193, 192, 16), vec![0, 1]);
        assert_eq!(starts(500, 192, 16), vec![0, 154, 308]);
        assert_eq!(starts(60, 32, 8), vec![0, 14, 28]);
    }

    #[test]
    fn tiling_a_local_model_gives_the_same_image_as_one_pass() {
        // A model without context (nearest neighbour) must come out bit-identical:
        // blending identical pixels changes nothing, so any difference is a placement bug.
        for (w, h) in [(50, 37), (64, 64), (131, 70)] {
            let img = card(w, h);
            let mut calls = 0;
            let tiled = upscale(&img, 4, 32, 8, |t| {
                calls += 1;
                Ok(nearest(t, 4))
            })
            .unwrap();
            assert_eq!(tiled, nearest(&img, 4), "{w}x{h}");
            assert!(calls > 1 || (w <= 32 && h <= 32));
        }
    }

    #[test]
    fn tile_borders_fade_out() {
        // A model that marks its tile's border: the marks must not survive where a
        // neighbour overlaps.
        let img = card(60, 20);
        let out = upscale(&img, 1, 32, 8, |t| {
            let mut p = t.clone();
            for y in 0..p.height {
                p.set_pixel(0, y, [255, 0, 255, 255]);
                p.set_pixel(p.width - 1, y, [255, 0, 255, 255]);
            }
            Ok(p)
        })
        .unwrap();
        // Tiles at 0, 14 and 28: every inner tile border lies inside an overlap.
        for x in [14, 28, 31, 45] {
            assert_ne!(out.pixel(x, 10), [255, 0, 255, 255], "x = {x}");
        }
    }

    #[test]
    fn a_model_of_the_wrong_factor_is_an_error() {
        let err = upscale(&card(40, 40), 4, 32, 8, |t| Ok(nearest(t, 2))).unwrap_err();
        assert!(err.contains("not 128x128 (a 4x model)"), "{err}");
    }
}
