//! `ra-daemon models …` and `ra-daemon packs …`: the model library from a terminal, for
//! admins and headless machines. The work is `ra_library`'s (shared with the launcher);
//! this module parses arguments, shows progress and prints.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use ra_library::pack::{Kind, Tier};
use ra_library::store::{Library, Model, Query, Sort};

#[derive(clap::Args, Clone)]
pub struct Where {
    /// RA's data folder (holds library.sqlite); default: the configured one.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Model roots (A1111/ComfyUI layout); default: the configured ones.
    #[arg(long = "models-dir")]
    models_dirs: Vec<PathBuf>,
}

impl Where {
    /// (data folder, model roots) from the arguments, else the configuration.
    fn resolve(&self) -> Result<(PathBuf, Vec<PathBuf>)> {
        let config = ra_daemon::config::Config::load(None)?;
        let data = self.data_dir.clone().unwrap_or(config.data_dir.clone());
        let roots = if !self.models_dirs.is_empty() {
            self.models_dirs.clone()
        } else if self.data_dir.is_some() {
            vec![data.join("models")]
        } else {
            config.models_dirs.clone()
        };
        Ok((data, roots))
    }

    /// The library, brought up to date with the model folders.
    fn library(&self) -> Result<(Library, PathBuf, Vec<PathBuf>)> {
        let (data, roots) = self.resolve()?;
        let lib = Library::open(&Library::path_in(&data))?;
        let scanned = ra_library::scan::sync(&lib, &roots)?;
        for (path, why) in &scanned.unreadable {
            eprintln!("skipped {}: {why}", path.display());
        }
        Ok((lib, data, roots))
    }
}

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// List the library: kind, architecture, categories, tier, rating, hashes, path.
    List {
        #[command(flatten)]
        place: Where,
        #[arg(long)]
        json: bool,
        /// checkpoint, lora, vae, embedding, upscaler, controlnet or depth.
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        category: Option<String>,
        /// official, recommended or community.
        #[arg(long)]
        tier: Option<String>,
        #[arg(long)]
        min_rating: Option<u8>,
        /// Text in the name, trigger words, categories or note.
        #[arg(long)]
        search: Option<String>,
        /// name, date, size or rating.
        #[arg(long, default_value = "name")]
        sort: String,
    },
    /// Rate a model 1-5 stars (0 clears) and optionally note something about it.
    Rate {
        /// The model's name, file path, AutoV2 hash or library id.
        model: String,
        stars: u8,
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        place: Where,
    },
    /// Re-hash every model and report those whose bytes changed or went missing.
    Verify {
        #[command(flatten)]
        place: Where,
    },
}

fn bad_input(msg: String) -> anyhow::Error {
    crate::InputError(msg).into()
}

fn query(kind: Option<String>, category: Option<String>, tier: Option<String>, min_rating: Option<u8>, search: Option<String>, sort: &str) -> Result<Query> {
    let kind = match kind {
        Some(k) => Some(Kind::parse(&k).ok_or_else(|| {
            bad_input(format!("--kind {k:?}: use one of {}", Kind::ALL.map(Kind::as_str).join(", ")))
        })?),
        None => None,
    };
    let tier = match tier {
        Some(t) => Some(Tier::parse(&t).ok_or_else(|| bad_input(format!("--tier {t:?}: use official, recommended or community")))?),
        None => None,
    };
    let sort = match sort {
        "name" => Sort::Name,
        "date" => Sort::Date,
        "size" => Sort::Size,
        "rating" => Sort::Rating,
        other => return Err(bad_input(format!("--sort {other:?}: use name, date, size or rating"))),
    };
    Ok(Query { kind, category, tier, min_rating, text: search, sort })
}

fn row(m: &Model) -> String {
    let stars = m.rating.map(|r| "★".repeat(r as usize)).unwrap_or_else(|| "-".into());
    format!(
        "{:<10} {:<14} {:<24} {:<11} {:<5} {:<10} {}",
        m.kind.map(Kind::as_str).unwrap_or("?"),
        m.architecture,
        if m.categories.is_empty() { "-".to_string() } else { m.categories.join(",") },
        m.tier.map(Tier::as_str).unwrap_or("-"),
        stars,
        m.autov2(),
        m.path.display()
    )
}

pub fn models(command: ModelsCommand) -> Result<()> {
    match command {
        ModelsCommand::List { place, json, kind, category, tier, min_rating, search, sort } => {
            let q = query(kind, category, tier, min_rating, search, &sort)?;
            let (lib, _, _) = place.library()?;
            let list = lib.search(&q)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!("{:<10} {:<14} {:<24} {:<11} {:<5} {:<10} PATH", "KIND", "ARCHITECTURE", "CATEGORIES", "TIER", "STARS", "AUTOV2");
                for m in &list {
                    println!("{}", row(m));
                }
            }
        }
        ModelsCommand::Rate { model, stars, note, place } => {
            let (lib, _, _) = place.library()?;
            let all = lib.search(&Query::default())?;
            let found: Vec<&Model> = all
                .iter()
                .filter(|m| m.id.to_string() == model || m.name == model || m.autov2() == model || m.path == std::path::Path::new(&model))
                .collect();
            let m = match found[..] {
                [one] => one,
                [] => return Err(bad_input(format!("no model {model:?} in the library; `ra-daemon models list` shows them"))),
                _ => return Err(bad_input(format!("{model:?} names {} models; use the path or the AutoV2 hash", found.len()))),
            };
            lib.set_rating(m.id, (stars > 0).then_some(stars)).map_err(|e| bad_input(e.to_string()))?;
            if let Some(note) = note {
                lib.set_note(m.id, &note)?;
            }
            println!("{}", row(&lib.model(m.id)?));
        }
        ModelsCommand::Verify { place } => {
            let (lib, _, _) = place.library()?;
            let total = lib.search(&Query::default())?.len() as u64;
            let bar = crate::progress_bar(total, "{bar:30} {pos}/{len} {msg}");
            let bad = ra_library::scan::verify(&lib, |path| {
                bar.set_message(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
                bar.inc(1);
            })?;
            bar.finish_and_clear();
            for m in &bad {
                println!("CHANGED {} (recorded {}, now {})", m.path.display(), m.recorded, m.actual);
            }
            if !bad.is_empty() {
                anyhow::bail!("{} of {total} model file(s) do not match their recorded sha256: download them again", bad.len());
            }
            println!("all {total} model file(s) match their recorded sha256");
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum PacksCommand {
    /// Install a pack from its manifest (a file or an http(s) URL): shows what it will
    /// download and the space needed, downloads the missing models (verified, resumable:
    /// run it again after an interruption) into the first models folder, records them.
    Install {
        /// The manifest's path or URL.
        source: String,
        #[command(flatten)]
        place: Where,
    },
    /// The installed packs.
    List {
        #[command(flatten)]
        place: Where,
        #[arg(long)]
        json: bool,
    },
    /// Forget a pack and delete the models nothing else wants (no other pack lists them
    /// and you did not keep them).
    Remove {
        id: String,
        #[command(flatten)]
        place: Where,
    },
}

pub fn packs(command: PacksCommand) -> Result<()> {
    match command {
        PacksCommand::Install { source, place } => {
            let (pack, text) = ra_library::install::read_manifest(&source).map_err(|e| match e {
                e @ (ra_library::LibraryError::BadPack { .. } | ra_library::LibraryError::Io { .. }) => bad_input(e.to_string()),
                other => other.into(),
            })?;
            let (mut lib, _, roots) = place.library()?;
            let root = roots.first().cloned().ok_or_else(|| bad_input("no models folder: pass --models-dir".into()))?;
            let plan = ra_library::install::plan(pack, text, &lib, &root)?;
            let missing = plan.missing().count();
            println!(
                "{} {}: {} model(s), {missing} to download ({} MiB) into {}",
                plan.pack.display_name("zh-CN"),
                plan.pack.version,
                plan.items.len(),
                plan.download_bytes().div_ceil(1 << 20),
                root.display()
            );
            let bar = crate::progress_bar(plan.download_bytes(), "{bar:30} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}");
            let names: Vec<String> = plan.missing().map(|i| i.model.file.clone()).collect();
            let installed = ra_library::install::install(&plan, &mut lib, Default::default(), |p| {
                bar.set_position(p.total.done);
                bar.set_message(names.get(p.index).cloned().unwrap_or_default());
            });
            bar.finish_and_clear();
            let installed = installed?;
            println!(
                "installed pack {} {}: {} downloaded and verified, {} already here",
                plan.pack.id, plan.pack.version, installed.downloaded, installed.already_present
            );
        }
        PacksCommand::List { place, json } => {
            let (lib, _, _) = place.library()?;
            let packs = lib.packs()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&packs)?);
            } else {
                for p in packs {
                    let name = p.name.get("zh-CN").or(p.name.get("en-US")).cloned().unwrap_or_default();
                    println!("{} {} ({name}): {} model(s)", p.id, p.version, p.models);
                }
            }
        }
        PacksCommand::Remove { id, place } => {
            let (mut lib, _, _) = place.library()?;
            let deleted = ra_library::install::remove(&mut lib, &id).map_err(|e| match e {
                ra_library::LibraryError::NoSuchPack(_) => bad_input(e.to_string()),
                other => other.into(),
            })?;
            for path in &deleted {
                println!("deleted {}", path.display());
            }
            println!("removed pack {id}; {} model(s) deleted, the rest are still wanted", deleted.len());
        }
    }
    Ok(())
}

/// `ra-daemon install`: this build becomes the first version of an installation that the
/// launcher's Updates page then keeps up to date (docs/UPDATES.md).
pub fn install(dir: Option<PathBuf>) -> Result<()> {
    use ra_library::update::{Installation, UpdateConfig, Version};
    let exe = std::env::current_exe()?;
    let from = exe.parent().ok_or_else(|| anyhow::anyhow!("{} has no folder", exe.display()))?;
    let dir = dir.unwrap_or_else(|| ra_wire::paths::data_dir().join("install"));
    let version: Version = env!("CARGO_PKG_VERSION").parse()?;
    let binaries = UpdateConfig::ra().binaries;
    if let Some(missing) = binaries.iter().find(|b| !from.join(b).is_file()) {
        return Err(bad_input(format!(
            "{missing} is not beside {}; build both (`cargo build --release -p ra-daemon -p ra-launcher`) and run the install from there",
            exe.display()
        )));
    }
    let installation = Installation::new(&dir);
    installation.adopt(&version, from, &binaries).map_err(|e| match e {
        e @ ra_library::LibraryError::UpdateLayout { .. } => bad_input(e.to_string()),
        other => other.into(),
    })?;
    println!("installed RA {version} in {}; start it with {}", dir.display(), installation.binary("ra-launcher").display());
    Ok(())
}
