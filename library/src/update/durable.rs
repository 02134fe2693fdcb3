//! File-system steps that are each atomic and survive a crash: write-then-rename for small
//! files, symlink-then-rename for links, and directory fsyncs so that a rename is on disk
//! before the next step relies on it. Temporary names start with `.` and carry the
//! process id, so leftovers are recognisable and two processes never share one.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{LibraryError, Result};

/// `dir/.{name}.tmp-{pid}`: where `dir/name` is prepared before it is renamed into place.
pub(crate) fn temp_name(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Replaces `path` with `bytes`: readers see the old content or the new, never a mix.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = temp_name(path);
    let mut file = File::create(&temp).map_err(LibraryError::io(&temp))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(LibraryError::io(&temp))?;
    drop(file);
    fs::rename(&temp, path).map_err(LibraryError::io(path))?;
    sync_dir(parent(path))
}

/// Points the symlink `link` at `target` (relative to the link's directory), replacing
/// whatever link was there in one rename.
pub(crate) fn replace_symlink(link: &Path, target: &Path) -> Result<()> {
    let temp = temp_name(link);
    match fs::remove_file(&temp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(LibraryError::io(&temp)(e)),
        _ => {}
    }
    std::os::unix::fs::symlink(target, &temp).map_err(LibraryError::io(&temp))?;
    fs::rename(&temp, link).map_err(LibraryError::io(link))
}

/// Makes the entries of `dir` (new names, renames, removals) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(LibraryError::io(dir))
}

/// Flushes a file someone else wrote (the caller's fetch) before it is published.
pub(crate) fn sync_file(path: &Path) -> Result<()> {
    File::open(path).and_then(|f| f.sync_all()).map_err(LibraryError::io(path))
}

pub(crate) fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}
