//! `ra-daemon` as a user runs it: real processes, real files, exit codes and messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use ra_wire::{GenerationInfo, SamplerName, ScheduleType};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ra-daemon"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

struct Models {
    dir: tempfile::TempDir,
    diffusers: PathBuf,
    single: PathBuf,
}

fn models() -> &'static Models {
    static M: OnceLock<Models> = OnceLock::new();
    M.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let diffusers = dir.path().join("tiny-diffusers");
        let single = dir.path().join("tiny-single.safetensors");
        for (layout, out) in [("diffusers", &diffusers), ("single-file", &single)] {
            let o = run(&[
                "dev",
                "make-model",
                "--preset",
                "tiny",
                "--layout",
                layout,
                "--out",
                out.to_str().unwrap(),
                "--seed",
                "3",
            ]);
            assert!(o.status.success(), "{}", stderr(&o));
        }
        Models {
            dir,
            diffusers,
            single,
        }
    })
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn generate(model: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "generate",
        "--model",
        p(model),
        "--prompt",
        "a lighthouse at dusk, 灯塔",
        "--negative-prompt",
        "blurry",
        "--steps",
        "4",
        "--sampler",
        "DPM++ 2M",
        "--schedule-type",
        "Karras",
        "--cfg-scale",
        "7.5",
        "--seed",
        "42",
        "--width",
        "64",
        "--height",
        "64",
        "--out",
        p(out),
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn sha256_prefix(path: &Path) -> String {
    ra_engine::model::autov2(path).unwrap()
}

#[test]
fn generate_writes_a_png_whose_parameters_parse_back_in_both_layouts() {
    let m = models();
    for (model, name, hash_of) in [
        (
            &m.diffusers,
            "tiny-diffusers",
            m.diffusers.join("unet/diffusion_pytorch_model.safetensors"),
        ),
        (&m.single, "tiny-single", m.single.clone()),
    ] {
        let out = m.dir.path().join(format!("{name}.png"));
        let o = generate(model, &out, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), p(&out));
        let bytes = std::fs::read(&out).unwrap();
        let text = ra_wire::png_text::read_parameters(&bytes).unwrap().unwrap();
        let info = GenerationInfo::parse(&text).unwrap();
        assert_eq!(info.prompt, "a lighthouse at dusk, 灯塔");
        assert_eq!(info.negative_prompt, "blurry");
        assert_eq!(info.steps, 4);
        assert_eq!(info.sampler, SamplerName::DpmPp2m);
        assert_eq!(info.schedule_type, ScheduleType::Karras);
        assert_eq!(info.cfg_scale, 7.5);
        assert_eq!(info.seed, 42);
        assert_eq!((info.width, info.height), (64, 64));
        assert_eq!(info.model_hash, sha256_prefix(&hash_of));
        assert_eq!(info.model, name);
        let img = ra_wire::png_text::decode_rgb(&bytes).unwrap();
        assert_eq!((img.width, img.height), (64, 64));
        // png-info prints the same text.
        let shown = run(&["png-info", p(&out)]);
        assert_eq!(String::from_utf8_lossy(&shown.stdout).trim_end(), text);
    }
}

#[test]
fn same_seed_gives_identical_files_across_processes_and_other_seeds_differ() {
    let m = models();
    let (a, b, c) = (
        m.dir.path().join("s1.png"),
        m.dir.path().join("s2.png"),
        m.dir.path().join("s3.png"),
    );
    assert!(generate(&m.single, &a, &[]).status.success());
    assert!(generate(&m.single, &b, &[]).status.success());
    assert!(
        std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
        "same seed, different bytes"
    );
    assert!(generate(&m.single, &c, &["--seed", "43"]).status.success());
    let px = |f: &Path| {
        ra_wire::png_text::decode_rgb(&std::fs::read(f).unwrap())
            .unwrap()
            .rgb
    };
    assert!(px(&a) != px(&c), "different seeds, same pixels");
}

#[test]
fn img2img_from_the_command_line_records_denoising_strength() {
    let m = models();
    let init = m.dir.path().join("init.png");
    let rgb: Vec<u8> = (0..48 * 40 * 3).map(|i| (i % 251) as u8).collect();
    std::fs::write(
        &init,
        ra_wire::PngImage::new(48, 40, rgb)
            .unwrap()
            .encode(None)
            .unwrap(),
    )
    .unwrap();
    let out = m.dir.path().join("i2i.png");
    let o = generate(
        &m.diffusers,
        &out,
        &["--init-image", p(&init), "--denoising-strength", "0.5"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = ra_wire::png_text::read_parameters(&std::fs::read(&out).unwrap())
        .unwrap()
        .unwrap();
    assert!(text.contains("Denoising strength: 0.5"), "{text}");
}

/// Each bad input: exit code, a message naming the problem, and no output file.
#[test]
fn bad_input_is_refused_clearly_and_leaves_no_file() {
    let m = models();
    let out = m.dir.path().join("never.png");
    let missing_dir = m.dir.path().join("no/such/dir/x.png");
    let init = m.dir.path().join("strength-init.png");
    std::fs::write(
        &init,
        ra_wire::PngImage::new(8, 8, vec![9; 8 * 8 * 3])
            .unwrap()
            .encode(None)
            .unwrap(),
    )
    .unwrap();
    let cases: Vec<(Vec<&str>, &Path, i32, &str)> = vec![
        (
            vec!["--sampler", "Heun++"],
            &out,
            2,
            "unknown sampler 'Heun++'; valid names are: Euler, Euler a, Heun, DPM2, DPM2 a, \
             DPM++ 2S a, DPM++ 2M, DPM++ SDE, DPM++ 2M SDE, LMS, DDIM, UniPC, LCM",
        ),
        (
            vec!["--schedule-type", "Cosine"],
            &out,
            2,
            "unknown schedule type 'Cosine'; valid names are: Automatic, Uniform, Karras, \
             Exponential, SGM Uniform",
        ),
        (
            vec!["--width", "65"],
            &out,
            2,
            "width must be a multiple of 8",
        ),
        (
            vec!["--height", "0"],
            &out,
            2,
            "height must be a multiple of 8",
        ),
        (
            vec!["--init-image", p(&init), "--denoising-strength", "1.5"],
            &out,
            2,
            "denoising strength must be between 0 and 1",
        ),
        (
            vec!["--steps", "0"],
            &out,
            2,
            "steps must be between 1 and 1000",
        ),
        (
            vec!["--dtype", "bf16"],
            &out,
            2,
            "bf16 cannot run on the CPU",
        ),
        (vec![], &missing_dir, 2, "does not exist"),
        (vec![], m.dir.path(), 2, "is a folder"),
    ];
    for (extra, target, code, needle) in cases {
        let o = generate(&m.single, target, &extra);
        assert_eq!(o.status.code(), Some(code), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{extra:?}: {}", stderr(&o));
        assert!(!out.exists() && !missing_dir.exists());
    }
    let o = generate(&m.dir.path().join("nope.safetensors"), &out, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    let o = generate(
        &m.single,
        &out,
        &[
            "--init-image",
            p(&m.dir.path().join("x.jpg")),
            "--denoising-strength",
            "0.4",
        ],
    );
    assert!(
        stderr(&o).contains("cannot read init image"),
        "{}",
        stderr(&o)
    );
    let o = generate(
        &m.single,
        &out,
        &["--init-image", p(&m.single), "--denoising-strength", "0.4"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not an image RA can read"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
}

/// Broken and dangerous model files: refused by content, with the reason, no panic.
#[test]
fn pickles_and_damaged_safetensors_are_refused() {
    let m = models();
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(&m.single).unwrap();
    let header_len = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut corrupt = good.clone();
    corrupt[8 + header_len / 2] = b'\x01';
    let mut huge_header = good.clone();
    huge_header[..8].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    // A pickle with a .safetensors name: the name must not fool the loader.
    let files: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "model.ckpt",
            b"PK\x03\x04archive/data.pkl".to_vec(),
            "pickle files can run arbitrary code",
        ),
        (
            "renamed.safetensors",
            b"\x80\x02}q\x00(X\x05\x00\x00\x00state".to_vec(),
            "pickle files can run arbitrary code",
        ),
        (
            "truncated.safetensors",
            good[..good.len() / 2].to_vec(),
            "download it again",
        ),
        (
            "corrupt.safetensors",
            corrupt,
            "not a valid safetensors file",
        ),
        (
            "huge.safetensors",
            huge_header,
            "not a valid safetensors file",
        ),
        (
            "text.safetensors",
            b"hello, world".to_vec(),
            "not a model RA can read",
        ),
    ];
    for (name, bytes, needle) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = dir.path().join("out.png");
        let o = generate(&path, &out, &[]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{name}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{name}: {}", stderr(&o));
        assert!(!out.exists());
    }
}

#[test]
fn prompt_tokenize_prints_clip_ids_as_json() {
    let m = models();
    for model in [None, Some(&m.diffusers), Some(&m.single)] {
        let mut args = vec!["prompt", "tokenize"];
        if let Some(model) = model {
            args.extend(["--model", p(model)]);
        }
        args.push("a photo of a cat");
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            v["token_ids"],
            serde_json::json!([320, 1125, 539, 320, 2368])
        );
        assert_eq!(v["token_count"], 5);
        assert_eq!(v["input_ids"].as_array().unwrap().len(), 77);
        assert_eq!(v["input_ids"][0], 49406);
    }
}

#[test]
fn make_model_refuses_to_overwrite() {
    let m = models();
    let o = run(&[
        "dev",
        "make-model",
        "--preset",
        "tiny",
        "--layout",
        "single-file",
        "--out",
        p(&m.single),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
}

fn reference(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("engine/tests/data/a1111")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// JSON equality, except that numbers may differ in the last bit: serde_json's default
/// float parser is not correctly rounded (it reads 0.9090909090909091 one ulp high).
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 2.0 * f64::EPSILON * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// The table that A1111's own `prompt_parser.py` produced (see
/// engine/tests/data/a1111/README.md), through `ra-daemon prompt parse`.
#[test]
fn prompt_parse_agrees_with_a1111_on_the_reference_table() {
    let cases = reference("prompts.json");
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 40);
    let mut failures = Vec::new();
    for case in cases {
        let prompt = case["prompt"].as_str().unwrap();
        let steps = case["steps"].to_string();
        let o = run(&["prompt", "parse", "--steps", &steps, "--", prompt]);
        let expected = &case["expected"];
        let a1111_failed = expected["and"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["schedules"].as_array().unwrap())
            .any(|s| s["attention"].is_null());
        if a1111_failed {
            // A1111 raises on these; RA says what is wrong instead.
            assert_eq!(o.status.code(), Some(2), "{prompt:?}");
            assert!(stderr(&o).contains("is not a number"), "{}", stderr(&o));
            continue;
        }
        assert!(o.status.success(), "{prompt:?}: {}", stderr(&o));
        let ours: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        if !same(&ours["and"], &expected["and"]) {
            failures.push(format!(
                "{prompt:?} ({steps} steps)\n  ours:  {}\n  a1111: {}",
                ours["and"], expected["and"]
            ));
        }
        let nets: Vec<serde_json::Value> = ours["extra_networks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| serde_json::json!([n["kind"], n["args"]]))
            .collect();
        if serde_json::Value::from(nets) != case["extra_networks"] {
            failures.push(format!(
                "{prompt:?}: extra networks {}",
                ours["extra_networks"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn dev_noise_prints_each_draw_as_a1111s_generators_make_it() {
    let data = reference("noise.json");
    let case = &data["gpu"]["cases"][2];
    let seed = case["seed"].to_string();
    let o = run(&[
        "dev", "noise", "--rng", "GPU", "--seed", &seed, "--shape", "1x4x8x8", "--draws", "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let draws: Vec<Vec<f32>> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(draws.len(), 2);
    for (ours, theirs) in draws.iter().zip(case["draws"].as_array().unwrap()) {
        for (a, b) in ours.iter().zip(theirs.as_array().unwrap()) {
            assert!((a - b.as_f64().unwrap() as f32).abs() <= 1e-6);
        }
    }
    let cpu = run(&[
        "dev", "noise", "--rng", "cpu", "--seed", "0", "--shape", "4",
    ]);
    let small: Vec<Vec<f32>> = serde_json::from_slice(&cpu.stdout).unwrap();
    assert!((small[0][0] - 1.540_996).abs() < 1e-5, "{small:?}");
    for (args, needle) in [
        (
            vec!["dev", "noise", "--rng", "XPU", "--seed", "1"],
            "RNG source",
        ),
        (
            vec!["dev", "noise", "--seed", "1", "--shape", "1x0x8"],
            "--shape",
        ),
        (vec!["prompt", "parse", "(x:1.2.3)"], "not a number"),
        (vec!["prompt", "parse", "--steps", "0", "x"], "--steps"),
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn inpainting_and_outpainting_from_the_command_line() {
    let m = models();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    let rgb = (0..64u32 * 64)
        .flat_map(|i| [(i % 64 * 4) as u8, (i / 64 * 4) as u8, 90])
        .collect();
    let original = ra_wire::PngImage::new(64, 64, rgb).unwrap();
    std::fs::write(&input, original.encode(None).unwrap()).unwrap();
    let mask = dir.path().join("mask.png");
    let white_right = (0..64u32 * 64)
        .flat_map(|i| [if i % 64 >= 32 { 255 } else { 0 }; 3])
        .collect();
    let mask_png = ra_wire::PngImage::new(64, 64, white_right).unwrap();
    std::fs::write(&mask, mask_png.encode(None).unwrap()).unwrap();
    let out = dir.path().join("inpainted.png");
    let o = generate(
        &m.single,
        &out,
        &[
            "--init-image",
            p(&input),
            "--denoising-strength",
            "0.9",
            "--mask",
            p(&mask),
            "--inpainting-fill",
            "latent noise",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&out).unwrap();
    let result = ra_engine::pipeline::load_image(&bytes).unwrap();
    for y in 0..64 {
        // The default mask blur (4) softens 10 pixels either side of the edge at x = 32.
        let row = |img: &ra_wire::PngImage| img.rgb[y * 64 * 3..(y * 64 + 20) * 3].to_vec();
        assert_eq!(
            row(&result),
            row(&original),
            "row {y} of the kept half changed"
        );
    }
    assert_ne!(result.rgb, original.rgb);

    let wide = dir.path().join("outpainted.png");
    let o = generate(
        &m.single,
        &wide,
        &[
            "--init-image",
            p(&input),
            "--denoising-strength",
            "1",
            "--outpaint",
            "32,0,0,8",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let img = ra_engine::pipeline::load_image(&std::fs::read(&wide).unwrap()).unwrap();
    assert_eq!((img.width, img.height), (96, 72));

    let bad = dir.path().join("bad.png");
    for (extra, needle) in [
        (vec!["--mask", p(&mask)], "--init-image"),
        (
            vec![
                "--init-image",
                p(&input),
                "--denoising-strength",
                "0.5",
                "--mask",
                p(&input),
                "--invert-mask",
                "--mask-blur",
                "0",
                "--inpainting-fill",
                "sideways",
            ],
            "inpainting fill",
        ),
        (
            vec![
                "--init-image",
                p(&input),
                "--denoising-strength",
                "0.5",
                "--outpaint",
                "1,2",
            ],
            "--outpaint",
        ),
        (vec!["--rng", "TPU"], "RNG source"),
    ] {
        let o = generate(&m.single, &bad, &extra);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{extra:?}: {}", stderr(&o));
        assert!(!bad.exists());
    }
}
