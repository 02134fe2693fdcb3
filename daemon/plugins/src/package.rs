//! `.raplugin` packages: a zip holding `plugin.toml`, the component named by its `wasm`
//! entry, and optionally `locales/` and `icons/`. Packing makes one from a plugin's
//! crate; unpacking checks every entry before anything lands in the plugins folder.

use std::io::{Read, Write};
use std::path::{Component as PathPart, Path, PathBuf};

use crate::manifest::Manifest;
use crate::PluginError;

/// Largest package accepted, and largest unpacked total: a plugin is code, not models.
const MAX_UNPACKED: u64 = 256 << 20;
const MAX_ENTRIES: usize = 1000;

fn bad(path: &Path, problem: impl Into<String>) -> PluginError {
    PluginError::Package { path: path.to_path_buf(), problem: problem.into() }
}

/// Unpacks `package` into the empty folder `into`, refusing entries that would land
/// outside it, links, and archives that unpack to more than 256 MiB.
pub fn unpack(package: &Path, into: &Path) -> Result<(), PluginError> {
    let file = std::fs::File::open(package).map_err(|e| bad(package, format!("cannot open it: {e}")))?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| bad(package, format!("not a .raplugin (zip) file: {e}")))?;
    if zip.len() > MAX_ENTRIES {
        return Err(bad(package, format!("{} entries; a plugin has at most {MAX_ENTRIES}", zip.len())));
    }
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| bad(package, format!("entry {i} is damaged: {e}")))?;
        let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        let relative = entry
            .enclosed_name()
            .filter(|p| p.components().all(|c| matches!(c, PathPart::Normal(_))))
            .ok_or_else(|| bad(package, format!("entry {name:?} points outside the plugin's folder")))?;
        if entry.is_symlink() {
            return Err(bad(package, format!("entry {name:?} is a link; packages hold plain files")));
        }
        let target = into.join(&relative);
        if entry.is_dir() {
            std::fs::create_dir_all(&target).map_err(PluginError::io(&target))?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(PluginError::io(parent))?;
        }
        let mut out = std::fs::File::create(&target).map_err(PluginError::io(&target))?;
        // Count what is actually inflated, not what the header claims.
        let mut limited = (&mut entry).take(MAX_UNPACKED - total + 1);
        let copied = std::io::copy(&mut limited, &mut out)
            .map_err(|e| bad(package, format!("entry {name:?} is damaged: {e}")))?;
        total += copied;
        if total > MAX_UNPACKED {
            return Err(bad(package, format!("unpacks to more than {} MiB", MAX_UNPACKED >> 20)));
        }
    }
    if !into.join("plugin.toml").is_file() {
        return Err(bad(package, "no plugin.toml at the top of the package"));
    }
    Ok(())
}

/// Packs the plugin whose manifest is `manifest_path` into `out`. The component is
/// taken from `wasm` when given, else from beside the manifest, else from the crate's
/// `target/wasm32-wasip2/release/`.
pub fn pack(manifest_path: &Path, wasm: Option<&Path>, out: &Path) -> Result<Manifest, PluginError> {
    let manifest = Manifest::load(manifest_path)?;
    let dir = manifest_path.parent().unwrap_or(Path::new("."));
    let candidates: Vec<PathBuf> = match wasm {
        Some(p) => vec![p.to_path_buf()],
        None => vec![
            dir.join(&manifest.wasm),
            dir.join("target/wasm32-wasip2/release").join(&manifest.wasm),
        ],
    };
    let wasm_path = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
        bad(
            manifest_path,
            format!(
                "the component {} was not found (looked at {}); build it with `cargo build --release --target wasm32-wasip2` or pass --wasm",
                manifest.wasm,
                candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            ),
        )
    })?;

    let part = out.with_extension("raplugin.part");
    let write = || -> Result<(), PluginError> {
        let file = std::fs::File::create(&part).map_err(PluginError::io(&part))?;
        let mut zip = zip::ZipWriter::new(file);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        let mut add = |name: &str, from: &Path| -> Result<(), PluginError> {
            let data = std::fs::read(from).map_err(PluginError::io(from))?;
            zip.start_file(name, options).map_err(|e| bad(out, e.to_string()))?;
            zip.write_all(&data).map_err(PluginError::io(out))
        };
        add("plugin.toml", manifest_path)?;
        add(&manifest.wasm, wasm_path)?;
        for folder in ["locales", "icons"] {
            let Ok(entries) = std::fs::read_dir(dir.join(folder)) else { continue };
            let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
            files.sort();
            for file in files {
                if let Some(name) = file.file_name().and_then(|n| n.to_str()) {
                    add(&format!("{folder}/{name}"), &file)?;
                }
            }
        }
        zip.finish().map_err(|e| bad(out, e.to_string()))?;
        Ok(())
    };
    match write().and_then(|()| std::fs::rename(&part, out).map_err(PluginError::io(out))) {
        Ok(()) => Ok(manifest),
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            Err(e)
        }
    }
}

/// Copies a plugin folder (manifest, component, locales, icons) into `into`.
pub fn copy_folder(from: &Path, into: &Path, manifest: &Manifest) -> Result<(), PluginError> {
    let mut files = vec![PathBuf::from("plugin.toml")];
    // A missing component is reported by the caller, with the package's name.
    if from.join(&manifest.wasm).is_file() {
        files.push(PathBuf::from(&manifest.wasm));
    }
    for folder in ["locales", "icons"] {
        if let Ok(entries) = std::fs::read_dir(from.join(folder)) {
            for entry in entries.flatten() {
                if entry.path().is_file() {
                    files.push(Path::new(folder).join(entry.file_name()));
                }
            }
        }
    }
    for file in files {
        let (src, dst) = (from.join(&file), into.join(&file));
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(PluginError::io(parent))?;
        }
        let mut data = Vec::new();
        std::fs::File::open(&src)
            .and_then(|mut f| f.read_to_end(&mut data))
            .map_err(|e| bad(from, format!("cannot read {}: {e}", file.display())))?;
        std::fs::write(&dst, data).map_err(PluginError::io(&dst))?;
    }
    Ok(())
}
