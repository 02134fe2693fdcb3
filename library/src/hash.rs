//! File hashes as A1111 and model hubs show them: the full sha256 and AutoV2 (its first
//! ten hex digits).

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{LibraryError, Result};

/// The sha256 of everything `reader` yields, as lowercase hex.
pub fn sha256_reader(mut reader: impl Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// The sha256 of the file at `path`, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let file = std::fs::File::open(path).map_err(LibraryError::io(path))?;
    sha256_reader(file).map_err(LibraryError::io(path))
}

/// A1111's "AutoV2" model hash: the first ten hex digits of the file's sha256.
pub fn autov2(sha256: &str) -> &str {
    &sha256[..10.min(sha256.len())]
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_reader(&b"abc"[..]).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(autov2("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "ba7816bf8f");
    }
}
