//! A model's preview picture lives beside it under A1111's names (`<stem>.preview.png`,
//! `<stem>.png`, …), so pictures that A1111 or Civitai helpers saved are found, and the
//! ones a pack brings are seen by A1111 too.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{LibraryError, Result};

/// Suffixes tried after the model's stem, in A1111's order.
const SUFFIXES: [&str; 8] = [
    ".png", ".preview.png", ".jpg", ".preview.jpg", ".jpeg", ".preview.jpeg", ".webp", ".preview.webp",
];

/// A preview is a picture for a card, not a download of its own.
const MAX_PREVIEW: u64 = 16 << 20;

/// The preview picture beside `model`, if there is one.
pub fn find(model: &Path) -> Option<PathBuf> {
    let stem = model.file_stem()?.to_str()?;
    SUFFIXES
        .iter()
        .map(|s| model.with_file_name(format!("{stem}{s}")))
        .find(|p| p.is_file())
}

/// The extension a picture's bytes call for; `None` for anything that is not PNG, JPEG
/// or WebP (an HTML error page, say).
fn extension(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("jpg")
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("webp")
    } else {
        None
    }
}

/// Downloads the picture at `url` to `<stem>.preview.<ext>` beside `model`, unless a
/// preview is already there. Writes through a temporary name, so a failed fetch leaves
/// nothing.
pub fn fetch(url: &str, model: &Path) -> Result<PathBuf> {
    if let Some(p) = find(model) {
        return Ok(p);
    }
    let fail = |problem: String| LibraryError::InvalidDownload { dest: model.to_path_buf(), reason: format!("preview {url}: {problem}") };
    let mut answer = ureq::get(url).call().map_err(|e| fail(e.to_string()))?;
    let mut bytes = Vec::new();
    answer
        .body_mut()
        .as_reader()
        .take(MAX_PREVIEW + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_PREVIEW {
        return Err(fail(format!("larger than {} MiB", MAX_PREVIEW >> 20)));
    }
    let ext = extension(&bytes).ok_or_else(|| fail("not a PNG, JPEG or WebP picture".into()))?;
    let stem = model.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    let dest = model.with_file_name(format!("{stem}.preview.{ext}"));
    let tmp = model.with_file_name(format!(".{stem}.preview.tmp"));
    std::fs::write(&tmp, &bytes)
        .and_then(|()| std::fs::rename(&tmp, &dest))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            LibraryError::Io { path: dest.clone(), source: e }
        })?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_found_under_a1111_names_and_only_pictures_are_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("dream.v2.safetensors");
        assert_eq!(find(&model), None);
        std::fs::write(dir.path().join("dream.v2.preview.png"), b"x").unwrap();
        assert_eq!(find(&model), Some(dir.path().join("dream.v2.preview.png")));
        std::fs::write(dir.path().join("dream.v2.png"), b"x").unwrap();
        assert_eq!(find(&model), Some(dir.path().join("dream.v2.png")));
        assert_eq!(extension(b"\x89PNG\r\n\x1a\n...."), Some("png"));
        assert_eq!(extension(b"RIFF\0\0\0\0WEBPVP8 "), Some("webp"));
        assert_eq!(extension(b"<!doctype html>"), None);
    }
}
