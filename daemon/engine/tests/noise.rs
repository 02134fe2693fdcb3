//! RA's noise against the reference generators' own outputs (data/a1111/noise.json; its
//! README says where each vector came from): A1111's NV Philox for `GPU`, PyTorch's CPU
//! generator for `CPU`, and A1111's variation-seed slerp.

use ra_engine::candle::Device;
use ra_engine::noise::{initial_noise, NoiseStream, RngSource, Variation};
use serde_json::Value;

fn data() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/a1111/noise.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn shape(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

/// Largest absolute difference.
fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

const SEEDS: [u64; 4] = [0, 1, 42, 4_294_967_295];

fn check_draws(section: &Value, rng: RngSource, tolerance: f32) {
    for case in section["cases"].as_array().unwrap() {
        let seed = case["seed"].as_u64().unwrap();
        let n: usize = shape(&case["shape"]).iter().product();
        let mut stream = NoiseStream::new(rng, seed);
        for (i, draw) in case["draws"].as_array().unwrap().iter().enumerate() {
            let d = max_diff(&stream.normals(n), &floats(draw));
            assert!(d <= tolerance, "{rng:?} seed {seed} draw {i}: off by {d}");
        }
    }
    for seed in SEEDS {
        let expected = floats(&section["first16_1x4x64x64"][seed.to_string()]);
        let ours = NoiseStream::new(rng, seed).normals(4 * 64 * 64);
        let d = max_diff(&ours[..16], &expected);
        assert!(
            d <= tolerance,
            "{rng:?} seed {seed} at 1x4x64x64: off by {d}"
        );
    }
}

#[test]
fn gpu_and_nv_noise_is_a1111s_philox_stream() {
    let data = data();
    // Bit for bit, apart from the last ulp of libm's f64 log/sin.
    check_draws(&data["gpu"], RngSource::Gpu, 1e-6);
    check_draws(&data["gpu"], RngSource::Nv, 1e-6);
    assert_eq!(
        NoiseStream::new(RngSource::Gpu, 42).normals(64),
        NoiseStream::new(RngSource::Nv, 42).normals(64)
    );
}

#[test]
fn cpu_noise_is_pytorchs_cpu_generator() {
    let data = data();
    // PyTorch's scalar kernel, which RA follows, to the ulp of f32 libm.
    check_draws(&data["cpu_nonvectorized"], RngSource::Cpu, 1e-6);
    // Its AVX2 kernel (PyTorch's default on most PCs) uses vectorised log/sin/cos.
    check_draws(&data["cpu"], RngSource::Cpu, 5e-6);
    for seed in SEEDS {
        let expected = floats(&data["cpu"]["small"][seed.to_string()]);
        let ours = NoiseStream::new(RngSource::Cpu, seed).normals(expected.len());
        assert!(max_diff(&ours, &expected) <= 1e-7, "seed {seed}: {ours:?}");
    }
}

#[test]
fn variation_seeds_slerp_as_a1111_does() {
    let data = data();
    for case in data["gpu_subseed_slerp"]["cases"].as_array().unwrap() {
        let mut s = vec![1];
        s.extend(shape(&case["shape"]));
        let variation = Variation {
            seed: case["subseed"].as_u64().unwrap(),
            strength: case["subseed_strength"].as_f64().unwrap(),
        };
        let seed = case["seed"].as_u64().unwrap();
        let (noise, _) =
            initial_noise(RngSource::Gpu, seed, Some(variation), &s, &Device::Cpu).unwrap();
        let ours = noise.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let d = max_diff(&ours, &floats(&case["values"]));
        assert!(d <= 1e-5, "seed {seed} + {variation:?}: off by {d}");
    }
}
