//! Every message id the launcher uses (in `qml/` and in the launcher's Rust code) is in
//! every locale, and no locale carries ids that nothing uses.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ra_launcher_core::i18n::{message_ids, LOCALES, SOURCES};
use ra_launcher_core::notice::DAEMON_ERROR_CODES;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

/// Ids in calls of the translating functions — `tr("…"`, `tra("…"`, `text("…"`,
/// `Notice::new("…"`, and QML's helpers `t("…"` and `ta("…"` — with whitespace allowed
/// after the parenthesis, as rustfmt breaks long calls. A name only counts as a whole
/// word (`getContext("2d")` is not `t(`). Rust test modules are skipped.
fn used_ids(text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut ids = Vec::new();
    for call in ["tr(", "tra(", "text(", "Notice::new(", "t(", "ta("] {
        for (i, _) in code.match_indices(call) {
            let before = code[..i].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let rest = code[i + call.len()..].trim_start();
            if let Some(rest) = rest.strip_prefix('"') {
                if let Some(end) = rest.find('"') {
                    ids.push(rest[..end].to_string());
                }
            }
        }
    }
    ids
}

#[test]
fn every_used_id_exists_in_every_locale_and_none_is_unused() {
    let root = repo();
    let mut sources = Vec::new();
    files(&root.join("qml"), "qml", &mut sources);
    files(&root.join("launcher/src"), "rs", &mut sources);
    files(&root.join("launcher/core/src"), "rs", &mut sources);
    // The daemon's error codes are looked up by name.
    let mut used: BTreeSet<String> = DAEMON_ERROR_CODES
        .iter()
        .map(|c| format!("error-{}", c.replace('_', "-")))
        .collect();
    for f in &sources {
        used.extend(used_ids(&std::fs::read_to_string(f).unwrap()));
    }
    assert!(
        used.contains("nav-generate"),
        "the scan found nothing: {used:?}"
    );
    for locale in LOCALES {
        let defined: BTreeSet<String> = SOURCES
            .iter()
            .filter(|(l, _, _)| *l == locale)
            .flat_map(|(_, _, text)| message_ids(text))
            .collect();
        let missing: Vec<_> = used.difference(&defined).collect();
        let unused: Vec<_> = defined.difference(&used).collect();
        assert!(missing.is_empty(), "{locale} lacks {missing:?}");
        assert!(unused.is_empty(), "{locale} has unused {unused:?}");
    }
}
