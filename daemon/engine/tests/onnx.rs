//! The ONNX Runtime backend against candle on the tiny model: `make-model --layout
//! onnx` writes the same weights as graphs, and the one pipeline runs over both.
//!
//! Tolerance. The two backends compute the same function in a different floating-point
//! order (ONNX Runtime fuses and reorders convolutions, norms and matmuls), so the UNet's
//! outputs differ by about 1e-6 relative. Over a few sampler steps that stays far below
//! one 8-bit level, so the images may differ only where a value sits on a rounding edge:
//! at most 2 levels in any channel of any pixel, and in under 2 % of the channel values.
//! A wrong graph (a missing norm, a transposed weight, a swapped sin/cos) moves nearly
//! every value by many levels, so this bound separates a faithful export from a broken
//! one with a wide margin.
//!
//! Needs ONNX Runtime: `ORT_DYLIB_PATH` (scripts/env.sh sets it) or the copy env.sh
//! keeps in ~/.cache/ra/onnxruntime/.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use image::GrayImage;
use ra_engine::inpaint::{InpaintFill, Mask};
use ra_engine::make_model::{MakeModel, OutputLayout, Preset};
use ra_engine::onnx::RuntimeOptions;
use ra_engine::{generate, Backend, GenerateRequest, InitImage, LoadOptions, SdModel};
use ra_engine::candle::{Device, Tensor};
use ra_wire::{PngImage, SamplerName};

fn runtime() -> RuntimeOptions {
    let cached = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".cache/ra/onnxruntime/1.31.1/libonnxruntime.so.1.31.1");
    let library = std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .or_else(|| cached.is_file().then_some(cached));
    assert!(
        library.is_some(),
        "these tests need ONNX Runtime: source scripts/env.sh (it fetches it) or set ORT_DYLIB_PATH"
    );
    RuntimeOptions {
        library,
        ..Default::default()
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    diffusers: PathBuf,
    onnx: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let diffusers = dir.path().join("tiny");
        let onnx = dir.path().join("tiny-onnx");
        for (layout, out) in [(OutputLayout::Diffusers, &diffusers), (OutputLayout::Onnx, &onnx)] {
            MakeModel {
                preset: Preset::Tiny,
                layout,
                seed: 7,
                dtype: ra_engine::candle::DType::F32,
            }
            .write(out)
            .unwrap();
        }
        Fixture {
            _dir: dir,
            diffusers,
            onnx,
        }
    })
}

fn load(path: &Path) -> SdModel {
    let options = LoadOptions {
        onnx: runtime(),
        ..LoadOptions::cpu()
    };
    SdModel::load(path, &options).unwrap()
}

fn models() -> &'static (SdModel, SdModel) {
    static M: OnceLock<(SdModel, SdModel)> = OnceLock::new();
    M.get_or_init(|| (load(&fixture().diffusers), load(&fixture().onnx)))
}

fn request(sampler: SamplerName) -> GenerateRequest {
    GenerateRequest {
        negative_prompt: "blurry".into(),
        steps: 5,
        seed: 42,
        width: 64,
        height: 64,
        sampler,
        // No emphasis: A1111 rescales a weighted prompt's encoding to its original mean,
        // and a random-weight CLIP's mean is a near-cancelling sum, so 1e-7 changes in
        // the encoding move the rescale (and the image) far; that is this toy model's
        // conditioning, not the backend. The encodings themselves are compared in
        // `each_network_matches_its_candle_twin`.
        ..GenerateRequest::new("a watercolor fox BREAK snow")
    }
}

/// (largest difference in 8-bit levels, fraction of channel values that differ).
fn compare(a: &PngImage, b: &PngImage) -> (u8, f64) {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let diffs: Vec<u8> = a.rgb.iter().zip(&b.rgb).map(|(x, y)| x.abs_diff(*y)).collect();
    let worst = diffs.iter().copied().max().unwrap_or(0);
    let differing = diffs.iter().filter(|&&d| d > 0).count() as f64 / diffs.len() as f64;
    (worst, differing)
}

fn assert_close(what: &str, a: &PngImage, b: &PngImage) {
    let (worst, differing) = compare(a, b);
    eprintln!("{what}: worst {worst} levels, {:.3} % of values differ", differing * 100.0);
    assert!(worst <= 2 && differing < 0.02, "{what}: worst {worst}, {differing} differ");
}

#[test]
fn an_onnx_folder_loads_on_onnx_runtime_by_default() {
    let (candle, onnx) = models();
    assert_eq!(candle.backend, Backend::Candle);
    assert_eq!(onnx.backend, Backend::Onnx);
    assert_eq!(onnx.arch.unet, candle.arch.unet);
    assert_eq!(onnx.arch.vae, candle.arch.vae);
    assert_eq!(onnx.arch.clip, candle.arch.clip);
    assert_eq!(onnx.arch.prediction, candle.arch.prediction);
}

/// Every sampler RA has whose result is fixed by the seed and request; that is all of
/// them (the ancestral and SDE ones draw their noise from the seeded stream): Euler,
/// Euler a, Heun, DPM2, DPM2 a, DPM++ 2S a, DPM++ 2M, DPM++ SDE, DPM++ 2M SDE, LMS,
/// DDIM, UniPC, LCM.
#[test]
fn every_sampler_gives_the_same_image_on_both_backends() {
    let (candle, onnx) = models();
    for sampler in SamplerName::ALL {
        let req = request(sampler);
        let a = generate(candle, &req, &mut |_| true).unwrap();
        let b = generate(onnx, &req, &mut |_| true).unwrap();
        assert_close(sampler.a1111_name(), &a.image, &b.image);
        // The same infotext: the backend is not part of what A1111 records.
        let plain = |text: String, m: &SdModel| text.replace(&m.hash, "H").replace(&m.name, "N");
        assert_eq!(plain(a.info.render(), candle), plain(b.info.render(), onnx));
    }
}

fn max_rel_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    let scale = a.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    let d = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    d / scale.max(1e-12)
}

/// Each network on its own, before any sampler: within 1e-4 of the largest output
/// (f32 arithmetic in a different order; a wrong graph is off by order 1).
#[test]
fn each_network_matches_its_candle_twin() {
    let (candle, onnx) = models();
    let dev = Device::Cpu;
    let ids = Tensor::from_vec((0..77u32).map(|i| (i * 613) % 49408).collect(), (1, 77), &dev).unwrap();
    let (a, b) = (
        candle.text_encoder.forward_with(&ids, &[], 1).unwrap(),
        onnx.text_encoder.forward_with(&ids, &[], 1).unwrap(),
    );
    let d = max_rel_diff(&a, &b);
    eprintln!("text encoder: {d:.2e}");
    assert!(d < 1e-4, "text encoder {d}");
    let x = Tensor::randn(0f32, 1., (2, 4, 8, 8), &dev).unwrap();
    let ctx = Tensor::randn(0f32, 1., (2, 77, 64), &dev).unwrap();
    let d = max_rel_diff(&candle.unet.forward(&x, 417.3, &ctx).unwrap(), &onnx.unet.forward(&x, 417.3, &ctx).unwrap());
    eprintln!("unet: {d:.2e}");
    assert!(d < 1e-4, "unet {d}");
    let d = max_rel_diff(&candle.vae.decode(&x).unwrap(), &onnx.vae.decode(&x).unwrap());
    eprintln!("vae decode: {d:.2e}");
    assert!(d < 1e-4, "vae decode {d}");
    let img = Tensor::randn(0f32, 1., (1, 3, 64, 64), &dev).unwrap();
    let d = max_rel_diff(&candle.vae.encode(&img).unwrap(), &onnx.vae.encode(&img).unwrap());
    eprintln!("vae encode: {d:.2e}");
    assert!(d < 1e-4, "vae encode {d}");
}

fn init_image() -> PngImage {
    let rgb = (0..64 * 64)
        .flat_map(|i| {
            let (x, y) = ((i % 64) as u8, (i / 64) as u8);
            [x * 4, y * 4, 128]
        })
        .collect();
    PngImage::new(64, 64, rgb).unwrap()
}

#[test]
fn img2img_and_inpainting_agree_too() {
    let (candle, onnx) = models();
    let mut req = request(SamplerName::Euler);
    req.init = Some(InitImage {
        image: init_image(),
        strength: 0.6,
        mask: None,
    });
    let a = generate(candle, &req, &mut |_| true).unwrap();
    let b = generate(onnx, &req, &mut |_| true).unwrap();
    assert_close("img2img", &a.image, &b.image);

    let mask = GrayImage::from_fn(64, 64, |x, _| image::Luma([if x < 32 { 255 } else { 0 }]));
    req.init = Some(InitImage {
        image: init_image(),
        strength: 0.8,
        mask: Some(Mask {
            image: mask,
            blur: 2,
            invert: false,
            fill: InpaintFill::Original,
            only_masked: false,
            padding: 0,
        }),
    });
    let a = generate(candle, &req, &mut |_| true).unwrap();
    let b = generate(onnx, &req, &mut |_| true).unwrap();
    assert_close("inpainting", &a.image, &b.image);
}

#[test]
fn a_model_pinned_to_onnx_without_graphs_is_refused_clearly() {
    let options = LoadOptions {
        backend: Some(Backend::Onnx),
        onnx: runtime(),
        ..LoadOptions::cpu()
    };
    let err = SdModel::load(&fixture().diffusers, &options).err().unwrap().to_string();
    assert!(err.contains("unet/model.onnx"), "{err}");
}

#[test]
fn broken_graphs_and_missing_parts_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("m");
    copy_dir(&fixture().onnx, &copy);
    std::fs::write(copy.join("unet/model.onnx"), b"not a protobuf at all").unwrap();
    let options = LoadOptions {
        onnx: runtime(),
        ..LoadOptions::cpu()
    };
    let err = SdModel::load(&copy, &options).err().unwrap().to_string();
    assert!(err.contains("unet/model.onnx") && err.contains("not an ONNX graph"), "{err}");

    std::fs::remove_file(copy.join("vae_decoder/model.onnx")).unwrap();
    let err = SdModel::load(&copy, &options).err().unwrap().to_string();
    assert!(err.contains("vae_decoder/model.onnx is missing"), "{err}");
}

#[test]
fn what_onnx_cannot_do_is_refused_with_the_reason() {
    let (_, onnx) = models();
    let mut req = request(SamplerName::Euler);
    req.clip_skip = 2;
    let err = generate(onnx, &req, &mut |_| true).err().unwrap().to_string();
    assert!(err.contains("clip skip needs the candle backend"), "{err}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}
