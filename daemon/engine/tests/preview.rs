//! Live previews with TAESD: the decoder reads madebyollin's layout (and diffusers'),
//! refuses wrong files by name and reason, and the previewer falls back to the cheap
//! projection, saying why once. Weights are random (`make_model::write_taesd_decoder`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ra_engine::candle::{DType, Device, Tensor};
use ra_engine::make_model::{write_taesd_decoder, MakeModel, OutputLayout, Preset};
use ra_engine::preview::{latent_to_rgb, PreviewKind, Previewer, TAESD_DECODER_FILE};
use ra_engine::taesd::TaesdDecoder;
use ra_engine::{generate, GenerateRequest, LoadOptions, SdModel};

fn latent(seed: u64) -> Tensor {
    let v = ra_engine::noise::SeedStream::new(seed).normals(4 * 8 * 8);
    Tensor::from_vec(v, (1, 4, 8, 8), &Device::Cpu).unwrap()
}

fn decoder_in(dir: &Path) -> PathBuf {
    let path = dir.join(TAESD_DECODER_FILE);
    write_taesd_decoder(&path, 5).unwrap();
    path
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// Every decoder tensor as the generator draws it, for files with one thing changed.
fn reference_tensors(dir: &Path) -> HashMap<String, Tensor> {
    let path = dir.join("reference.safetensors");
    write_taesd_decoder(&path, 5).unwrap();
    ra_engine::candle::safetensors::load(&path, &Device::Cpu).unwrap()
}

fn load_err(path: &Path) -> String {
    TaesdDecoder::load(path, &Device::Cpu)
        .unwrap_err()
        .to_string()
}

#[test]
fn decodes_an_8x8_latent_to_64x64_rgb_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let path = decoder_in(dir.path());
    let decoder = TaesdDecoder::load(&path, &Device::Cpu).unwrap();
    assert_eq!(decoder.latent_channels(), 4);
    let out = decoder.decode(&latent(1)).unwrap();
    assert_eq!(out.dims(), [1, 3, 64, 64]);
    let v = values(&out);
    assert!(v.iter().all(|x| (0.0..=1.0).contains(x)));
    // Random weights still give an image with structure, not one flat colour.
    let (lo, hi) = v
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(hi - lo > 0.1, "range {lo}..{hi}");

    // Same file, same latent: the same values; the generator writes the same bytes.
    let again = TaesdDecoder::load(&path, &Device::Cpu).unwrap();
    assert_eq!(values(&again.decode(&latent(1)).unwrap()), v);
    let copy = dir.path().join("copy.safetensors");
    write_taesd_decoder(&copy, 5).unwrap();
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(&path).unwrap());
    // Another latent decodes differently.
    assert_ne!(values(&decoder.decode(&latent(2)).unwrap()), v);
    // A [4, h, w] latent is a batch of one.
    let unbatched = decoder.decode(&latent(1).get(0).unwrap()).unwrap();
    assert_eq!(values(&unbatched), v);
}

#[test]
fn reads_diffusers_single_file_names_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let plain = decoder_in(dir.path());
    let prefixed: HashMap<String, Tensor> = reference_tensors(dir.path())
        .into_iter()
        .map(|(k, v)| (format!("decoder.layers.{k}"), v))
        .collect();
    let diffusers = dir.path().join("diffusion_pytorch_model.safetensors");
    ra_engine::candle::safetensors::save(&prefixed, &diffusers).unwrap();
    let a = TaesdDecoder::load(&plain, &Device::Cpu).unwrap();
    let b = TaesdDecoder::load(&diffusers, &Device::Cpu).unwrap();
    assert_eq!(
        values(&a.decode(&latent(3)).unwrap()),
        values(&b.decode(&latent(3)).unwrap())
    );
}

#[test]
fn wrong_files_are_refused_naming_the_file_and_the_fault() {
    let dir = tempfile::tempdir().unwrap();
    let tensors = reference_tensors(dir.path());
    let write = |name: &str, map: &HashMap<String, Tensor>| {
        let path = dir.path().join(name);
        ra_engine::candle::safetensors::save(map, &path).unwrap();
        path
    };

    let missing = dir.path().join("absent.safetensors");
    let e = load_err(&missing);
    assert!(e.contains("absent.safetensors"), "{e}");

    // Cut short: the header promises more than the file holds.
    let bytes = std::fs::read(dir.path().join("reference.safetensors")).unwrap();
    let truncated = dir.path().join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let e = load_err(&truncated);
    assert!(
        e.contains("truncated.safetensors") && e.contains("not a valid safetensors"),
        "{e}"
    );

    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"this is not a weight file at all").unwrap();
    let e = load_err(&garbage);
    assert!(e.contains("garbage.safetensors"), "{e}");

    let mut wrong = tensors.clone();
    wrong.insert(
        "7.weight".into(),
        Tensor::zeros((64, 64, 1, 1), DType::F32, &Device::Cpu).unwrap(),
    );
    let e = load_err(&write("wrong_shape.safetensors", &wrong));
    assert!(
        e.contains("wrong_shape.safetensors")
            && e.contains("'7.weight'")
            && e.contains("[64, 64, 1, 1]")
            && e.contains("[64, 64, 3, 3]"),
        "{e}"
    );

    let mut incomplete = tensors.clone();
    incomplete.remove("12.weight");
    let e = load_err(&write("incomplete.safetensors", &incomplete));
    assert!(
        e.contains("incomplete.safetensors") && e.contains("'12.weight' is missing"),
        "{e}"
    );

    let mut encoder = HashMap::new();
    encoder.insert(
        "0.weight".to_string(),
        Tensor::zeros((64, 3, 3, 3), DType::F32, &Device::Cpu).unwrap(),
    );
    let e = load_err(&write("taesd_encoder.safetensors", &encoder));
    assert!(
        e.contains("taesd_encoder.safetensors") && e.contains("encoder"),
        "{e}"
    );

    let mut other = HashMap::new();
    other.insert(
        "emb_params".to_string(),
        Tensor::zeros((1, 768), DType::F32, &Device::Cpu).unwrap(),
    );
    let e = load_err(&write("embedding.safetensors", &other));
    assert!(
        e.contains("embedding.safetensors") && e.contains("not a TAESD decoder"),
        "{e}"
    );

    // A decoder for another latent space is read, and refuses 4-channel latents.
    let mut sixteen = tensors.clone();
    sixteen.insert(
        "1.weight".into(),
        Tensor::zeros((64, 16, 3, 3), DType::F32, &Device::Cpu).unwrap(),
    );
    let d =
        TaesdDecoder::load(&write("taef1_decoder.safetensors", &sixteen), &Device::Cpu).unwrap();
    assert_eq!(d.latent_channels(), 16);
    let e = d.decode(&latent(1)).unwrap_err().to_string();
    assert!(e.contains("16-channel") && e.contains("got 4"), "{e}");
}

#[test]
fn previewer_uses_taesd_when_present_else_the_cheap_projection_noting_why_once() {
    let dir = tempfile::tempdir().unwrap();
    let with = dir.path().join("VAE-taesd");
    std::fs::create_dir(&with).unwrap();
    decoder_in(&with);
    let empty = dir.path().join("vae_approx");
    std::fs::create_dir(&empty).unwrap();
    let z = latent(4);

    // A folder without the file, then one with it: the first that has it wins.
    let taesd = Previewer::new(vec![empty.clone(), with.clone()]).with_taesd_share(1);
    let first = taesd.preview(&z).unwrap();
    assert_eq!(first.kind, PreviewKind::Taesd);
    assert_eq!((first.image.width, first.image.height), (64, 64));
    let note = first.note.unwrap();
    assert!(
        note.contains("TAESD") && note.contains(TAESD_DECODER_FILE),
        "{note}"
    );
    let second = taesd.preview(&z).unwrap();
    assert!(second.note.is_none());
    assert_eq!(second.image.rgb, first.image.rgb);

    // Without it: the cheap projection, the latent's size, and the places looked in.
    let cheap = Previewer::new(vec![empty.clone()]);
    let p = cheap.preview(&z).unwrap();
    assert_eq!(p.kind, PreviewKind::Cheap);
    assert_eq!(p.image, latent_to_rgb(&z).unwrap());
    let note = p.note.unwrap();
    assert!(
        note.contains("cheap") && note.contains(&empty.display().to_string()),
        "{note}"
    );
    assert!(cheap.preview(&z).unwrap().note.is_none());
    // TAESD's preview is a different picture, not an upscaled cheap one.
    assert_ne!((p.image.width, p.image.height), (64, 64));
    assert_ne!(first.image.rgb[..p.image.rgb.len()], p.image.rgb[..]);

    // A broken file: previews still come, cheap, and the note names the file and fault.
    let broken = dir.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(broken.join(TAESD_DECODER_FILE), b"{}").unwrap();
    let fallback = Previewer::new(vec![broken.clone()]);
    let p = fallback.preview(&z).unwrap();
    assert_eq!(p.kind, PreviewKind::Cheap);
    let note = p.note.unwrap();
    assert!(
        note.contains("cheap")
            && note.contains(&broken.join(TAESD_DECODER_FILE).display().to_string()),
        "{note}"
    );
    assert!(fallback.preview(&z).unwrap().note.is_none());

    // An explicit file path works as well as its folder.
    let file = Previewer::new(vec![with.join(TAESD_DECODER_FILE)]).with_taesd_share(1);
    assert_eq!(file.preview(&z).unwrap().kind, PreviewKind::Taesd);
    assert_eq!(
        Previewer::new(Vec::new()).preview(&z).unwrap().kind,
        PreviewKind::Cheap
    );
}

#[test]
fn previews_during_a_run_are_full_size_with_taesd() {
    let dir = tempfile::tempdir().unwrap();
    let model_path = dir.path().join("tiny.safetensors");
    MakeModel {
        preset: Preset::Tiny,
        layout: OutputLayout::SingleFile,
        seed: 7,
        dtype: DType::F32,
    }
    .write(&model_path)
    .unwrap();
    let model = SdModel::load(&model_path, &LoadOptions::cpu()).unwrap();
    decoder_in(dir.path());
    let taesd = Previewer::new(vec![dir.path().to_path_buf()]).with_taesd_share(1);
    let cheap = Previewer::new(Vec::new());
    let req = GenerateRequest {
        steps: 3,
        seed: 1,
        width: 64,
        height: 64,
        ..GenerateRequest::new("a fox")
    };
    let mut seen = Vec::new();
    generate(&model, &req, &mut |p| {
        let t = taesd.preview(p.denoised).unwrap();
        let c = cheap.preview(p.denoised).unwrap();
        seen.push((t.kind, t.image.width, t.image.height, c.image.width));
        true
    })
    .unwrap();
    assert_eq!(seen, vec![(PreviewKind::Taesd, 64, 64, 8); 3]);
}
