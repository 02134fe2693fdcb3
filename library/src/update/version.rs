//! Release versions as update manifests and the install layout spell them:
//! `MAJOR.MINOR.PATCH` with an optional `-pre.release` part, ordered as semver orders them
//! (a pre-release sorts before its release: `0.2.0-rc.1 < 0.2.0`).
//!
//! The text doubles as a directory name under `<install>/versions/`, so only canonical
//! spellings are accepted: no leading zeros, no `+build` metadata, only ASCII letters,
//! digits, `.` and `-`. Otherwise two spellings of one version (`0.2.0`, `0.02.0`) could
//! be two directories, and no spelling can climb out of `versions/`.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::error::LibraryError;

/// A release version; see the module docs for what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version {
    core: [u64; 3],
    pre: Vec<PreRelease>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum PreRelease {
    // Declared first because semver ranks numeric identifiers below alphanumeric ones,
    // and the derived order follows declaration order.
    Numeric(u64),
    Alpha(String),
}

impl Version {
    pub fn new(major: u64, minor: u64, patch: u64) -> Version {
        Version { core: [major, minor, patch], pre: Vec::new() }
    }

    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }
}

impl FromStr for Version {
    type Err = LibraryError;

    fn from_str(text: &str) -> Result<Version, LibraryError> {
        let bad = || LibraryError::UpdateVersion { text: text.to_string() };
        let (core_text, pre_text) = match text.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (text, None),
        };
        let mut parts = core_text.split('.');
        let mut core = [0u64; 3];
        for slot in &mut core {
            *slot = parts.next().and_then(numeric).ok_or_else(bad)?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        let pre = match pre_text {
            None => Vec::new(),
            Some(pre) => pre.split('.').map(|id| identifier(id).ok_or_else(bad)).collect::<Result<_, _>>()?,
        };
        Ok(Version { core, pre })
    }
}

/// A numeric part without leading zeros (semver forbids them, and they would make a
/// second spelling of the same number).
fn numeric(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok()
}

fn identifier(text: &str) -> Option<PreRelease> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return None;
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        numeric(text).map(PreRelease::Numeric)
    } else {
        Some(PreRelease::Alpha(text.to_string()))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        self.core.cmp(&other.core).then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            // A release outranks any of its pre-releases.
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            // Vec's order is semver's: identifier by identifier, and a shorter list that
            // is a prefix of a longer one ranks lower.
            (false, false) => self.pre.cmp(&other.pre),
        })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [major, minor, patch] = self.core;
        write!(f, "{major}.{minor}.{patch}")?;
        for (i, id) in self.pre.iter().enumerate() {
            f.write_str(if i == 0 { "-" } else { "." })?;
            match id {
                PreRelease::Numeric(n) => write!(f, "{n}")?,
                PreRelease::Alpha(s) => f.write_str(s)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        text.parse().unwrap()
    }

    #[test]
    fn semver_precedence() {
        let ordered = ["0.1.0", "0.2.0-alpha", "0.2.0-alpha.1", "0.2.0-alpha.beta", "0.2.0-beta.2", "0.2.0-beta.11", "0.2.0-rc.1", "0.2.0", "0.10.0", "1.0.0"];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn round_trips_and_refuses_non_canonical_text() {
        for text in ["0.2.0", "1.20.3-rc.1", "2.0.0-x-y.7"] {
            assert_eq!(v(text).to_string(), text);
        }
        for text in ["", "1", "1.2", "1.2.3.4", "01.2.3", "1.2.3-", "1.2.3-rc..1", "1.2.3-01", "1.2.3+build", "../1.2.3", "1.2.3-a/b", "v1.2.3"] {
            assert!(text.parse::<Version>().is_err(), "{text:?} should be refused");
        }
    }
}
