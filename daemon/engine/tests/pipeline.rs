//! The engine end to end on the tiny random-weight model: loading both layouts, every
//! sampler and schedule, seeds, img2img and infotext.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ra_engine::make_model::{MakeModel, OutputLayout, Preset};
use ra_engine::{generate, GenerateRequest, Generated, InitImage, LoadOptions, SdModel};
use ra_wire::{GenerationInfo, PngImage, SamplerName, ScheduleType};

struct Fixture {
    _dir: tempfile::TempDir,
    diffusers: PathBuf,
    single: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let diffusers = dir.path().join("tiny");
        let single = dir.path().join("tiny.safetensors");
        for (layout, out) in [
            (OutputLayout::Diffusers, &diffusers),
            (OutputLayout::SingleFile, &single),
        ] {
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
            single,
        }
    })
}

fn load(path: &Path) -> SdModel {
    SdModel::load(path, &LoadOptions::cpu()).unwrap()
}

fn request(seed: i64) -> GenerateRequest {
    GenerateRequest {
        negative_prompt: "blurry, lowres".into(),
        steps: 6,
        seed,
        width: 64,
        height: 64,
        ..GenerateRequest::new("a watercolor fox, 山水")
    }
}

fn run(model: &SdModel, req: &GenerateRequest) -> Generated {
    generate(model, req, &mut |_| true).unwrap()
}

#[test]
fn both_layouts_load_the_same_weights_and_give_the_same_pixels() {
    let f = fixture();
    let (a, b) = (load(&f.diffusers), load(&f.single));
    assert_eq!(a.arch.unet.inner.blocks.len(), 3);
    assert_eq!(b.arch.unet.inner.layers_per_block, 1);
    let req = request(42);
    assert_eq!(run(&a, &req).image, run(&b, &req).image);
}

#[test]
fn same_seed_gives_identical_bytes_and_other_seeds_differ() {
    let model = load(&fixture().single);
    let first = run(&model, &request(42)).png_bytes().unwrap();
    let again = run(&model, &request(42)).png_bytes().unwrap();
    assert_eq!(first, again);
    assert_ne!(
        run(&model, &request(43)).image.rgb,
        run(&model, &request(42)).image.rgb
    );
}

#[test]
fn random_seed_is_reported_and_reproduces_the_image() {
    let model = load(&fixture().single);
    let random = run(&model, &request(-1));
    assert!(random.info.seed <= u64::from(u32::MAX));
    let replay = run(&model, &request(random.info.seed as i64));
    assert_eq!(random.image, replay.image);
}

#[test]
fn every_sampler_and_schedule_runs_and_records_itself() {
    let model = load(&fixture().diffusers);
    let mut images = std::collections::HashMap::new();
    for sampler in SamplerName::ALL {
        for schedule in ScheduleType::ALL {
            let req = GenerateRequest {
                sampler,
                schedule_type: schedule,
                steps: 3,
                ..request(3)
            };
            let mut progress = Vec::new();
            let out = generate(&model, &req, &mut |p| {
                progress.push((p.step, p.total));
                true
            })
            .unwrap();
            // Samplers that call the model twice a step report the step they are on.
            let steps: Vec<u32> = progress.iter().map(|p| p.0).collect();
            assert!(progress.iter().all(|p| p.1 == 3), "{sampler} {schedule}");
            assert!(
                steps.first() == Some(&1)
                    && steps.last() == Some(&3)
                    && steps.windows(2).all(|w| w[0] <= w[1]),
                "{sampler} {schedule}: {steps:?}"
            );
            assert_eq!((out.image.width, out.image.height), (64, 64));
            let info = GenerationInfo::parse(&out.info.render()).unwrap();
            assert_eq!((info.sampler, info.schedule_type), (sampler, schedule));
            images.insert((sampler, schedule), out.image.rgb);
        }
    }
    use {SamplerName::*, ScheduleType::*};
    // Automatic is each sampler's A1111 default.
    assert!(images[&(DpmPp2m, Automatic)] == images[&(DpmPp2m, Karras)]);
    assert!(images[&(DpmPp2mSde, Automatic)] == images[&(DpmPp2mSde, Exponential)]);
    assert!(images[&(Euler, Automatic)] == images[&(Euler, Uniform)]);
    // DDIM's update (eta 0) is Euler's step written in x0-form, so on the same levels
    // they agree. Every other pair of samplers differs.
    assert!(images[&(Ddim, Karras)] == images[&(Euler, Karras)]);
    let distinct: std::collections::HashSet<_> = SamplerName::ALL
        .iter()
        .map(|&s| &images[&(s, Karras)])
        .collect();
    assert_eq!(distinct.len(), SamplerName::ALL.len() - 1);
}

#[test]
fn infotext_in_the_png_parses_back_to_the_request() {
    let f = fixture();
    let model = load(&f.single);
    let req = GenerateRequest {
        sampler: SamplerName::DpmPp2m,
        schedule_type: ScheduleType::Karras,
        cfg_scale: 6.5,
        ..request(1234)
    };
    let bytes = run(&model, &req).png_bytes().unwrap();
    let text = ra_wire::png_text::read_parameters(&bytes).unwrap().unwrap();
    let info = GenerationInfo::parse(&text).unwrap();
    assert_eq!(info.prompt, "a watercolor fox, 山水");
    assert_eq!(info.negative_prompt, "blurry, lowres");
    assert_eq!((info.steps, info.seed, info.cfg_scale), (6, 1234, 6.5));
    assert_eq!((info.width, info.height), (64, 64));
    assert_eq!(info.model, "tiny");
    assert_eq!(
        info.model_hash,
        ra_engine::model::autov2(&f.single).unwrap()
    );
    assert_eq!(info.model_hash.len(), 10);
}

fn gradient(w: u32, h: u32) -> PngImage {
    let rgb = (0..h)
        .flat_map(|y| (0..w).flat_map(move |x| [(x * 4) as u8, (y * 4) as u8, 128]))
        .collect();
    PngImage::new(w, h, rgb).unwrap()
}

#[test]
fn img2img_at_strength_zero_returns_the_input() {
    let model = load(&fixture().single);
    let input = gradient(64, 64);
    let req = GenerateRequest {
        init: Some(InitImage {
            image: input.clone(),
            strength: 0.0,
            mask: None,
        }),
        ..request(5)
    };
    let mut calls = 0;
    let out = generate(&model, &req, &mut |_| {
        calls += 1;
        true
    })
    .unwrap();
    // No step runs, so there is no VAE round trip either: the tolerance is zero.
    assert_eq!(calls, 0);
    assert_eq!(out.image, input);
    assert!(out.info.render().contains("Denoising strength: 0"));
}

#[test]
fn img2img_runs_round_strength_times_steps_and_resizes_the_input() {
    let model = load(&fixture().single);
    for (strength, steps, expected) in [(0.5, 20, 10), (0.75, 6, 5), (0.33, 10, 3), (1.0, 4, 4)] {
        let req = GenerateRequest {
            steps,
            init: Some(InitImage {
                image: gradient(100, 60),
                strength,
                mask: None,
            }),
            ..request(5)
        };
        let mut calls = 0;
        let out = generate(&model, &req, &mut |p| {
            calls += 1;
            assert_eq!(p.total, expected);
            true
        })
        .unwrap();
        assert_eq!(calls, expected, "strength {strength} × {steps} steps");
        assert_eq!((out.image.width, out.image.height), (64, 64));
        assert!(out
            .info
            .render()
            .contains(&format!("Denoising strength: {strength}")));
    }
}

#[test]
fn cancelling_stops_at_the_step() {
    let model = load(&fixture().single);
    let mut calls = 0;
    let err = generate(&model, &request(1), &mut |p| {
        calls += 1;
        p.step < 2
    })
    .unwrap_err();
    assert!(matches!(err, ra_engine::EngineError::Cancelled), "{err}");
    assert_eq!(calls, 2);
}

#[test]
fn half_precision_runs_and_stays_close_to_f32() {
    let f = fixture();
    let full = run(&load(&f.single), &request(9)).image;
    let half = SdModel::load(
        &f.single,
        &LoadOptions {
            dtype: ra_engine::candle::DType::F16,
            ..LoadOptions::cpu()
        },
    )
    .unwrap();
    let h = run(&half, &request(9)).image;
    let mean_diff = full
        .rgb
        .iter()
        .zip(&h.rgb)
        .map(|(a, b)| (*a as f64 - *b as f64).abs())
        .sum::<f64>()
        / full.rgb.len() as f64;
    assert!(mean_diff < 8.0, "mean difference {mean_diff}");
}

#[test]
fn tokenizer_from_vocab_and_merges_matches_tokenizer_json_and_builtin() {
    use ra_engine::tokenizer::ClipTokenizer;
    let dir = tempfile::tempdir().unwrap();
    let tok = fixture().diffusers.join("tokenizer");
    for f in ["vocab.json", "merges.txt"] {
        std::fs::copy(tok.join(f), dir.path().join(f)).unwrap();
    }
    let prompt = "A (masterpiece:1.2) photo of Ünïcode café, 水墨画, 42 cats!!";
    let from_json = ClipTokenizer::from_dir(&tok)
        .unwrap()
        .encode(prompt)
        .unwrap();
    let from_pair = ClipTokenizer::from_dir(dir.path())
        .unwrap()
        .encode(prompt)
        .unwrap();
    let builtin = ClipTokenizer::builtin().unwrap().encode(prompt).unwrap();
    assert_eq!(from_json, from_pair);
    assert_eq!(from_json, builtin);
    let err = ClipTokenizer::from_dir(&dir.path().join("missing"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("neither tokenizer.json nor vocab.json + merges.txt"),
        "{err}"
    );
}

#[test]
fn make_model_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.safetensors");
    let b = dir.path().join("b.safetensors");
    for p in [&a, &b] {
        MakeModel {
            preset: Preset::Tiny,
            layout: OutputLayout::SingleFile,
            seed: 7,
            dtype: ra_engine::candle::DType::F32,
        }
        .write(p)
        .unwrap();
    }
    let bytes = |p: &Path| std::fs::read(p).unwrap();
    assert!(bytes(&a) == bytes(&b), "same seed, different files");
    assert!(
        bytes(&a) == bytes(&fixture().single),
        "same seed, different files"
    );
}

#[test]
fn sd2_shaped_model_reads_openclip_weights_and_v_prediction_in_both_layouts() {
    use ra_engine::arch::{Family, Prediction};
    let dir = tempfile::tempdir().unwrap();
    let diffusers = dir.path().join("tiny-sd2");
    let single = dir.path().join("tiny-sd2.safetensors");
    for (layout, out) in [
        (OutputLayout::Diffusers, &diffusers),
        (OutputLayout::SingleFile, &single),
    ] {
        MakeModel {
            preset: Preset::TinySd2,
            layout,
            seed: 11,
            dtype: ra_engine::candle::DType::F32,
        }
        .write(out)
        .unwrap();
    }
    let (a, b) = (load(&diffusers), load(&single));
    for m in [&a, &b] {
        assert_eq!(
            (m.arch.family, m.arch.prediction),
            (Family::Sd2, Prediction::V)
        );
        assert_eq!(m.arch.clip.pad_id, 0);
        // The checkpoint holds the whole OpenCLIP tower; SD 2.x stops one layer short.
        assert_eq!(m.arch.clip.layers, 2);
        assert!(m.arch.unet.inner.use_linear_projection);
    }
    let req = request(21);
    let v = run(&a, &req).image;
    assert_eq!(
        v,
        run(&b, &req).image,
        "fused q/k/v and layer mapping must read the same weights"
    );

    // The prediction type comes from the scheduler config: flipping it changes the image.
    let cfg = diffusers.join("scheduler/scheduler_config.json");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("v_prediction", "epsilon");
    std::fs::write(&cfg, text).unwrap();
    let eps = load(&diffusers);
    assert_eq!(eps.arch.prediction, Prediction::Epsilon);
    assert_ne!(run(&eps, &req).image, v);
}
