//! What an A1111 user brings along, on the tiny random-weight models: prompt syntax
//! that changes the conditioning, seeds from either generator and variation seeds, clip
//! skip, and inpainting with both 4- and 9-channel models.

use std::path::PathBuf;
use std::sync::OnceLock;

use ra_engine::inpaint::{InpaintFill, Mask};
use ra_engine::make_model::{MakeModel, OutputLayout, Preset};
use ra_engine::noise::{RngSource, Variation};
use ra_engine::{generate, GenerateRequest, Generated, InitImage, LoadOptions, SdModel};
use ra_wire::{GenerationInfo, PngImage};

struct Models {
    _dir: tempfile::TempDir,
    plain: SdModel,
    inpaint: SdModel,
    inpaint_path: PathBuf,
}

fn models() -> &'static Models {
    static M: OnceLock<Models> = OnceLock::new();
    M.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let make = |preset, name: &str| {
            let out = dir.path().join(name);
            MakeModel {
                preset,
                layout: OutputLayout::SingleFile,
                seed: 7,
                dtype: ra_engine::candle::DType::F32,
            }
            .write(&out)
            .unwrap();
            out
        };
        let plain = make(Preset::Tiny, "tiny.safetensors");
        let inpaint_path = make(Preset::TinyInpaint, "tiny-inpainting.safetensors");
        Models {
            plain: SdModel::load(&plain, &LoadOptions::cpu()).unwrap(),
            inpaint: SdModel::load(&inpaint_path, &LoadOptions::cpu()).unwrap(),
            inpaint_path,
            _dir: dir,
        }
    })
}

fn request(prompt: &str) -> GenerateRequest {
    GenerateRequest {
        negative_prompt: "blurry".into(),
        steps: 4,
        seed: 42,
        width: 64,
        height: 64,
        ..GenerateRequest::new(prompt)
    }
}

fn run(model: &SdModel, req: &GenerateRequest) -> Generated {
    generate(model, req, &mut |_| true).unwrap()
}

fn pixels(prompt: &str) -> Vec<u8> {
    run(&models().plain, &request(prompt)).image.rgb
}

#[test]
fn prompt_syntax_changes_what_the_model_is_told() {
    let plain = pixels("a red fox");
    // Emphasis, prompt editing, alternation, AND and BREAK each change the conditioning.
    for prompt in [
        "a (red:1.5) fox",
        "a [red:blue:2] fox",
        "a [red|blue] fox",
        "a red fox AND a snowy field:0.7",
        "a red BREAK fox",
    ] {
        assert_ne!(pixels(prompt), plain, "{prompt}");
    }
    // Weight 1 emphasis and an edit that never switches are the plain prompt.
    assert_eq!(pixels("a (red:1.0) fox"), plain);
    assert_eq!(pixels("a [red:blue:4] fox"), plain);
    // Escaped brackets are text, not emphasis.
    assert_ne!(pixels("a \\(red\\) fox"), pixels("a (red) fox"));
}

#[test]
fn prompts_past_75_tokens_are_not_cut_off() {
    let long = "cat, ".repeat(40);
    let longer = format!("{long} wearing a hat");
    // Both are longer than one 75-token window; the words at the end still count.
    assert_ne!(pixels(&long), pixels(&longer));
}

#[test]
fn extra_network_tags_are_not_read_as_text() {
    assert_eq!(
        pixels("a red fox <hypernet:nothing:1>"),
        pixels("a red fox ")
    );
}

#[test]
fn each_generator_gives_its_own_reproducible_noise_and_says_so() {
    let model = &models().plain;
    let gpu = run(model, &request("a fox"));
    let cpu_req = GenerateRequest {
        rng: RngSource::Cpu,
        ..request("a fox")
    };
    let cpu = run(model, &cpu_req);
    assert_ne!(gpu.image, cpu.image);
    assert_eq!(run(model, &cpu_req).image, cpu.image);
    let nv = run(
        model,
        &GenerateRequest {
            rng: RngSource::Nv,
            ..request("a fox")
        },
    );
    assert_eq!(nv.image, gpu.image);
    assert!(!gpu.info.render().contains("RNG:"));
    assert!(cpu.info.render().contains("RNG: CPU"));
    assert!(nv.info.render().contains("RNG: NV"));
}

#[test]
fn variation_seeds_blend_and_are_recorded() {
    let model = &models().plain;
    let with = |strength| {
        run(
            model,
            &GenerateRequest {
                variation: Some(Variation { seed: 7, strength }),
                ..request("a fox")
            },
        )
    };
    let base = run(model, &request("a fox"));
    assert_eq!(with(0.0).image, base.image);
    let varied = with(0.3);
    assert_ne!(varied.image, base.image);
    let info = GenerationInfo::parse(&varied.info.render()).unwrap();
    let extra: std::collections::HashMap<_, _> = info.extra.into_iter().collect();
    assert_eq!(extra["Variation seed"], "7");
    assert_eq!(extra["Variation seed strength"], "0.3");
}

#[test]
fn clip_skip_uses_an_earlier_layer() {
    let model = &models().plain;
    let skipped = run(
        model,
        &GenerateRequest {
            clip_skip: 2,
            ..request("a fox")
        },
    );
    assert_ne!(skipped.image, run(model, &request("a fox")).image);
    assert!(skipped.info.render().contains("Clip skip: 2"));
}

fn gradient(w: u32, h: u32) -> PngImage {
    let rgb = (0..h)
        .flat_map(|y| (0..w).flat_map(move |x| [(x * 4) as u8, (y * 4) as u8, 128]))
        .collect();
    PngImage::new(w, h, rgb).unwrap()
}

/// White on the right half.
fn right_half(w: u32, h: u32) -> image::GrayImage {
    image::GrayImage::from_fn(w, h, |x, _| image::Luma([if x >= w / 2 { 255 } else { 0 }]))
}

fn inpaint_request(fill: InpaintFill, only_masked: bool) -> GenerateRequest {
    GenerateRequest {
        init: Some(InitImage {
            image: gradient(64, 64),
            strength: 0.9,
            mask: Some(Mask {
                image: right_half(64, 64),
                blur: 2,
                invert: false,
                fill,
                only_masked,
                padding: 8,
            }),
        }),
        ..request("a fox")
    }
}

/// How many pixels of the left (kept) and right (repainted) bands differ from the input,
/// leaving out the blurred seam.
fn changed(out: &PngImage, input: &PngImage) -> (usize, usize) {
    let (mut left, mut right) = (0, 0);
    for y in 0..out.height as usize {
        for x in 0..out.width as usize {
            let i = (y * out.width as usize + x) * 3;
            let differs = out.rgb[i..i + 3] != input.rgb[i..i + 3];
            match x {
                0..24 => left += usize::from(differs),
                40.. => right += usize::from(differs),
                _ => {}
            }
        }
    }
    (left, right)
}

#[test]
fn inpainting_keeps_unmasked_pixels_and_repaints_masked_ones() {
    let input = gradient(64, 64);
    for fill in InpaintFill::ALL {
        for only_masked in [false, true] {
            let out = run(&models().plain, &inpaint_request(fill, only_masked)).image;
            assert_eq!((out.width, out.height), (64, 64));
            let (left, right) = changed(&out, &input);
            assert_eq!(
                left, 0,
                "{fill:?} only_masked={only_masked}: kept pixels changed"
            );
            assert!(
                right > 24 * 64 / 2,
                "{fill:?} only_masked={only_masked}: {right} repainted"
            );
        }
    }
}

#[test]
fn an_inverted_mask_repaints_the_other_side() {
    let input = gradient(64, 64);
    let mut req = inpaint_request(InpaintFill::Original, false);
    if let Some(mask) = req.init.as_mut().and_then(|i| i.mask.as_mut()) {
        mask.invert = true;
    }
    let (left, right) = changed(&run(&models().plain, &req).image, &input);
    assert_eq!(right, 0);
    assert!(left > 24 * 64 / 2);
}

#[test]
fn an_empty_mask_is_refused_with_a_reason() {
    let mut req = inpaint_request(InpaintFill::Original, false);
    if let Some(mask) = req.init.as_mut().and_then(|i| i.mask.as_mut()) {
        mask.image = image::GrayImage::new(64, 64);
    }
    let err = generate(&models().plain, &req, &mut |_| true).unwrap_err();
    assert!(err.to_string().contains("the mask is empty"), "{err}");
}

#[test]
fn nine_channel_inpainting_models_are_detected_and_inpaint() {
    let m = models();
    assert_eq!(m.inpaint.arch.unet.in_channels, 9);
    let reloaded = SdModel::load(&m.inpaint_path, &LoadOptions::cpu()).unwrap();
    assert_eq!(reloaded.arch.unet.in_channels, 9);
    let input = gradient(64, 64);
    let out = run(&m.inpaint, &inpaint_request(InpaintFill::Original, false)).image;
    let (left, right) = changed(&out, &input);
    assert_eq!(left, 0);
    assert!(right > 24 * 64 / 2);
    // It also makes pictures from nothing, as A1111 lets inpainting models do.
    let txt = run(&m.inpaint, &request("a fox"));
    assert_eq!((txt.image.width, txt.image.height), (64, 64));
}

/// Folders with two LoRAs and an embedding made for the tiny model.
fn networks() -> &'static (tempfile::TempDir, ra_engine::networks::NetworkDirs) {
    static N: OnceLock<(tempfile::TempDir, ra_engine::networks::NetworkDirs)> = OnceLock::new();
    N.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (loras, embeddings) = (dir.path().join("Lora"), dir.path().join("embeddings"));
        std::fs::create_dir_all(loras.join("styles")).unwrap();
        std::fs::create_dir_all(&embeddings).unwrap();
        let model = &models().plain;
        ra_engine::make_model::write_lora(model, &loras.join("ink.safetensors"), 1, 4).unwrap();
        ra_engine::make_model::write_lora(model, &loras.join("styles/glow.safetensors"), 2, 2)
            .unwrap();
        let dim = model.arch.clip.embed_dim;
        ra_engine::make_model::write_embedding(&embeddings.join("foxstyle.safetensors"), dim, 3, 5)
            .unwrap();
        // Made for a wider text encoder (SD 2.x): skipped, as A1111 skips it.
        ra_engine::make_model::write_embedding(&embeddings.join("wide.safetensors"), dim * 2, 1, 5)
            .unwrap();
        let dirs = ra_engine::networks::NetworkDirs {
            loras: vec![loras],
            embeddings: vec![embeddings],
            ..Default::default()
        };
        (dir, dirs)
    })
}

fn with_networks(prompt: &str) -> GenerateRequest {
    GenerateRequest {
        networks: networks().1.clone(),
        ..request(prompt)
    }
}

/// The bytes of every weight the model was built from, in name order.
fn weight_bytes(model: &SdModel) -> Vec<u8> {
    let mut out = Vec::new();
    for map in [&model.text_encoder_weights, &model.unet_weights] {
        let mut names: Vec<&String> = map.keys().collect();
        names.sort();
        for n in names {
            let t = map[n.as_str()]
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            out.extend(t.iter().flat_map(|v| v.to_le_bytes()));
        }
    }
    out
}

#[test]
fn a_lora_changes_the_image_for_one_generation_only() {
    let model = &models().plain;
    let before = weight_bytes(model);
    let base = run(model, &with_networks("a fox")).image;
    let ink = run(model, &with_networks("a fox <lora:ink:1>"));
    assert_ne!(ink.image, base);
    // Weight 0 is the base model, byte for byte.
    assert_eq!(run(model, &with_networks("a fox <lora:ink:0>")).image, base);
    // Several at once, and only the UNet part of one.
    let both = run(
        model,
        &with_networks("a fox <lora:ink:0.7> <lora:glow:0:1>"),
    )
    .image;
    assert_ne!(both, ink.image);
    assert_ne!(both, base);
    // The loaded model is exactly as it was, and generates as before.
    assert_eq!(weight_bytes(model), before);
    assert_eq!(run(model, &with_networks("a fox")).image, base);
    let hash =
        ra_engine::networks::lora_hash(&networks().1.loras[0].join("ink.safetensors")).unwrap();
    assert_eq!(hash.len(), 12);
    assert!(
        ink.info
            .render()
            .contains(&format!("Lora hashes: \"ink: {hash}\"")),
        "{}",
        ink.info.render()
    );
}

#[test]
fn a_missing_or_foreign_lora_is_refused_by_name() {
    let model = &models().plain;
    match generate(model, &with_networks("a fox <lora:nowhere:1>"), &mut |_| {
        true
    }) {
        Ok(_) => panic!("a missing LoRA was accepted"),
        Err(e) => assert!(e.to_string().contains("no nowhere.safetensors"), "{e}"),
    }
    // LoRAs made for other architectures: one whose layers have other sizes, one
    // whose layers this model does not have at all (SDXL's second text encoder).
    let dir = tempfile::tempdir().unwrap();
    let t = |dims: &[usize]| {
        ra_engine::candle::Tensor::zeros(
            dims,
            ra_engine::candle::DType::F32,
            &ra_engine::candle::Device::Cpu,
        )
        .unwrap()
    };
    let key = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
    let wrong_size = std::collections::HashMap::from([
        (format!("{key}.lora_down.weight"), t(&[2, 999])),
        (format!("{key}.lora_up.weight"), t(&[5, 2])),
    ]);
    ra_engine::candle::safetensors::save(&wrong_size, dir.path().join("big.safetensors")).unwrap();
    let xl = "lora_te2_text_model_encoder_layers_0_self_attn_q_proj";
    let sdxl = std::collections::HashMap::from([
        (format!("{xl}.lora_down.weight"), t(&[2, 1280])),
        (format!("{xl}.lora_up.weight"), t(&[1280, 2])),
    ]);
    ra_engine::candle::safetensors::save(&sdxl, dir.path().join("xl.safetensors")).unwrap();
    for (name, needle) in [
        ("big", "does not fit this model"),
        ("xl", "another architecture"),
    ] {
        let req = GenerateRequest {
            networks: ra_engine::networks::NetworkDirs {
                loras: vec![dir.path().to_path_buf()],
                ..Default::default()
            },
            ..request(&format!("a fox <lora:{name}:1>"))
        };
        match generate(model, &req, &mut |_| true) {
            Ok(_) => panic!("<lora:{name}> was accepted"),
            Err(e) => assert!(e.to_string().contains(needle), "{e}"),
        }
    }
}

#[test]
fn an_embedding_is_used_when_the_prompt_names_it() {
    let model = &models().plain;
    let plain = run(model, &with_networks("a fox in foxstyle"));
    let without = run(model, &request("a fox in foxstyle"));
    assert_ne!(plain.image, without.image);
    let text = plain.info.render();
    assert!(text.contains("TI hashes: \"foxstyle: "), "{text}");
    // Named in the negative prompt it counts too; an unfit one is skipped.
    let neg = GenerateRequest {
        negative_prompt: "foxstyle, wide".into(),
        ..with_networks("a fox")
    };
    assert_ne!(
        run(model, &neg).image,
        run(model, &with_networks("a fox")).image
    );
    assert_eq!(
        run(model, &with_networks("a wide fox")).image,
        run(model, &request("a wide fox")).image
    );
}

#[test]
fn hires_fix_makes_a_second_larger_pass() {
    use ra_engine::pipeline::{HiresFix, HiresUpscaler, ImageUpscaler};
    let model = &models().plain;
    // An outside upscaler that hands the image back unchanged: the engine resizes what
    // comes back to the second pass's size.
    let outside = HiresUpscaler::Image(ImageUpscaler {
        name: "Same size".into(),
        run: std::sync::Arc::new(|image, _, _| Ok(image.clone())),
    });
    for upscaler in [HiresUpscaler::Latent, HiresUpscaler::Lanczos, outside] {
        let req = GenerateRequest {
            hires: Some(HiresFix {
                scale: 2.0,
                upscaler: upscaler.clone(),
                steps: 5,
                denoising_strength: 0.6,
            }),
            ..request("a fox")
        };
        // 4 first-pass steps, then round(0.6 × 5) = 3.
        assert_eq!(req.steps_to_run(), 7);
        let mut seen = Vec::new();
        let out = generate(model, &req, &mut |p| {
            seen.push((p.step, p.total));
            true
        })
        .unwrap();
        assert_eq!(seen, (1..=7).map(|s| (s, 7)).collect::<Vec<_>>());
        assert_eq!((out.image.width, out.image.height), (128, 128));
        let text = out.info.render();
        assert!(text.contains("Size: 64x64"), "{text}");
        assert!(
            text.contains(&format!(
                "Hires upscale: 2, Hires steps: 5, Hires upscaler: {}",
                upscaler.as_str()
            )),
            "{text}"
        );
        assert_eq!(run(model, &req).image, out.image);
    }
    let bad = GenerateRequest {
        hires: Some(HiresFix {
            scale: 8.0,
            upscaler: HiresUpscaler::Latent,
            steps: 0,
            denoising_strength: 0.7,
        }),
        ..request("a fox")
    };
    assert!(generate(model, &bad, &mut |_| true)
        .unwrap_err()
        .to_string()
        .contains("hires scale"));
}

#[test]
fn a_separate_vae_file_decodes_instead_of_the_checkpoints() {
    let m = models();
    let dir = tempfile::tempdir().unwrap();
    // Another tiny model's file: its VAE (LDM names under first_stage_model.) differs.
    let other = dir.path().join("other.safetensors");
    MakeModel {
        preset: Preset::Tiny,
        layout: OutputLayout::SingleFile,
        seed: 99,
        dtype: ra_engine::candle::DType::F32,
    }
    .write(&other)
    .unwrap();
    let vae_dir = dir.path().join("VAE");
    std::fs::create_dir_all(&vae_dir).unwrap();
    std::fs::copy(&other, vae_dir.join("other-vae.safetensors")).unwrap();
    let req = GenerateRequest {
        vae: Some("other-vae.safetensors".into()),
        networks: ra_engine::networks::NetworkDirs {
            vaes: vec![vae_dir.clone()],
            ..Default::default()
        },
        ..request("a fox")
    };
    let out = run(&m.plain, &req);
    assert_ne!(out.image, run(&m.plain, &request("a fox")).image);
    let text = out.info.render();
    let hash = ra_engine::model::autov2(&vae_dir.join("other-vae.safetensors")).unwrap();
    assert!(
        text.contains(&format!("VAE hash: {hash}, VAE: other-vae.safetensors")),
        "{text}"
    );
    // The same VAE as A1111's standalone files hold it: LDM names without the prefix.
    let all =
        ra_engine::candle::safetensors::load(&other, &ra_engine::candle::Device::Cpu).unwrap();
    let alone: std::collections::HashMap<String, ra_engine::candle::Tensor> = all
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("first_stage_model.")?.to_string(), v)))
        .collect();
    ra_engine::candle::safetensors::save(&alone, vae_dir.join("alone.safetensors")).unwrap();
    let standalone = GenerateRequest {
        vae: Some("alone".into()),
        ..req.clone()
    };
    assert_eq!(run(&m.plain, &standalone).image, out.image);
    let missing = GenerateRequest {
        vae: Some("nope".into()),
        ..req
    };
    match generate(&m.plain, &missing, &mut |_| true) {
        Ok(_) => panic!("a missing VAE was accepted"),
        Err(e) => assert!(e.to_string().contains("no VAE named nope"), "{e}"),
    }
}
