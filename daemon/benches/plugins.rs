//! The plugin path and the networks plugins run, at real sizes with random weights (no
//! download needed):
//!
//! - `call-overhead`: the first open of the host with a cold compiled-component cache
//!   (compiling `upscale`, then all four shipped plugins), an open with a warm cache, and
//!   the cost of one near-empty hook call (Lanczos 2x of an 8×8 image; every call
//!   instantiates a fresh store), median of many.
//! - `lanczos-2x-512`: Lanczos 2x of a 512×512 image through the `upscale` plugin, and the
//!   `image` crate's native Lanczos3 resize of the same image in the same process.
//! - `esrgan-tile-real`: one 64×64 tile, and one 192×192 tile (A1111's tile size) unless
//!   the 64 tile predicts it over five minutes, through a real-size RRDBNet (64 features,
//!   23 blocks, growth 32) with `Esrgan::upscale`, as the host runs it for the plugin.
//! - `depth-vits`: one Depth Anything V2 ViT-S estimate at 518×518 with
//!   `DepthAnything::estimate`, and the whole `depth` preprocessor through the plugin on a
//!   512×512 image with that model installed (`LocalModels` loads it per call; the plugin
//!   resizes and normalises in wasm).
//!
//! `cargo bench -p ra-daemon --bench plugins [-- CASE…]`. The shipped plugins are built
//! with `scripts/plugins.sh` first (or taken from `RA_BENCH_PLUGINS`, a folder as that
//! script lays out). Each case runs in its own process so that its peak RSS is its own;
//! the RSS column is the case process's `VmHWM` when the row was measured.
//! Prints a Markdown table for docs/PERFORMANCE.md.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use ra_daemon::model_runner::LocalModels;
use ra_engine::candle::{Device, Tensor};
use ra_engine::depth_anything::{DepthAnything, DepthShape, INPUT_SIZE};
use ra_engine::esrgan::{self, Esrgan};
use ra_engine::make_model;
use ra_plugins::{Image, NoModels, Plugins, PluginsConfig};

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const CASES: [&str; 4] = [
    "call-overhead",
    "lanczos-2x-512",
    "esrgan-tile-real",
    "depth-vits",
];

/// Real-ESRGAN x4plus (and ESRGAN x4): 64 features, 23 RRDBs, growth 32.
const RRDB: (usize, usize, usize) = (64, 23, 32);
/// Depth Anything V2 ViT-S as published.
const VITS: DepthShape = DepthShape {
    embed_dim: 384,
    depth: 12,
    features: 64,
    out_channels: [48, 96, 192, 384],
};
/// A tile predicted to take longer than this is skipped.
const TILE_BUDGET_S: f64 = 300.0;
/// Where the child processes find the built plugins.
const PLUGINS_ENV: &str = "RA_BENCH_PLUGINS";

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    let n = times.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2.0
    }
}

/// Runs `f` `runs` times and returns the median wall time in seconds.
fn time_runs(runs: usize, mut f: impl FnMut() -> BenchResult<()>) -> BenchResult<f64> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    Ok(median(times))
}

/// One table row: measure, seconds, runs, notes; the RSS is read when it is printed.
fn row(case: &str, measure: &str, seconds: f64, runs: usize, notes: &str) {
    // Sub-10 ms figures need more digits than seconds to 2 places.
    let digits = if seconds < 0.01 {
        6
    } else if seconds < 1.0 {
        4
    } else {
        2
    };
    println!(
        "RESULT|{case}|{measure}|{seconds:.digits$}|{runs}|{:.0}|{notes}",
        peak_rss_mib()
    );
}

/// A square test card with edges and gradients, so resizes have real work.
fn card(side: u32) -> Image {
    let mut rgba = Vec::with_capacity((side * side * 4) as usize);
    for y in 0..side {
        for x in 0..side {
            let edge = if (x / 32 + y / 32) % 2 == 0 { 200 } else { 40 };
            rgba.extend_from_slice(&[(x * 255 / side) as u8, edge, (y * 255 / side) as u8, 255]);
        }
    }
    Image {
        width: side,
        height: side,
        rgba,
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn built_plugins() -> BenchResult<PathBuf> {
    let dir = std::env::var_os(PLUGINS_ENV)
        .map(PathBuf::from)
        .ok_or("RA_BENCH_PLUGINS is not set")?;
    if !dir.join("upscale").is_dir() {
        return Err(format!("{} holds no upscale plugin", dir.display()).into());
    }
    Ok(dir)
}

/// A host on `bundled` with its data (and compiled-component cache) under `data`.
fn open(
    data: &Path,
    bundled: &Path,
    models: Arc<dyn ra_plugins::ModelRunner>,
) -> BenchResult<Plugins> {
    Ok(Plugins::open(
        PluginsConfig::under(data, Some(bundled.to_path_buf())),
        models,
    )?)
}

fn call_overhead(case: &str, built: &Path) -> BenchResult<()> {
    // Only `upscale` bundled, so the cold open compiles one component.
    let only = tempfile::tempdir()?;
    copy_dir(&built.join("upscale"), &only.path().join("upscale"))?;
    let wasm_kib = std::fs::read_dir(only.path().join("upscale"))?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "wasm"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len() as f64 / 1024.0)
        .sum::<f64>();
    let data = tempfile::tempdir()?;
    let t = Instant::now();
    drop(open(data.path(), only.path(), Arc::new(NoModels))?);
    let cold = t.elapsed().as_secs_f64();
    row(
        case,
        "open, cold cache: compile `upscale`",
        cold,
        1,
        &format!("{wasm_kib:.0} KiB component; includes one `upscalers` call"),
    );
    let warm = time_runs(5, || {
        drop(open(data.path(), only.path(), Arc::new(NoModels))?);
        Ok(())
    })?;
    row(
        case,
        "open, warm cache: `upscale`",
        warm,
        5,
        "deserialise the cached compile + one `upscalers` call",
    );

    // What the daemon's first start costs with everything shipped.
    let all_data = tempfile::tempdir()?;
    let t = Instant::now();
    drop(open(all_data.path(), built, Arc::new(NoModels))?);
    row(
        case,
        "open, cold cache: all 4 shipped plugins",
        t.elapsed().as_secs_f64(),
        1,
        "upscale, depth, invisible-watermark, styles",
    );
    let warm_all = time_runs(5, || {
        drop(open(all_data.path(), built, Arc::new(NoModels))?);
        Ok(())
    })?;
    row(
        case,
        "open, warm cache: all 4 shipped plugins",
        warm_all,
        5,
        "",
    );

    let plugins = open(data.path(), only.path(), Arc::new(NoModels))?;
    let tiny = card(8);
    let mut call = || -> BenchResult<()> {
        let out = plugins.upscale("Lanczos 2x", tiny.clone(), 2.0)?;
        std::hint::black_box(out);
        Ok(())
    };
    // Untimed calls first: the first ones fault in the compiled code and warm the allocator.
    time_runs(20, &mut call)?;
    let runs = 500;
    let per_call = time_runs(runs, &mut call)?;
    row(
        case,
        "one hook call: Lanczos 2x of 8×8",
        per_call,
        runs,
        "fresh store + instantiate + call + checks",
    );
    Ok(())
}

fn lanczos_512(case: &str, built: &Path) -> BenchResult<()> {
    let data = tempfile::tempdir()?;
    let plugins = open(data.path(), built, Arc::new(NoModels))?;
    let image = card(512);
    let runs = 5;
    // One untimed call first: the first one pays for faulting in the component's code.
    let once = plugins.upscale("Lanczos 2x", image.clone(), 2.0)?;
    if (once.width, once.height) != (1024, 1024) {
        return Err(format!("the plugin returned {}x{}", once.width, once.height).into());
    }
    let wasm = time_runs(runs, || {
        std::hint::black_box(plugins.upscale("Lanczos 2x", image.clone(), 2.0)?);
        Ok(())
    })?;
    row(
        case,
        "`upscale` plugin, Lanczos 2x 512² → 1024²",
        wasm,
        runs,
        "SDK's separable Lanczos3 in wasm, RGBA",
    );

    let native_in = image::RgbaImage::from_raw(512, 512, image.rgba.clone()).ok_or("card size")?;
    let native_once = || -> BenchResult<()> {
        let out = image::imageops::resize(
            &native_in,
            1024,
            1024,
            image::imageops::FilterType::Lanczos3,
        );
        std::hint::black_box(out);
        Ok(())
    };
    native_once()?;
    let native = time_runs(runs, native_once)?;
    row(
        case,
        "`image` crate Lanczos3 512² → 1024², native",
        native,
        runs,
        &format!("plugin / native = {:.2}", wasm / native),
    );
    Ok(())
}

/// Multiply-adds of RRDBNet x4 (`features`, `blocks`, `growth`) per input pixel.
fn rrdb_macs_per_pixel(features: usize, blocks: usize, growth: usize) -> f64 {
    let conv = |cin: usize, cout: usize| (9 * cin * cout) as f64;
    let rdb: f64 = (0..4)
        .map(|i| conv(features + i * growth, growth))
        .sum::<f64>()
        + conv(features + 4 * growth, features);
    let body = blocks as f64 * 3.0 * rdb;
    // conv_first and conv_body at 1×; conv_up1 at 2× (4 pixels), conv_up2, conv_hr and
    // conv_last at 4× (16 pixels).
    conv(3, features)
        + body
        + conv(features, features)
        + 4.0 * conv(features, features)
        + 16.0 * (2.0 * conv(features, features) + conv(features, 3))
}

fn esrgan_tiles(case: &str) -> BenchResult<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("RealESRGAN_x4plus-random.safetensors");
    let (features, blocks, growth) = RRDB;
    let t = Instant::now();
    make_model::write_random_tensors(
        &path,
        7,
        &esrgan::tensor_shapes(features, blocks, growth, false),
    )?;
    let mib = std::fs::metadata(&path)?.len() as f64 / (1024.0 * 1024.0);
    row(
        case,
        "write random RRDBNet 64/23/32",
        t.elapsed().as_secs_f64(),
        1,
        &format!("{mib:.0} MiB f32"),
    );
    let t = Instant::now();
    let net = Esrgan::load(&path, &Device::Cpu)?;
    row(case, "Esrgan::load", t.elapsed().as_secs_f64(), 1, "");
    let flop_per_px = 2.0 * rrdb_macs_per_pixel(features, blocks, growth);

    let tile = |side: usize, runs: usize| -> BenchResult<f64> {
        let x = Tensor::rand(0f32, 1., (1, 3, side, side), &Device::Cpu)?;
        let s = time_runs(runs, || {
            let out = net.upscale(&x)?;
            out.sum_all()?.to_scalar::<f32>()?;
            Ok(())
        })?;
        let gflop = flop_per_px * (side * side) as f64 / 1e9;
        row(
            case,
            &format!("one {side}×{side} tile → {}×{}", side * 4, side * 4),
            s,
            runs,
            &format!("{gflop:.0} GFLOP, {:.0} GFLOP/s", gflop / s),
        );
        Ok(s)
    };
    let t64 = tile(64, 3)?;
    // A 192 tile is nine 64 tiles' arithmetic.
    let predicted = t64 * 9.0;
    if predicted > TILE_BUDGET_S {
        row(
            case,
            "one 192×192 tile",
            f64::NAN,
            0,
            &format!("skipped: predicted {predicted:.0} s from the 64 tile"),
        );
    } else {
        tile(192, 1)?;
    }
    Ok(())
}

fn depth_vits(case: &str, built: &Path) -> BenchResult<()> {
    let data = tempfile::tempdir()?;
    let path = data
        .path()
        .join("models/depth/depth_anything_v2_vits.safetensors");
    std::fs::create_dir_all(path.parent().ok_or("no parent")?)?;
    let t = Instant::now();
    make_model::write_random_model(&path, 6, |vb| VITS.build(vb, false, false).map(|_| ()))?;
    let mib = std::fs::metadata(&path)?.len() as f64 / (1024.0 * 1024.0);
    row(
        case,
        "write random ViT-S",
        t.elapsed().as_secs_f64(),
        1,
        &format!("{mib:.0} MiB f32"),
    );

    let t = Instant::now();
    let net = DepthAnything::load(&path, &Device::Cpu)?;
    row(
        case,
        "DepthAnything::load",
        t.elapsed().as_secs_f64(),
        1,
        "",
    );
    let x = Tensor::randn(0f32, 1., (1, 3, INPUT_SIZE, INPUT_SIZE), &Device::Cpu)?;
    let runs = 3;
    let s = time_runs(runs, || {
        let out = net.estimate(&x)?;
        out.sum_all()?.to_scalar::<f32>()?;
        Ok(())
    })?;
    row(case, "DepthAnything::estimate 518×518", s, runs, "");
    drop(net);

    let models = Arc::new(LocalModels::new(vec![data.path().to_path_buf()]));
    let plugins = open(data.path(), built, models)?;
    let image = card(512);
    let s = time_runs(runs, || {
        let out = plugins.preprocess("depth", image.clone())?;
        if (out.width, out.height) != (512, 512) {
            return Err(format!("the depth map is {}x{}", out.width, out.height).into());
        }
        Ok(())
    })?;
    row(
        case,
        "`depth` preprocessor via plugin, 512² image",
        s,
        runs,
        "model loaded per call + wasm resize/normalise",
    );
    Ok(())
}

fn run_case(case: &str) -> BenchResult<()> {
    match case {
        "call-overhead" => call_overhead(case, &built_plugins()?),
        "lanczos-2x-512" => lanczos_512(case, &built_plugins()?),
        "esrgan-tile-real" => esrgan_tiles(case),
        "depth-vits" => depth_vits(case, &built_plugins()?),
        other => Err(format!("unknown case {other}").into()),
    }
}

/// Builds the shipped plugins with `scripts/plugins.sh`; returns the folder it reports.
fn build_plugins() -> BenchResult<PathBuf> {
    if let Some(dir) = std::env::var_os(PLUGINS_ENV) {
        return Ok(PathBuf::from(dir));
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/plugins.sh");
    let out = Command::new("bash").arg(script).output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "scripts/plugins.sh failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let dir = stdout
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("plugins built into "))
        .ok_or("scripts/plugins.sh did not say where it built")?;
    Ok(PathBuf::from(dir))
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
    let plugins = match build_plugins() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("cannot find the bench executable");
        std::process::exit(1);
    };
    println!("| case | measure | median s | runs | peak RSS MiB | notes |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for case in wanted {
        if !CASES.contains(&case) {
            eprintln!("unknown case {case}; cases: {}", CASES.join(" "));
            continue;
        }
        let out = Command::new(&exe)
            .args(["--case", case])
            .env(PLUGINS_ENV, &plugins)
            .output();
        match out {
            Ok(o) => {
                let text = String::from_utf8_lossy(&o.stdout);
                for line in text.lines().filter_map(|l| l.strip_prefix("RESULT|")) {
                    println!("| {} |", line.replace('|', " | "));
                }
                if !o.status.success() {
                    let err = String::from_utf8_lossy(&o.stderr);
                    let last = err.lines().last().unwrap_or("");
                    println!("| {case} | failed: {last} | | | | |");
                }
            }
            Err(e) => println!("| {case} | failed to start: {e} | | | | |"),
        }
    }
}
