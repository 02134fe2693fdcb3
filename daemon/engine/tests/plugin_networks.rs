//! The networks the plugin host runs for plugins (`run-model`): ESRGAN upscalers and
//! Depth Anything, read from test files in the real layouts.

use candle_core::{Device, Tensor};
use ra_engine::depth_anything::{DepthAnything, DepthShape};
use ra_engine::error::EngineError;
use ra_engine::esrgan::{self, Esrgan};
use ra_engine::make_model;

fn ramp(h: usize, w: usize) -> Tensor {
    let v: Vec<f32> = (0..3 * h * w).map(|i| (i % 97) as f32 / 96.0).collect();
    Tensor::from_vec(v, (1, 3, h, w), &Device::Cpu).unwrap()
}

#[test]
fn esrgan_in_either_naming_upscales_4x_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    for original in [false, true] {
        let path = dir.path().join(format!("4x-test-{original}.safetensors"));
        make_model::write_random_tensors(&path, 7, &esrgan::tensor_shapes(8, 2, 4, original)).unwrap();
        let net = Esrgan::load(&path, &Device::Cpu).unwrap();
        assert_eq!(net.scale(), 4);
        let out = net.upscale(&ramp(10, 7)).unwrap();
        assert_eq!(out.dims(), &[1, 3, 40, 28]);
        let again = net.upscale(&ramp(10, 7)).unwrap();
        let diff = (out - again).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert_eq!(diff, 0.0);
    }
}

#[test]
fn files_that_are_not_upscalers_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let taesd = dir.path().join("taesd_decoder.safetensors");
    make_model::write_taesd_decoder(&taesd, 1).unwrap();
    let err = Esrgan::load(&taesd, &Device::Cpu).err().unwrap().to_string();
    assert!(err.contains("is not an ESRGAN model RA can run"), "{err}");
    assert!(err.contains("SwinIR are not supported"), "{err}");

    let pickle = dir.path().join("RealESRGAN_x4plus.pth");
    std::fs::write(&pickle, b"PK\x03\x04 pretend zip").unwrap();
    assert!(matches!(Esrgan::load(&pickle, &Device::Cpu), Err(EngineError::PickleRefused { .. })));
    assert!(matches!(DepthAnything::load(&taesd, &Device::Cpu), Err(EngineError::UnsupportedNetwork { .. })));
}

#[test]
fn depth_anything_estimates_a_square_map() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("depth_anything_v2_tiny.safetensors");
    make_model::write_random_model(&path, 3, |vb| DepthShape::TINY.build(vb, false, false).map(|_| ())).unwrap();
    let net = DepthAnything::load(&path, &Device::Cpu).unwrap();
    assert_eq!(net.input_size(), 518);
    let out = net.estimate(&ramp(518, 518)).unwrap();
    assert_eq!(out.dims(), &[1, 1, 518, 518]);
    let min = out.min_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(min >= 0.0, "relative depth is non-negative, got {min}");
    let err = net.estimate(&ramp(64, 64)).err().unwrap().to_string();
    assert!(err.contains("takes [1, 3, 518, 518]"), "{err}");
}
