//! Engine benchmark at the real SD 1.5 size, with random weights (no download needed):
//! one UNet step with classifier-free guidance (64×64 latent, batch 2, 77-token context)
//! and one VAE decode to 512×512, for each dtype the CPU can run. The UNet runs with
//! sliced attention (the default) and, in the `-full` cases, with whole score matrices.
//! The `-1024` cases decode a 128×128 latent to 1024×1024 once, in tiles (the default
//! above 96×96) or, with `-whole`, in one piece; their GFLOP/s count the whole decode's
//! arithmetic, not the tiles' overlaps. The `preview-` cases make one live preview of
//! a 64×64 latent (a 512² image): `preview-taesd` with TAESD's decoder to 512×512,
//! `preview-cheap` with the linear projection to 64×64 (many runs: it takes microseconds).
//!
//! `unet-onnx-f32` is the same UNet step (same random weights) exported to an ONNX
//! graph by `ra_engine::onnx::export` and run by ONNX Runtime on the CPU provider (the
//! export, 3.4 GB of external data in a temporary folder, is not timed).
//!
//! `cargo bench -p ra-daemon --bench engine [-- CASE…]`; cases: unet-f32 unet-onnx-f32 unet-f32-full
//! unet-f16 unet-f16-full vae-f32 vae-f16 vae-f32-1024 vae-f32-1024-whole preview-taesd
//! preview-cheap. Each case
//! runs in its own process so that its peak RSS is its own.
//! Prints a Markdown table for docs/PERFORMANCE.md.

use std::process::Command;
use std::time::Instant;

use ra_engine::arch::ModelArch;
use ra_engine::candle::{DType, Device, Tensor};
use ra_engine::make_model::random_var_builder;
use ra_engine::preview::{latent_to_rgb, taesd_to_rgb};
use ra_engine::taesd::TaesdDecoder;
use ra_engine::unet::{AttentionSlicing, Unet, UnetConfig, UnetOptions};
use ra_engine::vae::Vae;

/// One UNet call of SD 1.5 at 64×64: about 0.8 TFLOP per sample, 1.6 with CFG.
const UNET_TFLOP: f64 = 1.6;
/// One VAE decode to 512×512.
const VAE_TFLOP: f64 = 2.5;
/// One TAESD decode to 512×512: 3×3 convolutions of 64 channels, 10 at each of 64², 128²
/// and 256² and 4 at 512², plus the small first and last ones.
const TAESD_TFLOP: f64 = 0.141;
const RUNS: usize = 2;

const CASES: [&str; 11] = [
    "unet-f32",
    "unet-onnx-f32",
    "unet-f32-full",
    "unet-f16",
    "unet-f16-full",
    "vae-f32",
    "vae-f16",
    "vae-f32-1024",
    "vae-f32-1024-whole",
    "preview-taesd",
    "preview-cheap",
];

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn run_case(case: &str) -> Result<(), Box<dyn std::error::Error>> {
    let dev = Device::Cpu;
    let dtype = if case.contains("f16") {
        DType::F16
    } else {
        DType::F32
    };
    let arch = ModelArch::sd15();
    let mut times = Vec::new();
    let tflop;
    if let Some(kind) = case.strip_prefix("preview-") {
        let z = Tensor::randn(0f32, 1., (1, 4, 64, 64), &dev)?;
        let decoder = if kind == "taesd" {
            let path = std::env::temp_dir()
                .join(format!("ra-bench-taesd-{}.safetensors", std::process::id()));
            ra_engine::make_model::write_taesd_decoder(&path, 1)?;
            let decoder = TaesdDecoder::load(&path, &dev)?;
            let _ = std::fs::remove_file(&path);
            Some(decoder)
        } else {
            None
        };
        tflop = if decoder.is_some() { TAESD_TFLOP } else { 0.0 };
        // The cheap projection takes microseconds: time many.
        let runs = if decoder.is_some() { RUNS } else { 100 };
        for _ in 0..runs {
            let t = Instant::now();
            let image = match &decoder {
                Some(d) => taesd_to_rgb(d, &z)?,
                None => latent_to_rgb(&z)?,
            };
            std::hint::black_box(image);
            times.push(t.elapsed().as_secs_f64());
        }
    } else if case == "unet-onnx-f32" {
        tflop = UNET_TFLOP;
        let dir = std::env::temp_dir().join(format!("ra-bench-onnx-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("model.onnx");
        let graph = ra_engine::onnx::export::unet(&random_var_builder(1, dtype, &dev), &UnetConfig::sd15())?;
        ra_engine::onnx::export::write_graph(&graph, &path)?;
        drop(graph);
        let rt = ra_engine::onnx::Runtime::get(&Default::default())?;
        let unet = ra_engine::onnx::session::OnnxGraph::open(&rt, &path);
        let _ = std::fs::remove_dir_all(&dir);
        let unet = unet?;
        let x = Tensor::randn(0f32, 1., (2, 4, 64, 64), &dev)?;
        let ctx = Tensor::randn(0f32, 1., (2, 77, 768), &dev)?;
        let t = Tensor::new(&[500f32, 500.], &dev)?;
        for _ in 0..RUNS {
            let start = Instant::now();
            let out = unet.run(&[("sample", &x), ("timestep", &t), ("encoder_hidden_states", &ctx)], None)?;
            out.sum_all()?.to_scalar::<f32>()?;
            times.push(start.elapsed().as_secs_f64());
        }
    } else if case.starts_with("unet") {
        tflop = UNET_TFLOP;
        let slicing = if case.ends_with("-full") {
            AttentionSlicing::Full
        } else {
            AttentionSlicing::DEFAULT
        };
        let options = UnetOptions {
            slicing,
            ..Default::default()
        };
        let unet = Unet::new(
            random_var_builder(1, dtype, &dev),
            &UnetConfig::sd15(),
            options,
        )?;
        let x = Tensor::randn(0f32, 1., (2, 4, 64, 64), &dev)?.to_dtype(dtype)?;
        let ctx = Tensor::randn(0f32, 1., (2, 77, 768), &dev)?.to_dtype(dtype)?;
        for _ in 0..RUNS {
            let t = Instant::now();
            let out = unet.forward(&x, 500., &ctx)?;
            out.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()?;
            times.push(t.elapsed().as_secs_f64());
        }
    } else {
        let mut vae = Vae::new(random_var_builder(2, dtype, &dev), &arch.vae)?;
        if case.ends_with("-whole") {
            vae.tiling = None;
        }
        // A 1024² decode is four 512² ones' arithmetic, and minutes long: run once.
        let (side, runs) = if case.contains("-1024") {
            (128, 1)
        } else {
            (64, RUNS)
        };
        tflop = VAE_TFLOP * (side * side) as f64 / (64.0 * 64.0);
        let z = Tensor::randn(0f32, 1., (1, 4, side, side), &dev)?.to_dtype(dtype)?;
        for _ in 0..runs {
            let t = Instant::now();
            let out = vae.decode(&z)?;
            out.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()?;
            times.push(t.elapsed().as_secs_f64());
        }
    }
    let best = times.iter().copied().fold(f64::INFINITY, f64::min);
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    // Sub-10 ms cases (the cheap preview) need more digits than seconds to 2 places.
    let digits = if best < 0.01 { 6 } else { 2 };
    println!(
        "RESULT|{case}|{best:.digits$}|{mean:.digits$}|{:.0}|{:.0}",
        tflop * 1000.0 / best,
        peak_rss_mib()
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--") || a == "--case")
        .collect();
    if args.first().map(String::as_str) == Some("--case") {
        if let Some(case) = args.get(1) {
            if let Err(e) = run_case(case) {
                eprintln!("{case}: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let wanted: Vec<&str> = if args.is_empty() {
        CASES.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("cannot find the bench executable");
        std::process::exit(1);
    };
    println!("| case | best s | mean s ({RUNS} runs, 1 for -1024) | GFLOP/s | peak RSS MiB |");
    println!("| --- | --- | --- | --- | --- |");
    for case in wanted {
        if !CASES.contains(&case) {
            eprintln!("unknown case {case}; cases: {}", CASES.join(" "));
            continue;
        }
        let out = Command::new(&exe).args(["--case", case]).output();
        match out {
            Ok(o) if o.status.success() => {
                let text = String::from_utf8_lossy(&o.stdout);
                for line in text.lines().filter_map(|l| l.strip_prefix("RESULT|")) {
                    println!("| {} |", line.replace('|', " | "));
                }
            }
            Ok(o) => println!(
                "| {case} | failed: {} | | | |",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
            ),
            Err(e) => println!("| {case} | failed to start: {e} | | | |"),
        }
    }
}
