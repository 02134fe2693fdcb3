//! Files the pages hand over: QML gives `file://` URLs, people pick where to save.

use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use crate::notice::Notice;

/// A path from QML, which may be a `file://` URL with percent-escapes.
pub fn local_path(url_or_path: &str) -> PathBuf {
    let Some(p) = url_or_path.strip_prefix("file://") else {
        return PathBuf::from(url_or_path);
    };
    let bytes = p.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// "Save as": copies a finished image to `dest` (`.png` added when missing), whole or
/// not at all. Returns where it went.
pub fn save_copy(src: &Path, dest: &Path) -> Result<PathBuf, Notice> {
    let mut dest = dest.to_path_buf();
    if dest.extension().is_none_or(|e| !e.eq_ignore_ascii_case("png")) {
        dest.as_mut_os_string().push(".png");
    }
    let fail = |e: std::io::Error| {
        Notice::new("save-failed")
            .arg("path", dest.display())
            .arg("detail", e)
    };
    let tmp = dest.with_extension("png.part");
    std::fs::copy(src, &tmp)
        .and_then(|_| std::fs::rename(&tmp, &dest))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            fail(e)
        })?;
    Ok(dest)
}

/// `path` as a `file://` URL, with every byte that could end or change a URL (`#`,
/// `?`, `%`, spaces, non-ASCII) percent-escaped.
pub fn file_url(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut url = String::from("file://");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// A size for people: `2.0 GB`, `512 MB`, `12 KB` (binary units, as file managers show).
pub fn size_text(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// The `file://` URL of the folder holding `path`, for "open folder".
pub fn folder_url(path: &Path) -> String {
    file_url(path.parent().unwrap_or(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_paths_and_saving_is_whole_or_nothing() {
        assert_eq!(local_path("file:///tmp/a%20b.png"), Path::new("/tmp/a b.png"));
        assert_eq!(local_path("/tmp/x.png"), Path::new("/tmp/x.png"));
        assert_eq!(folder_url(Path::new("/o/1.png")), "file:///o");
        assert_eq!(
            [10, 2048, 5 << 20, 2_132_625_894].map(size_text),
            ["10 B", "2.0 KB", "5.0 MB", "2.0 GB"]
        );
        let odd = Path::new("/图片/a #1?%.png");
        assert_eq!(file_url(odd), "file:///%E5%9B%BE%E7%89%87/a%20%231%3F%25.png");
        assert_eq!(local_path(&file_url(odd)), odd);

        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("1.png");
        std::fs::write(&src, b"png bytes").unwrap();
        let saved = save_copy(&src, &dir.path().join("keep")).unwrap();
        assert_eq!(saved, dir.path().join("keep.png"));
        assert_eq!(std::fs::read(&saved).unwrap(), b"png bytes");

        let n = save_copy(&src, &dir.path().join("no/such/dir/x.png")).unwrap_err();
        assert_eq!(n.id, "save-failed");
        let n = save_copy(&dir.path().join("gone.png"), &dir.path().join("y.png")).unwrap_err();
        assert_eq!(n.id, "save-failed");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(left.len(), 2, "{left:?}");
    }
}
