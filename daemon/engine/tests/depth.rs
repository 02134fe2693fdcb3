//! Depth-to-image on the tiny random-weight models: a 5-channel UNet is recognised from
//! its weights in both layouts and follows the request's depth map on every model call;
//! depth maps are checked, required by depth models and ignored by the others.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ra_engine::arch::{Family, Prediction, UnetConditioning};
use ra_engine::make_model::{MakeModel, OutputLayout, Preset};
use ra_engine::pipeline::{HiresFix, HiresUpscaler};
use ra_engine::{
    generate, DepthMap, EngineError, GenerateRequest, Generated, InitImage, LoadOptions, SdModel,
};
use ra_wire::PngImage;

struct Models {
    _dir: tempfile::TempDir,
    depth_path: PathBuf,
    depth: SdModel,
    plain: SdModel,
}

fn make(dir: &Path, preset: Preset, layout: OutputLayout, name: &str) -> PathBuf {
    let out = dir.join(name);
    MakeModel {
        preset,
        layout,
        seed: 5,
        dtype: ra_engine::candle::DType::F32,
    }
    .write(&out)
    .unwrap();
    out
}

fn load(path: &Path) -> SdModel {
    SdModel::load(path, &LoadOptions::cpu()).unwrap()
}

fn models() -> &'static Models {
    static M: OnceLock<Models> = OnceLock::new();
    M.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let depth_path = make(
            dir.path(),
            Preset::TinyDepth,
            OutputLayout::SingleFile,
            "tiny-depth.safetensors",
        );
        let plain = make(
            dir.path(),
            Preset::Tiny,
            OutputLayout::SingleFile,
            "tiny.safetensors",
        );
        Models {
            depth: load(&depth_path),
            plain: load(&plain),
            depth_path,
            _dir: dir,
        }
    })
}

fn gradient(w: u32, h: u32) -> PngImage {
    let rgb = (0..h)
        .flat_map(|y| (0..w).flat_map(move |x| [(x * 4) as u8, (y * 4) as u8, 128]))
        .collect();
    PngImage::new(w, h, rgb).unwrap()
}

/// A 48×40 map (another size and aspect than the image, as estimators give): a ball
/// near the camera in front of a floor that recedes upwards.
fn ball() -> DepthMap {
    let (w, h) = (48u32, 40u32);
    let values = (0..h)
        .flat_map(|y| {
            (0..w).map(move |x| {
                let (dx, dy) = (x as f32 - 30.0, y as f32 - 18.0);
                let floor = y as f32 / h as f32;
                if dx * dx + dy * dy < 100.0 {
                    3.0
                } else {
                    floor
                }
            })
        })
        .collect();
    DepthMap {
        width: w,
        height: h,
        values,
    }
}

fn img2img(depth: Option<DepthMap>) -> GenerateRequest {
    GenerateRequest {
        negative_prompt: "blurry".into(),
        steps: 4,
        seed: 42,
        width: 64,
        height: 64,
        init: Some(InitImage {
            image: gradient(64, 64),
            strength: 0.8,
            mask: None,
        }),
        depth,
        ..GenerateRequest::new("a red ball on a wooden floor")
    }
}

fn run(model: &SdModel, req: &GenerateRequest) -> Generated {
    generate(model, req, &mut |_| true).unwrap()
}

fn refusal(model: &SdModel, req: &GenerateRequest) -> String {
    match generate(model, req, &mut |_| true) {
        Err(e @ EngineError::InvalidRequest(_)) => e.to_string(),
        Err(e) => panic!("expected an invalid request, got {e}"),
        Ok(_) => panic!("expected an invalid request, got an image"),
    }
}

#[test]
fn tiny_depth_models_are_detected_as_depth_in_both_layouts() {
    let m = models();
    let dir = tempfile::tempdir().unwrap();
    let diffusers = make(
        dir.path(),
        Preset::TinyDepth,
        OutputLayout::Diffusers,
        "tiny-depth",
    );
    let diffusers = load(&diffusers);
    for model in [&m.depth, &diffusers] {
        assert!(model.arch.is_depth());
        assert_eq!(model.arch.conditioning(), UnetConditioning::Depth);
        assert_eq!(
            (model.arch.unet.in_channels, model.arch.unet.out_channels),
            (5, 4)
        );
        // The single file carries no ModelSpec, as the published one: a 5-channel SD 2
        // UNet is read as the 512 epsilon model it is, not as 768 v-prediction.
        assert_eq!(
            (model.arch.family, model.arch.prediction),
            (Family::Sd2, Prediction::Epsilon)
        );
        assert_eq!(model.default_size(), 512);
    }
    assert!(!m.plain.arch.is_depth());
    assert_eq!(m.plain.arch.conditioning(), UnetConditioning::Plain);
    // The same weights under either layout's names give the same image.
    let req = img2img(Some(ball()));
    assert_eq!(run(&m.depth, &req).image, run(&diffusers, &req).image);
    // The bundled depth estimator's weights (depth_model.*) are passed over.
    let file = std::fs::read(&m.depth_path).unwrap();
    assert!(file
        .windows(b"depth_model.model.".len())
        .any(|w| w == b"depth_model.model."));
}

#[test]
fn img2img_with_a_depth_map_is_reproducible_and_follows_the_map() {
    let model = &models().depth;
    let first = run(model, &img2img(Some(ball())));
    assert_eq!((first.image.width, first.image.height), (64, 64));
    let again = run(model, &img2img(Some(ball())));
    assert_eq!(first.png_bytes().unwrap(), again.png_bytes().unwrap());

    // Another scene changes the picture.
    let mut other = ball();
    other.values.reverse();
    assert_ne!(run(model, &img2img(Some(other))).image, first.image);

    // Only the shape of the depth counts, not its units: each map is stretched to
    // [-1, 1]. (×4 is exact in floating point, so the bytes must match.)
    let mut scaled = ball();
    scaled.values.iter_mut().for_each(|v| *v *= 4.0);
    assert_eq!(run(model, &img2img(Some(scaled))).image, first.image);

    // A flat map says nothing about depth, and is no error.
    let flat = DepthMap {
        width: 8,
        height: 8,
        values: vec![0.5; 64],
    };
    let flat = run(model, &img2img(Some(flat))).image;
    assert_ne!(flat, first.image);
}

#[test]
fn a_depth_model_without_a_depth_map_is_refused_with_the_reason() {
    let m = models();
    let msg = refusal(&m.depth, &img2img(None));
    assert!(
        msg.contains("this is a depth model: it needs a depth map"),
        "{msg}"
    );
    assert!(msg.contains("depth preprocessor"), "{msg}");
    assert!(msg.contains("init image"), "{msg}");
    // txt2img too.
    let txt = GenerateRequest {
        init: None,
        ..img2img(None)
    };
    assert!(refusal(&m.depth, &txt).contains("needs a depth map"));
}

#[test]
fn bad_depth_maps_are_refused_naming_the_field() {
    let m = models();
    let wrong_length = DepthMap {
        width: 8,
        height: 8,
        values: vec![1.0; 63],
    };
    let mut nan = ball();
    nan.values[50] = f32::NAN;
    let mut infinite = ball();
    infinite.values[0] = f32::INFINITY;
    let empty = DepthMap {
        width: 0,
        height: 0,
        values: Vec::new(),
    };
    let cases = [
        (
            wrong_length,
            "depth map values must hold width × height = 8×8 numbers (row-major), got 63",
        ),
        (
            nan,
            "depth map values must all be finite, value 50 (row 1, column 2) is NaN",
        ),
        (infinite, "depth map values must all be finite, value 0"),
        (empty, "depth map must not be empty"),
    ];
    for (depth, expected) in cases {
        let req = img2img(Some(depth));
        let err = req.validate().unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
        // Refused before any model work, whether or not the model reads depth.
        for model in [&m.depth, &m.plain] {
            let msg = refusal(model, &req);
            assert!(msg.contains(expected), "{msg}");
        }
    }
}

#[test]
fn models_without_a_depth_input_ignore_a_depth_map() {
    let plain = &models().plain;
    assert_eq!(
        run(plain, &img2img(Some(ball()))).image,
        run(plain, &img2img(None)).image
    );
}

#[test]
fn hires_fix_gives_the_second_pass_its_extra_channels_at_the_new_size() {
    let m = models();
    let dir = tempfile::tempdir().unwrap();
    let inpaint = load(&make(
        dir.path(),
        Preset::TinyInpaint,
        OutputLayout::SingleFile,
        "tiny-inpainting.safetensors",
    ));
    let hires = |depth| GenerateRequest {
        init: None,
        hires: Some(HiresFix {
            scale: 1.5,
            upscaler: HiresUpscaler::Latent,
            steps: 3,
            denoising_strength: 0.6,
        }),
        ..img2img(depth)
    };
    let out = run(&m.depth, &hires(Some(ball())));
    assert_eq!((out.image.width, out.image.height), (96, 96));
    assert_eq!(run(&m.depth, &hires(Some(ball()))).image, out.image);
    let mut other = ball();
    other.values.reverse();
    assert_ne!(run(&m.depth, &hires(Some(other))).image, out.image);
    // A 9-channel inpainting model's mask and masked latent are remade at the new size.
    let out = run(&inpaint, &hires(None));
    assert_eq!((out.image.width, out.image.height), (96, 96));
}
