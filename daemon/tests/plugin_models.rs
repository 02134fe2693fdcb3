//! Plugins that run neural networks through the host (`run-model`): ESRGAN upscalers
//! from `models/ESRGAN` served by the `upscale` plugin in tiles, and depth2img on a
//! tiny 5-channel model with the `depth` plugin, over HTTP and from the CLI.

use std::path::Path;
use std::process::Command;

use ra_engine::candle::{Device, Tensor};
use ra_engine::esrgan::{self, Esrgan};
use ra_engine::make_model::{self, MakeModel, OutputLayout, Preset};
use serde_json::{json, Value};

mod common;
use common::{b64, built_plugins, data_dir, decode, http, json_of, png, post, start, Daemon, DAEMON};

fn card(width: u32, height: u32, phase: u32) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| {
        let edge = if (x + phase) * 3 > width { 200 } else { 30 };
        image::Rgb([(x * 255 / width) as u8, edge + ((x * 7 + y * 13 + phase) % 17) as u8 * 3, (y * 255 / height) as u8])
    })
}

fn write_upscaler(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    make_model::write_random_tensors(path, 5, &esrgan::tensor_shapes(8, 2, 4, false)).unwrap();
}

/// The engine's own run of the whole image at once, as 8-bit RGB.
fn whole_image_reference(model: &Path, input: &image::RgbImage) -> image::RgbImage {
    let (w, h) = input.dimensions();
    let plane = (w * h) as usize;
    let mut data = vec![0f32; plane * 3];
    for (i, px) in input.pixels().enumerate() {
        for c in 0..3 {
            data[c * plane + i] = f32::from(px[c]) / 255.0;
        }
    }
    let t = Tensor::from_vec(data, (1, 3, h as usize, w as usize), &Device::Cpu).unwrap();
    let out = Esrgan::load(model, &Device::Cpu).unwrap().upscale(&t).unwrap();
    let v: Vec<f32> = out.flatten_all().unwrap().to_vec1().unwrap();
    let (ow, oh) = (w * 4, h * 4);
    let oplane = (ow * oh) as usize;
    image::RgbImage::from_fn(ow, oh, |x, y| {
        let i = (y * ow + x) as usize;
        let q = |c: usize| (v[c * oplane + i].clamp(0.0, 1.0) * 255.0).round() as u8;
        image::Rgb([q(0), q(1), q(2)])
    })
}

fn mean_abs_diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    let total: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
    total as f64 / a.as_raw().len() as f64
}

#[test]
fn esrgan_models_become_upscalers_that_run_in_tiles() {
    built_plugins();
    let data = data_dir();
    let model = data.path().join("models/ESRGAN/4x-tiny.safetensors");
    write_upscaler(&model);
    // Not an upscaler: left out of the list rather than offered and failing later.
    make_model::write_taesd_decoder(&data.path().join("models/ESRGAN/not-an-upscaler.safetensors"), 1).unwrap();
    let d = start(data.path(), &[]);

    let (_, _, b) = http(&d.addr, "GET", "/sdapi/v1/upscalers", None, None);
    let list = json_of(&b);
    let names: Vec<&str> = list.as_array().unwrap().iter().filter_map(|u| u["name"].as_str()).collect();
    assert!(!names.contains(&"not-an-upscaler"), "{list}");
    let tiny = list.as_array().unwrap().iter().find(|u| u["name"] == "4x-tiny").unwrap_or_else(|| panic!("{list}"));
    assert_eq!((tiny["scale"].as_f64(), tiny["plugin"].as_str()), (Some(4.0), Some("upscale")), "{tiny}");
    assert_eq!(tiny["model_path"].as_str(), model.to_str());

    // A model installed while the daemon runs is offered at once.
    write_upscaler(&data.path().join("models/ESRGAN/4x-later.safetensors"));
    let (_, _, b) = http(&d.addr, "GET", "/sdapi/v1/upscalers", None, None);
    assert!(json_of(&b).as_array().unwrap().iter().any(|u| u["name"] == "4x-later"), "{}", String::from_utf8_lossy(&b));

    // One tile: exactly the engine's run of the whole image (the run-model path adds nothing).
    let small = card(40, 24, 0);
    let (status, out) = post(&d, "/sdapi/v1/extra-single-image", json!({"image": b64(&png(&small)), "upscaler_1": "4x-tiny", "upscaling_resize": 4}));
    assert_eq!(status, 200, "{out}");
    let got = decode(out["image"].as_str().unwrap());
    assert_eq!(got, whole_image_reference(&model, &small));

    // Three tiles across: the size is right and the blend stays close to a seamless
    // whole-image run (the tiles see less context at their borders, nothing more).
    let wide = card(400, 30, 3);
    let (status, out) = post(&d, "/sdapi/v1/extra-single-image", json!({"image": b64(&png(&wide)), "upscaler_1": "4x-tiny", "upscaling_resize": 4}));
    assert_eq!(status, 200, "{out}");
    let got = decode(out["image"].as_str().unwrap());
    assert_eq!(got.dimensions(), (1600, 120));
    let diff = mean_abs_diff(&got, &whole_image_reference(&model, &wide));
    eprintln!("tiled vs whole: mean abs diff {diff:.3}");
    assert!(diff < 0.5, "tiled vs whole mean abs diff {diff}");

    // Hires fix through the same upscaler: the first pass decoded, upscaled by the
    // model in the plugin, encoded again for the second pass.
    let job = json!({"prompt": "a cat", "steps": 1, "width": 64, "height": 64, "seed": 5,
        "enable_hr": true, "hr_scale": 2, "hr_upscaler": "4x-tiny", "denoising_strength": 0.5});
    let (status, out) = post(&d, "/sdapi/v1/txt2img", job.clone());
    assert_eq!(status, 200, "{out}");
    assert_eq!(decode(out["images"][0].as_str().unwrap()).dimensions(), (128, 128));
    let info: Value = serde_json::from_str(out["info"].as_str().unwrap()).unwrap();
    assert!(info["infotexts"][0].as_str().unwrap().contains("Hires upscaler: 4x-tiny"), "{info}");
    let (status, err) = post(&d, "/sdapi/v1/txt2img", json!({"prompt": "a cat", "enable_hr": true, "hr_upscaler": "8x-missing"}));
    assert_eq!(status, 422, "{err}");
    let said = err["detail"][0]["msg"].as_str().unwrap_or_default().to_string() + &err.to_string();
    assert!(said.contains("no hires upscaler named '8x-missing'") && said.contains("4x-tiny"), "{err}");

    // A factor the model does not have: the model's pass, then Lanczos to the exact size.
    let (status, out) = post(&d, "/sdapi/v1/extra-single-image", json!({"image": b64(&png(&small)), "upscaler_1": "4x-tiny", "upscaling_resize": 2.5}));
    assert_eq!(status, 200, "{out}");
    assert_eq!(decode(out["image"].as_str().unwrap()).dimensions(), (100, 60));
}

fn depth_model_data() -> tempfile::TempDir {
    let data = data_dir();
    MakeModel { preset: Preset::TinyDepth, layout: OutputLayout::SingleFile, seed: 4, dtype: ra_engine::candle::DType::F32 }
        .write(&data.path().join("models/Stable-diffusion/sd2-depth.safetensors"))
        .unwrap();
    data
}

fn install_depth_estimator(root: &Path) {
    let path = root.join("models/depth/depth_anything_v2_tiny.safetensors");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    make_model::write_random_model(&path, 6, |vb| {
        ra_engine::depth_anything::DepthShape::TINY.build(vb, false, false).map(|_| ())
    })
    .unwrap();
}

fn img2img(d: &Daemon, init: &image::RgbImage) -> (u16, Value) {
    post(d, "/sdapi/v1/img2img", json!({
        "init_images": [b64(&png(init))], "prompt": "a room", "steps": 2, "width": 64, "height": 64,
        "seed": 11, "denoising_strength": 0.8,
        "override_settings": {"sd_model_checkpoint": "sd2-depth"}
    }))
}

#[test]
fn depth2img_runs_end_to_end_with_the_depth_plugin() {
    built_plugins();
    let data = depth_model_data();
    let d = start(data.path(), &[]);
    let (_, _, b) = http(&d.addr, "GET", "/ra/v1/plugins/depth", None, None);
    assert_eq!(json_of(&b)["status"], "ready", "{}", String::from_utf8_lossy(&b));

    // No depth estimator installed yet: the job fails saying what to install.
    let (status, err) = img2img(&d, &card(64, 64, 0));
    assert_eq!(status, 500, "{err}");
    assert!(err["error"].as_str().unwrap().contains("no depth model is installed: put a Depth Anything V2"), "{err}");
    // txt2img has no image to estimate depth from.
    let (status, err) = post(&d, "/sdapi/v1/txt2img", json!({"prompt": "x", "steps": 1, "width": 64, "height": 64,
        "override_settings": {"sd_model_checkpoint": "sd2-depth"}}));
    assert_eq!(status, 500, "{err}");
    assert!(err["error"].as_str().unwrap().contains("it needs a depth map"), "{err}");

    install_depth_estimator(data.path());
    let (status, first) = img2img(&d, &card(64, 64, 0));
    assert_eq!(status, 200, "{first}");
    let first_png = first["images"][0].as_str().unwrap().to_string();
    assert_eq!(decode(&first_png).dimensions(), (64, 64));
    let (_, again) = img2img(&d, &card(64, 64, 0));
    assert_eq!(again["images"][0].as_str(), Some(first_png.as_str()), "same seed and image, same bytes");
    let (_, other) = img2img(&d, &card(64, 64, 9));
    assert_ne!(other["images"][0].as_str(), Some(first_png.as_str()));

    // The depth model also needs the plugin: disabled, the job says so.
    let (status, _, _) = http(&d.addr, "POST", "/ra/v1/plugins/depth/disable", None, None);
    assert_eq!(status, 200);
    let (status, err) = img2img(&d, &card(64, 64, 0));
    assert_eq!(status, 500, "{err}");
    assert!(err["error"].as_str().unwrap().contains("needs the `depth` plugin enabled"), "{err}");
}

#[test]
fn depth2img_from_the_cli() {
    built_plugins();
    let data = depth_model_data();
    let root = data.path();
    let init = root.join("init.png");
    std::fs::write(&init, png(&card(64, 64, 0))).unwrap();
    let generate = |extra: &[&str], out: &str| {
        Command::new(DAEMON)
            .args(["generate", "--model"])
            .arg(root.join("models/Stable-diffusion/sd2-depth.safetensors"))
            .args(["--prompt", "a room", "--steps", "2", "--seed", "3", "--width", "64", "--height", "64", "--denoising-strength", "0.8", "--init-image"])
            .arg(&init)
            .arg("--out")
            .arg(root.join(out))
            .args(extra)
            // Plugin settings and installs of this user must not leak in.
            .env("XDG_CONFIG_HOME", root.join("config"))
            .env("XDG_DATA_HOME", root.join("share"))
            .output()
            .unwrap()
    };
    let models = root.join("models");
    let models = models.to_str().unwrap();

    let out = generate(&["--models-dir", models], "none.png");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no depth model is installed"), "{stderr}");
    assert!(!root.join("none.png").exists());

    install_depth_estimator(root);
    let out = generate(&["--models-dir", models], "depth.png");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let made = image::open(root.join("depth.png")).unwrap().to_rgb8();
    assert_eq!(made.dimensions(), (64, 64));

    // A depth map of one's own instead of the plugin's.
    let map = image::GrayImage::from_fn(64, 64, |x, _| image::Luma([(x * 4) as u8]));
    map.save(root.join("map.png")).unwrap();
    let out = generate(&["--depth-map", root.join("map.png").to_str().unwrap()], "own.png");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_ne!(std::fs::read(root.join("own.png")).unwrap(), std::fs::read(root.join("depth.png")).unwrap());
    let out = generate(&["--depth-map", root.join("missing.png").to_str().unwrap()], "bad.png");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--depth-map"));
}

/// An `.onnx` 4× upscaler (the same tiny RRDBNet, written as a graph) in models/ESRGAN
/// runs through the `upscale` plugin's `run-model` on ONNX Runtime. One tile must match
/// candle's whole-image run of the same weights to within one 8-bit level (the two
/// libraries sum the convolutions in a different order, about 1e-6 apart, which moves a
/// value only where it sits on a rounding edge).
#[test]
fn onnx_upscalers_run_through_the_upscale_plugin() {
    built_plugins();
    let data = data_dir();
    let reference = data.path().join("reference/4x-tiny.safetensors");
    write_upscaler(&reference);
    let model = data.path().join("models/ESRGAN/4x-tiny-onnx.onnx");
    make_model::write_onnx_upscaler(&model, 5, &esrgan::tensor_shapes(8, 2, 4, false)).unwrap();
    // Not a graph at all: left out of the list, with the reason in the log.
    std::fs::write(data.path().join("models/ESRGAN/broken.onnx"), b"not a graph").unwrap();
    let d = start(data.path(), &[]);

    let (_, _, b) = http(&d.addr, "GET", "/sdapi/v1/upscalers", None, None);
    let list = json_of(&b);
    assert!(!list.as_array().unwrap().iter().any(|u| u["name"] == "broken"), "{list}");
    let tiny = list.as_array().unwrap().iter().find(|u| u["name"] == "4x-tiny-onnx").unwrap_or_else(|| panic!("{list}"));
    assert_eq!((tiny["scale"].as_f64(), tiny["plugin"].as_str()), (Some(4.0), Some("upscale")), "{tiny}");

    let small = card(40, 24, 0);
    let (status, out) = post(&d, "/sdapi/v1/extra-single-image", json!({"image": b64(&png(&small)), "upscaler_1": "4x-tiny-onnx", "upscaling_resize": 4}));
    assert_eq!(status, 200, "{out}");
    let got = decode(out["image"].as_str().unwrap());
    let want = whole_image_reference(&reference, &small);
    assert_eq!(got.dimensions(), want.dimensions());
    let worst = got.as_raw().iter().zip(want.as_raw()).map(|(a, b)| a.abs_diff(*b)).max().unwrap_or(0);
    eprintln!("onnx vs candle upscale: worst {worst} levels, mean {:.4}", mean_abs_diff(&got, &want));
    assert!(worst <= 1, "worst difference {worst} levels");
}
