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
use ra_engine::{EngineError, GenerateRequest, InitImage, LoadOptions, SdModel};
use ra_wire::{SamplerName, ScheduleType};

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
    /// Developer tools.
    Dev {
        #[command(subcommand)]
        command: DevCommand,
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
    Sd15,
    Sd21,
}

#[derive(Clone, Copy, ValueEnum)]
enum LayoutArg {
    Diffusers,
    SingleFile,
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
    /// Euler, Euler a, DDIM or DPM++ 2M (A1111's names).
    #[arg(long, default_value = "Euler a")]
    sampler: String,
    /// Automatic or Karras.
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
    /// f32 (the CPU default), f16 or bf16.
    #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
    dtype: DtypeArg,
    /// Where to write the PNG.
    #[arg(long)]
    out: PathBuf,
}

/// An error the user fixes by changing their input (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct InputError(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(args) => generate(args),
        Command::Serve(args) => serve(args),
        Command::Prompt {
            command: PromptCommand::Tokenize { model, prompt },
        } => tokenize(model.as_deref(), &prompt),
        Command::PngInfo { file } => png_info(&file),
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

fn input_err(msg: impl Into<String>) -> anyhow::Error {
    InputError(msg.into()).into()
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
    let init = match &args.init_image {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| {
                input_err(format!("cannot read init image {}: {e}", path.display()))
            })?;
            let image = ra_engine::pipeline::load_image(&bytes)
                .map_err(|e| input_err(format!("{}: {e}", path.display())))?;
            Some(InitImage {
                image,
                strength: args.denoising_strength.unwrap_or(0.75),
            })
        }
        None => None,
    };
    let mut req = GenerateRequest {
        prompt: args.prompt,
        negative_prompt: args.negative_prompt,
        steps: args.steps,
        sampler,
        schedule_type,
        cfg_scale: args.cfg_scale,
        seed: args.seed,
        width: args.width.unwrap_or(512),
        height: args.height.unwrap_or(512),
        init,
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
        ..LoadOptions::cpu()
    };
    let model = SdModel::load(&args.model, &options)
        .with_context(|| format!("loading model {}", args.model.display()))?;
    if model.tokenizer.window(&req.prompt, 0)?.truncated {
        eprintln!("warning: the prompt is longer than 75 CLIP tokens; the rest is ignored for now");
    }
    req.width = args.width.unwrap_or(model.default_size());
    req.height = args.height.unwrap_or(model.default_size());
    req.validate()?;

    let bar = ProgressBar::new(u64::from(req.steps_to_run()));
    bar.set_style(
        ProgressStyle::with_template("{bar:30} step {pos}/{len}  {per_sec}  ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
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
            PresetArg::Sd15 => Preset::Sd15,
            PresetArg::Sd21 => Preset::Sd21,
        },
        layout: match layout {
            LayoutArg::Diffusers => OutputLayout::Diffusers,
            LayoutArg::SingleFile => OutputLayout::SingleFile,
        },
        seed,
        dtype: dtype.dtype(),
    };
    job.write(out)?;
    println!("{}", out.display());
    Ok(())
}
