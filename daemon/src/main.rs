//! `ra-daemon`: RA's command line. Today it generates images, tokenizes prompts, reads
//! infotext and makes test models; the service (`serve`) builds on the same engine.
//!
//! This is the binary's edge: it turns arguments into engine calls and engine errors
//! into messages and exit codes (2 for input the user must fix, 1 for other failures).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use ra_engine::make_model::{MakeModel, OutputLayout, Preset};
use ra_engine::unet::AttentionSlicing;
use ra_engine::{EngineError, GenerateRequest, LoadOptions, SdModel};
use ra_wire::{SamplerName, ScheduleType};

mod library_cmd;

#[derive(Parser)]
#[command(
    name = "ra-daemon",
    args_override_self = true,
    version,
    about = "RA's Stable Diffusion engine and service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate one image from a prompt (txt2img), or from an image (img2img).
    #[command(args_override_self = true)]
    Generate(GenerateArgs),
    /// Run the service: the job queue, the A1111-compatible HTTP API and RA's job API.
    Serve(ServeArgs),
    /// Prompt tools.
    Prompt {
        #[command(subcommand)]
        command: PromptCommand,
    },
    /// Print the generation parameters stored in a PNG (A1111's or RA's).
    PngInfo {
        /// The PNG file to read.
        file: PathBuf,
    },
    /// The model library: list (with filters) and verify the models in your folders.
    Models {
        #[command(subcommand)]
        command: library_cmd::ModelsCommand,
    },
    /// Model packs: install one from a manifest file or URL, list, remove.
    Packs {
        #[command(subcommand)]
        command: library_cmd::PacksCommand,
    },
    /// Install this build as the first version of an installation the launcher updates:
    /// copies ra-daemon and ra-launcher into DIR/versions/<version>/ and points
    /// DIR/current at it (default DIR: ~/.local/share/ra/install).
    Install {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Plugins: pack one for publishing, install one, list what is installed.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// Developer tools.
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// Pack a plugin crate into a .raplugin (plugin.toml + the built component + locales/ and icons/).
    Pack {
        /// The plugin's folder (holding plugin.toml), or its plugin.toml.
        #[arg(default_value = ".")]
        plugin: PathBuf,
        /// The built component; by default found beside plugin.toml or in target/wasm32-wasip2/release/.
        #[arg(long)]
        wasm: Option<PathBuf>,
        /// Where to write; by default `<id>-<version>.raplugin` in the current folder.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Install a .raplugin file or a plugin folder into the data folder (a running daemon
    /// takes it on its next start; POST the file to /ra/v1/plugins to install live).
    Install {
        path: PathBuf,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// List installed and bundled plugins with their status.
    List {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:7860). Anything but loopback needs an
    /// API token or basic auth.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Where the database, inputs and outputs live (default ~/.local/share/ra).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Where finished images go (default <data-dir>/outputs).
    #[arg(long)]
    output_dir: Option<PathBuf>,
    /// A model folder to scan (an A1111 or ComfyUI install, or a folder of
    /// checkpoints); repeat for several.
    #[arg(long = "models-dir")]
    models_dirs: Vec<PathBuf>,
    /// Config file (default ~/.config/ra/daemon.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// HTTP basic auth as user:password (A1111's --api-auth).
    #[arg(long)]
    api_auth: Option<String>,
    /// Jobs that may wait before new ones get HTTP 503.
    #[arg(long)]
    queue_limit: Option<u32>,
    /// Also serve D-Bus peer-to-peer on this Unix socket (created mode 0600).
    #[arg(long)]
    dbus_socket: Option<PathBuf>,
    /// Do not register on the D-Bus session bus.
    #[arg(long)]
    no_session_bus: bool,
}

#[derive(Subcommand)]
enum PromptCommand {
    /// Print what A1111's parser makes of a prompt, as JSON: the AND parts with their
    /// weights, each part's texts over the steps (prompt editing, alternation), and each
    /// text's emphasis, in A1111's terms and order; plus the extra networks cut out.
    Parse {
        /// Steps of the run the prompt is scheduled over.
        #[arg(long, default_value_t = 20)]
        steps: u32,
        prompt: String,
    },
    /// Print the CLIP token ids of a prompt as JSON.
    Tokenize {
        /// Use this model's tokenizer (a diffusers folder's `tokenizer/`); default: RA's
        /// built-in CLIP tokenizer, which single-file checkpoints use.
        #[arg(long)]
        model: Option<PathBuf>,
        prompt: String,
    },
}

#[derive(Subcommand)]
enum DevCommand {
    /// Write a kohya-format LoRA with random weights for a model (attention and LoCon
    /// convolution layers of the UNet and the text encoder).
    MakeLora {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 4)]
        rank: usize,
    },
    /// Write a textual-inversion embedding with random vectors for a model.
    MakeEmbedding {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 2)]
        vectors: usize,
    },
    /// Print the noise a seed gives, as JSON: one flat array per draw, in order (the
    /// first draw starts a generation, later ones feed ancestral steps).
    Noise {
        /// GPU (= NV, NVIDIA's torch.randn stream) or CPU (PyTorch's CPU generator).
        #[arg(long, default_value = "GPU")]
        rng: String,
        #[arg(long)]
        seed: u64,
        /// Shape of each draw, e.g. 1x4x64x64.
        #[arg(long, default_value = "1x4x64x64")]
        shape: String,
        #[arg(long, default_value_t = 1)]
        draws: u32,
    },
    /// Write an ESRGAN (RRDBNet) 4x upscaler with random weights, for models/ESRGAN.
    MakeUpscaler {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// The original ESRGAN's positional names (model.0, model.1.sub…) instead of
        /// Real-ESRGAN's.
        #[arg(long)]
        original_names: bool,
        /// Write the same network as an ONNX graph (`input` → `output`) instead.
        #[arg(long)]
        onnx: bool,
    },
    /// Write a Depth Anything V2 depth model with random weights (a tiny backbone in the
    /// official layout), for models/depth.
    MakeDepthModel {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Write a Stable Diffusion model with random weights in a real on-disk layout.
    MakeModel {
        #[arg(long, value_enum)]
        preset: PresetArg,
        #[arg(long, value_enum)]
        layout: LayoutArg,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
        dtype: DtypeArg,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum PresetArg {
    Tiny,
    /// Tiny, shaped like SD 2.x (OpenCLIP, v-prediction).
    TinySd2,
    /// Tiny with a 9-channel UNet, like SD's inpainting checkpoints.
    TinyInpaint,
    /// Tiny SD 2.x with a 5-channel UNet (latent + depth map), like SD 2's depth model.
    TinyDepth,
    Sd15,
    Sd21,
}

#[derive(Clone, Copy, ValueEnum)]
enum LayoutArg {
    Diffusers,
    SingleFile,
    /// The diffusers ONNX layout (unet/model.onnx, …): runs on ONNX Runtime.
    Onnx,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DtypeArg {
    F32,
    F16,
    Bf16,
}

impl DtypeArg {
    fn dtype(self) -> ra_engine::candle::DType {
        use ra_engine::candle::DType;
        match self {
            Self::F32 => DType::F32,
            Self::F16 => DType::F16,
            Self::Bf16 => DType::BF16,
        }
    }
}

#[derive(clap::Args)]
struct GenerateArgs {
    /// A diffusers folder or a single-file .safetensors checkpoint.
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    prompt: String,
    #[arg(long, default_value = "")]
    negative_prompt: String,
    #[arg(long, default_value_t = 20)]
    steps: u32,
    /// A1111's sampler names: Euler a, Euler, Heun, DPM2, DPM2 a, DPM++ 2S a, DPM++ 2M,
    /// DPM++ SDE, DPM++ 2M SDE, LMS, DDIM, UniPC, LCM.
    #[arg(long, default_value = "Euler a")]
    sampler: String,
    /// Automatic, Uniform, Karras, Exponential or SGM Uniform.
    #[arg(long)]
    schedule_type: Option<String>,
    #[arg(long, default_value_t = 7.0)]
    cfg_scale: f64,
    /// -1 picks a random seed (printed, and recorded in the PNG).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    seed: i64,
    /// Default: the model's native size (512, or 768 for SD 2.x v-prediction).
    #[arg(long)]
    width: Option<u32>,
    #[arg(long)]
    height: Option<u32>,
    /// Start from this image (img2img); needs --denoising-strength.
    #[arg(long, requires = "denoising_strength")]
    init_image: Option<PathBuf>,
    /// How much to change the init image: 0 keeps it, 1 replaces it.
    #[arg(long, requires = "init_image", allow_negative_numbers = true)]
    denoising_strength: Option<f64>,
    /// Inpaint: a mask image the size of the init image, white where to repaint.
    #[arg(long, requires = "init_image")]
    mask: Option<PathBuf>,
    /// Pixels of blur on the mask's edge.
    #[arg(long, default_value_t = 4)]
    mask_blur: u32,
    /// How the masked area starts: fill, original, latent noise or latent nothing.
    #[arg(long, default_value = "original")]
    inpainting_fill: String,
    /// Repaint what the mask leaves black instead.
    #[arg(long)]
    invert_mask: bool,
    /// Generate only the box around the mask, at full resolution, with this padding.
    #[arg(long)]
    only_masked_padding: Option<u32>,
    /// Outpaint: pixels to add as LEFT,TOP,RIGHT,BOTTOM (e.g. 128,0,128,0); the new area
    /// is painted to match. Needs --init-image.
    #[arg(long, requires = "init_image")]
    outpaint: Option<String>,
    /// Noise generator: GPU (default) or NV, NVIDIA's torch.randn stream that most
    /// shared A1111 images used; CPU, PyTorch's CPU generator.
    #[arg(long, default_value = "GPU")]
    rng: String,
    /// Variation seed, blended in by --subseed-strength (0–1).
    #[arg(long, requires = "subseed_strength")]
    subseed: Option<u64>,
    #[arg(long, requires = "subseed")]
    subseed_strength: Option<f64>,
    /// Clip skip: 2 uses the text encoder's second-to-last layer.
    #[arg(long, default_value_t = 1)]
    clip_skip: u32,
    /// Eta and noise scale of the stochastic samplers (default: A1111's).
    #[arg(long)]
    eta: Option<f64>,
    #[arg(long)]
    s_noise: Option<f64>,
    /// Hires fix: a second pass at this many times the size (txt2img).
    #[arg(long, conflicts_with = "init_image")]
    hires_scale: Option<f64>,
    /// Depth models: a grey depth image (nearer brighter) instead of the one the `depth`
    /// plugin makes from --init-image.
    #[arg(long)]
    depth_map: Option<PathBuf>,
    /// Model roots holding models/depth and models/ESRGAN for plugins (default: the
    /// configured ones).
    #[arg(long = "models-dir")]
    models_dirs: Vec<PathBuf>,
    /// How the first pass is enlarged: Latent, Lanczos, or an upscaler a plugin offers
    /// (`Lanczos 2x`, an ESRGAN model's name from models/ESRGAN).
    #[arg(long, default_value = "Latent", requires = "hires_scale")]
    hires_upscaler: String,
    /// Steps of the second pass (default: --steps).
    #[arg(long, default_value_t = 0, requires = "hires_scale")]
    hires_steps: u32,
    /// Denoising strength of the second pass.
    #[arg(long, default_value_t = 0.7, requires = "hires_scale")]
    hires_denoising: f64,
    /// A separate VAE file to decode with instead of the checkpoint's own.
    #[arg(long)]
    vae: Option<PathBuf>,
    /// A folder of LoRAs for the prompt's <lora:name:weight> tags; repeat for several.
    #[arg(long)]
    lora_dir: Vec<PathBuf>,
    /// A folder of textual-inversion embeddings, used when the prompt names them.
    #[arg(long)]
    embeddings_dir: Vec<PathBuf>,
    /// f32 (the CPU default), f16 or bf16.
    #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
    dtype: DtypeArg,
    /// Attention scores held at once, in MiB (default 16); 0 holds whole score
    /// matrices, about 1.8 GiB more at 512² (to measure what slicing saves).
    #[arg(long, value_name = "MIB")]
    attention_slice_mib: Option<usize>,
    /// candle or onnx; default: onnx for a diffusers ONNX folder (unet/model.onnx), else candle.
    #[arg(long)]
    backend: Option<String>,
    /// ONNX Runtime's shared library (default: ORT_DYLIB_PATH).
    #[arg(long, value_name = "PATH")]
    onnx_runtime: Option<PathBuf>,
    /// Where to write the PNG.
    #[arg(long)]
    out: PathBuf,
}

/// An error the user fixes by changing their input (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct InputError(String);

/// A progress bar in `template` (plain when the template does not parse).
fn progress_bar(len: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    bar
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(args) => generate(args),
        Command::Serve(args) => serve(args),
        Command::Prompt {
            command: PromptCommand::Tokenize { model, prompt },
        } => tokenize(model.as_deref(), &prompt),
        Command::Prompt {
            command: PromptCommand::Parse { steps, prompt },
        } => parse_prompt(&prompt, steps),
        Command::Dev {
            command:
                DevCommand::MakeLora {
                    model,
                    out,
                    seed,
                    rank,
                },
        } => make_network(&model, &out, |m| {
            ra_engine::make_model::write_lora(m, &out, seed, rank.max(1))
        }),
        Command::Dev {
            command:
                DevCommand::MakeEmbedding {
                    model,
                    out,
                    seed,
                    vectors,
                },
        } => make_network(&model, &out, |m| {
            ra_engine::make_model::write_embedding(
                &out,
                m.arch.clip.embed_dim,
                vectors.max(1),
                seed,
            )
        }),
        Command::Dev {
            command:
                DevCommand::Noise {
                    rng,
                    seed,
                    shape,
                    draws,
                },
        } => noise(&rng, seed, &shape, draws),
        Command::Dev { command: DevCommand::MakeUpscaler { out, seed, original_names, onnx } } => {
            let shapes = ra_engine::esrgan::tensor_shapes(8, 2, 4, original_names);
            if onnx {
                ra_engine::make_model::write_onnx_upscaler(&out, seed, &shapes).map_err(Into::into)
            } else {
                ra_engine::make_model::write_random_tensors(&out, seed, &shapes).map_err(Into::into)
            }
        }
        Command::Dev { command: DevCommand::MakeDepthModel { out, seed } } => {
            use ra_engine::depth_anything::DepthShape;
            ra_engine::make_model::write_random_model(&out, seed, |vb| DepthShape::TINY.build(vb, false, false).map(|_| ()))
                .map_err(Into::into)
        }
        Command::PngInfo { file } => png_info(&file),
        Command::Plugins { command } => plugins_command(command),
        Command::Models { command } => library_cmd::models(command),
        Command::Packs { command } => library_cmd::packs(command),
        Command::Install { dir } => library_cmd::install(dir),
        Command::Dev {
            command:
                DevCommand::MakeModel {
                    preset,
                    layout,
                    out,
                    seed,
                    dtype,
                },
        } => make_model(preset, layout, &out, seed, dtype),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            let input = e.downcast_ref::<InputError>().is_some()
                || e.downcast_ref::<ra_plugins::PluginError>().is_some_and(|e| e.is_client_error())
                || matches!(
                    e.downcast_ref::<EngineError>(),
                    Some(
                        EngineError::InvalidRequest(_)
                            | EngineError::PickleRefused { .. }
                            | EngineError::BadSafetensors { .. }
                            | EngineError::UnknownFormat { .. }
                            | EngineError::Image(_)
                    )
                );
            ExitCode::from(if input { 2 } else { 1 })
        }
    }
}

fn plugins_command(command: PluginsCommand) -> Result<()> {
    let host = |data_dir: Option<PathBuf>| -> Result<ra_plugins::Plugins> {
        let mut config = ra_daemon::config::Config::load(None)?;
        if let Some(dir) = data_dir {
            config.data_dir = dir;
        }
        let settings = ra_plugins::PluginsConfig::under(&config.data_dir, ra_daemon::plugins::bundled_dir(&config));
        let models = ra_daemon::model_runner::LocalModels::new(config.models_dirs.clone());
        Ok(ra_plugins::Plugins::open(settings, std::sync::Arc::new(models))?)
    };
    match command {
        PluginsCommand::Pack { plugin, wasm, out } => {
            let manifest_path = if plugin.is_dir() { plugin.join("plugin.toml") } else { plugin };
            let manifest = ra_plugins::Manifest::load(&manifest_path)?;
            let out = out.unwrap_or_else(|| PathBuf::from(format!("{}-{}.raplugin", manifest.id, manifest.version)));
            ra_plugins::package::pack(&manifest_path, wasm.as_deref(), &out)?;
            println!("{}", out.display());
        }
        PluginsCommand::Install { path, data_dir } => {
            let info = host(data_dir)?.install(&path)?;
            println!("installed {} {}", info.id, info.version);
        }
        PluginsCommand::List { data_dir, json } => {
            let list = host(data_dir)?.list();
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            }
            for p in list.iter().filter(|_| !json) {
                let name = p.name.get("en-US").or(p.name.values().next()).cloned().unwrap_or_default();
                let state = match (&p.error, p.enabled) {
                    (Some(e), _) => format!("broken: {e}"),
                    (None, true) => "enabled".into(),
                    (None, false) => "disabled".into(),
                };
                println!("{:<24} {:<8} {:<8} {name} ({state})", p.id, p.version, format!("{:?}", p.source).to_lowercase());
            }
        }
    }
    Ok(())
}

/// Loads `model` and writes a network file for it with `write`, refusing to overwrite.
fn make_network(
    model: &Path,
    out: &Path,
    write: impl FnOnce(&SdModel) -> ra_engine::Result<()>,
) -> Result<()> {
    if out.exists() {
        return Err(input_err(format!(
            "{} exists; choose another --out",
            out.display()
        )));
    }
    check_output_path(out)?;
    let m = SdModel::load(model, &LoadOptions::cpu())
        .with_context(|| format!("loading model {}", model.display()))?;
    write(&m)?;
    println!("{}", out.display());
    Ok(())
}

fn parse_prompt(prompt: &str, steps: u32) -> Result<()> {
    if steps == 0 || steps > 1000 {
        return Err(input_err(format!(
            "--steps must be between 1 and 1000, got {steps}"
        )));
    }
    let parsed = ra_tokenizer::prompt::ParsedPrompt::parse(prompt, steps)
        .map_err(|e| input_err(e.to_string()))?;
    println!("{}", serde_json::to_string(&parsed)?);
    Ok(())
}

fn noise(rng: &str, seed: u64, shape: &str, draws: u32) -> Result<()> {
    let rng = ra_engine::noise::RngSource::parse(rng).map_err(|e| input_err(e.to_string()))?;
    let dims: Vec<usize> = shape
        .split(['x', 'X', ','])
        .map(|d| d.trim().parse::<usize>().ok().filter(|&n| n > 0))
        .collect::<Option<_>>()
        .ok_or_else(|| input_err(format!("--shape must look like 1x4x64x64, not '{shape}'")))?;
    let n: usize = dims.iter().product();
    if n > 1 << 26 {
        return Err(input_err(format!(
            "--shape {shape} is {n} values; at most 67108864 per draw"
        )));
    }
    let mut stream = ra_engine::noise::NoiseStream::new(rng, seed);
    let all: Vec<Vec<f32>> = (0..draws).map(|_| stream.normals(n)).collect();
    println!("{}", serde_json::to_string(&all)?);
    Ok(())
}

fn input_err(msg: impl Into<String>) -> anyhow::Error {
    InputError(msg.into()).into()
}

/// `LEFT,TOP,RIGHT,BOTTOM` pixels.
fn parse_outpaint(spec: &str) -> Result<[u32; 4]> {
    let parts: Vec<u32> = spec
        .split(',')
        .map(|p| p.trim().parse().ok())
        .collect::<Option<_>>()
        .filter(|v: &Vec<u32>| v.len() == 4)
        .ok_or_else(|| {
            input_err(format!(
                "--outpaint takes four pixel counts LEFT,TOP,RIGHT,BOTTOM such as 128,0,128,0, not '{spec}'"
            ))
        })?;
    Ok([parts[0], parts[1], parts[2], parts[3]])
}

/// Fails early, before any model work, when `out` cannot be written.
fn check_output_path(out: &Path) -> Result<()> {
    if out.is_dir() {
        return Err(input_err(format!(
            "--out {} is a folder; give a file name such as {}/image.png",
            out.display(),
            out.display()
        )));
    }
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(input_err(format!(
            "cannot write {}: folder {} does not exist",
            out.display(),
            dir.display()
        )));
    }
    let probe = dir.join(format!(".ra-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| input_err(format!("cannot write into {}: {e}", dir.display())))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn generate(args: GenerateArgs) -> Result<()> {
    let (sampler, legacy_schedule) =
        SamplerName::parse_with_schedule(&args.sampler).map_err(|e| input_err(e.to_string()))?;
    let schedule_type = match &args.schedule_type {
        Some(s) => s
            .parse::<ScheduleType>()
            .map_err(|e| input_err(e.to_string()))?,
        None => legacy_schedule.unwrap_or(ScheduleType::Automatic),
    };
    check_output_path(&args.out)?;
    let read_image = |what: &str, path: &Path| {
        std::fs::read(path)
            .map_err(|e| input_err(format!("cannot read {what} {}: {e}", path.display())))
    };
    let mut size = (args.width, args.height);
    let init = match &args.init_image {
        Some(path) => {
            let image = ra_engine::pipeline::load_image(&read_image("init image", path)?)
                .map_err(|e| input_err(format!("{}: {e}", path.display())))?;
            let mask = match &args.mask {
                Some(m) => Some(
                    ra_engine::inpaint::Mask::decode(&read_image("mask", m)?)
                        .map_err(|e| input_err(format!("{}: {e}", m.display())))?,
                ),
                None => None,
            };
            let outpaint = match &args.outpaint {
                Some(spec) => parse_outpaint(spec)?,
                None => [0; 4],
            };
            let fill = ra_engine::inpaint::InpaintFill::parse(&args.inpainting_fill)?;
            let strength = args.denoising_strength.unwrap_or(0.75);
            let (init, canvas) =
                ra_engine::inpaint::init_image(image, strength, mask, outpaint, |image| {
                    ra_engine::inpaint::Mask {
                        image,
                        blur: args.mask_blur,
                        invert: args.invert_mask,
                        fill,
                        only_masked: args.only_masked_padding.is_some(),
                        padding: args.only_masked_padding.unwrap_or(0),
                    }
                })?;
            if let Some((w, h)) = canvas {
                size = (Some(w), Some(h));
            }
            Some(init)
        }
        None => None,
    };
    let rng =
        ra_engine::noise::RngSource::parse(&args.rng).map_err(|e| input_err(e.to_string()))?;
    let mut options = ra_engine::sampler::SamplerOptions::for_sampler(sampler);
    options.eta = args.eta.unwrap_or(options.eta);
    options.s_noise = args.s_noise.unwrap_or(options.s_noise);
    let mut req = GenerateRequest {
        prompt: args.prompt,
        negative_prompt: args.negative_prompt,
        steps: args.steps,
        sampler,
        schedule_type,
        cfg_scale: args.cfg_scale,
        seed: args.seed,
        width: size.0.unwrap_or(512),
        height: size.1.unwrap_or(512),
        init,
        rng,
        variation: args.subseed.map(|seed| ra_engine::noise::Variation {
            seed,
            strength: args.subseed_strength.unwrap_or(0.0),
        }),
        sampler_options: Some(options),
        clip_skip: args.clip_skip,
        networks: ra_engine::networks::NetworkDirs {
            loras: args.lora_dir.clone(),
            embeddings: args.embeddings_dir.clone(),
            ..Default::default()
        },
        vae: match &args.vae {
            Some(p) => Some(
                std::path::absolute(p)
                    .map_err(|e| input_err(format!("--vae {}: {e}", p.display())))?
                    .display()
                    .to_string(),
            ),
            None => None,
        },
        hires: match args.hires_scale {
            Some(scale) => Some(ra_engine::pipeline::HiresFix {
                scale,
                upscaler: cli_hires_upscaler(&args.hires_upscaler, &args.models_dirs)?,
                steps: args.hires_steps,
                denoising_strength: args.hires_denoising,
            }),
            None => None,
        },
        depth: None,
    };
    req.validate()?;
    if !args.model.exists() {
        return Err(input_err(format!(
            "model {} does not exist; pass a diffusers folder or a .safetensors checkpoint",
            args.model.display()
        )));
    }
    let options = LoadOptions {
        dtype: args.dtype.dtype(),
        attention: args
            .attention_slice_mib
            .map_or(AttentionSlicing::DEFAULT, AttentionSlicing::from_mib),
        backend: args.backend.as_deref().map(ra_engine::Backend::parse).transpose()?,
        onnx: ra_engine::onnx::RuntimeOptions {
            library: args.onnx_runtime.clone(),
            ..Default::default()
        },
        ..LoadOptions::cpu()
    };
    let model = SdModel::load(&args.model, &options)
        .with_context(|| format!("loading model {}", args.model.display()))?;
    req.width = size.0.unwrap_or(model.default_size());
    req.height = size.1.unwrap_or(model.default_size());
    if model.arch.is_depth() {
        req.depth = cli_depth_map(&args.depth_map, &args.models_dirs, req.init.as_ref())?;
    }
    req.validate()?;

    let bar = progress_bar(u64::from(req.steps_to_run()), "{bar:30} step {pos}/{len}  {per_sec}  ETA {eta}");
    let result = ra_engine::generate(&model, &req, &mut |p| {
        bar.set_position(u64::from(p.step));
        true
    });
    bar.finish_and_clear();
    let generated = result?;
    ra_engine::output::write_atomic(&args.out, &generated.png_bytes()?)?;
    println!("{}", args.out.display());
    eprintln!(
        "seed {} · {}x{} · {}",
        generated.info.seed, generated.info.width, generated.info.height, model.name
    );
    Ok(())
}

/// The plugins `generate` uses (depth maps, plugin upscalers), with the configured data
/// folder and the given model roots (else the configured ones).
fn cli_plugins(models_dirs: &[PathBuf]) -> Result<std::sync::Arc<ra_plugins::Plugins>> {
    let mut config = ra_daemon::config::Config::load(None).map_err(|e| input_err(e.to_string()))?;
    if !models_dirs.is_empty() {
        config.models_dirs = models_dirs.to_vec();
    }
    Ok(ra_daemon::plugins::open(&config)?)
}

/// `--hires-upscaler`: the engine's, else a plugin's (the plugin host opens only then).
fn cli_hires_upscaler(name: &str, models_dirs: &[PathBuf]) -> Result<ra_engine::pipeline::HiresUpscaler> {
    if let Ok(builtin) = ra_engine::pipeline::HiresUpscaler::parse(name) {
        return Ok(builtin);
    }
    let plugins = cli_plugins(models_dirs)?;
    ra_daemon::plugins::hires_upscaler(name, Some(&plugins)).map_err(input_err)
}

/// A depth model's map for `generate`: the one given, else the `depth` plugin run on the
/// init image with the depth models under the configured (or given) model roots.
fn cli_depth_map(
    given: &Option<PathBuf>,
    models_dirs: &[PathBuf],
    init: Option<&ra_engine::pipeline::InitImage>,
) -> Result<Option<ra_engine::DepthMap>> {
    if let Some(path) = given {
        let bytes = std::fs::read(path).map_err(|e| input_err(format!("--depth-map {}: {e}", path.display())))?;
        let image = ra_engine::pipeline::load_image(&bytes)
            .map_err(|e| input_err(format!("--depth-map {}: {e}", path.display())))?;
        return Ok(Some(ra_daemon::plugins::depth_from_grey(&ra_daemon::plugins::to_image(&image))));
    }
    // Without an init image there is nothing to estimate from; the engine says so.
    let Some(init) = init else { return Ok(None) };
    let plugins = cli_plugins(models_dirs)?;
    let map = ra_daemon::plugins::depth_map(Some(&plugins), &init.image).map_err(input_err)?;
    Ok(Some(map))
}

fn serve(args: ServeArgs) -> Result<()> {
    use ra_daemon::config::Config;
    use ra_daemon::server::{self, ServerError};
    let mut config = Config::load(args.config.as_deref()).map_err(|e| input_err(e.to_string()))?;
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let Some(d) = args.data_dir {
        config.models_dirs = if args.models_dirs.is_empty() {
            vec![d.join("models")]
        } else {
            Vec::new()
        };
        config.data_dir = d;
    }
    if args.output_dir.is_some() {
        config.output_dir = args.output_dir;
    }
    if !args.models_dirs.is_empty() {
        config.models_dirs = args.models_dirs;
    }
    if args.api_auth.is_some() {
        config.api_auth = args.api_auth;
    }
    if let Some(q) = args.queue_limit {
        config.queue_limit = q;
    }
    if args.dbus_socket.is_some() {
        config.dbus_socket = args.dbus_socket;
    }
    if args.no_session_bus {
        config.dbus_session = false;
    }
    config
        .check_access()
        .map_err(|e| input_err(e.to_string()))?;
    let dtype = match config.dtype.as_str() {
        "f32" => DtypeArg::F32,
        "f16" => DtypeArg::F16,
        other => {
            return Err(input_err(format!(
                "dtype must be f32 or f16 on the CPU, not '{other}'"
            )))
        }
    };
    server::run(&config, dtype.dtype()).map_err(|e| match e {
        ServerError::Bind { .. } | ServerError::DbusSocket { .. } | ServerError::Config(_) => {
            input_err(e.to_string())
        }
        other => other.into(),
    })
}

fn tokenize(model: Option<&Path>, prompt: &str) -> Result<()> {
    use ra_engine::tokenizer::ClipTokenizer;
    let tokenizer = match model {
        None => ClipTokenizer::builtin()?,
        Some(p) if p.is_dir() => ClipTokenizer::from_dir(&p.join("tokenizer"))?,
        Some(p) if p.is_file() => ClipTokenizer::builtin()?,
        Some(p) => bail!(input_err(format!("model {} does not exist", p.display()))),
    };
    let ids = tokenizer.encode(prompt)?;
    let window = tokenizer.window(prompt, tokenizer.eos())?;
    let out = serde_json::json!({
        "token_ids": ids,
        "token_count": window.token_count,
        "input_ids": window.input_ids,
        "truncated": window.truncated,
    });
    println!("{out}");
    Ok(())
}

fn png_info(file: &Path) -> Result<()> {
    let bytes = std::fs::read(file)
        .map_err(|e| input_err(format!("cannot read {}: {e}", file.display())))?;
    match ra_wire::png_text::read_parameters(&bytes)
        .map_err(|e| input_err(format!("{}: {e}", file.display())))?
    {
        Some(text) => {
            println!("{text}");
            Ok(())
        }
        None => Err(input_err(format!(
            "{} has no generation parameters",
            file.display()
        ))),
    }
}

fn make_model(
    preset: PresetArg,
    layout: LayoutArg,
    out: &Path,
    seed: u64,
    dtype: DtypeArg,
) -> Result<()> {
    if dtype == DtypeArg::Bf16 {
        return Err(input_err("make-model writes f32 or f16"));
    }
    let job = MakeModel {
        preset: match preset {
            PresetArg::Tiny => Preset::Tiny,
            PresetArg::TinySd2 => Preset::TinySd2,
            PresetArg::TinyInpaint => Preset::TinyInpaint,
            PresetArg::TinyDepth => Preset::TinyDepth,
            PresetArg::Sd15 => Preset::Sd15,
            PresetArg::Sd21 => Preset::Sd21,
        },
        layout: match layout {
            LayoutArg::Diffusers => OutputLayout::Diffusers,
            LayoutArg::SingleFile => OutputLayout::SingleFile,
            LayoutArg::Onnx => OutputLayout::Onnx,
        },
        seed,
        dtype: dtype.dtype(),
    };
    job.write(out)?;
    println!("{}", out.display());
    Ok(())
}
