//! The shipped upscale plugin, run through the real host.

mod common;

use ra_plugins::{Image, Limits};

/// A deterministic test card: gradients, a hard edge and some texture.
fn card(width: u32, height: u32) -> Image {
    let mut rgba = Vec::with_capacity((width * height * 4) as usize);
    for y in 0..height {
        for x in 0..width {
            let edge = if x * 3 > width { 200 } else { 30 };
            let texture = ((x * 7 + y * 13) % 17) as u8 * 3;
            rgba.extend_from_slice(&[(x * 255 / width) as u8, edge + texture, (y * 255 / height) as u8, 255]);
        }
    }
    Image { width, height, rgba }
}

#[test]
fn lanczos_is_listed_with_its_factors() {
    let host = common::host(Limits::DEFAULT);
    let names: Vec<(String, f32)> =
        host.plugins.upscalers().into_iter().map(|(_, u)| (u.name, u.scale)).collect();
    assert!(names.contains(&("Lanczos 2x".to_string(), 2.0)), "{names:?}");
    assert!(names.contains(&("Lanczos 4x".to_string(), 4.0)), "{names:?}");
}

#[test]
fn lanczos_2x_matches_an_independent_lanczos3() {
    let host = common::host(Limits::DEFAULT);
    let input = card(37, 23);
    let out = host.plugins.upscale("Lanczos 2x", input.clone(), 2.0).unwrap();
    assert_eq!((out.width, out.height), (74, 46));
    let reference = image::imageops::resize(
        &image::RgbaImage::from_raw(37, 23, input.rgba).unwrap(),
        74,
        46,
        image::imageops::FilterType::Lanczos3,
    );
    let diffs: Vec<i32> = out.rgba.iter().zip(reference.as_raw()).map(|(a, b)| (*a as i32 - *b as i32).abs()).collect();
    let mean = diffs.iter().sum::<i32>() as f64 / diffs.len() as f64;
    let max = *diffs.iter().max().unwrap();
    eprintln!("mean abs diff {mean:.3}, max {max}");
    assert!(mean < 0.75 && max <= 8, "mean {mean}, max {max}");
}

#[test]
fn an_unknown_upscaler_lists_the_known_ones() {
    let host = common::host(Limits::DEFAULT);
    let err = host.plugins.upscale("ESRGAN 9x", card(4, 4), 9.0).unwrap_err().to_string();
    assert!(err.contains("no upscaler named \"ESRGAN 9x\"") && err.contains("Lanczos 2x"), "{err}");
}
