//! Skins: a folder `<id>/skin.toml` (names per locale, palette, fonts, radii, an optional
//! background image inside the folder). Two are built in (`light`, the default, and
//! `dark`); users add theirs under `<data dir>/skins/`. A skin that does not parse or
//! validate never reaches the window: the default is used and the reason is kept for a
//! visible notice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub const DEFAULT_SKIN: &str = "light";

/// The built-in skins, as `(id, skin.toml)`.
pub const BUILT_IN: [(&str, &str); 2] = [
    ("light", include_str!("../../../qml/skins/light/skin.toml")),
    ("dark", include_str!("../../../qml/skins/dark/skin.toml")),
];

#[derive(Debug, thiserror::Error)]
pub enum SkinError {
    #[error("no skin named '{0}'")]
    Unknown(String),
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{path} is not a valid skin: {message}")]
    Invalid { path: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Palette {
    pub window: String,
    pub surface: String,
    pub text: String,
    pub muted: String,
    pub accent: String,
    pub accent_text: String,
    pub border: String,
    pub danger: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fonts {
    pub family: String,
    pub size: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Radii {
    pub small: u32,
    pub large: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct SkinFile {
    name: BTreeMap<String, String>,
    palette: Palette,
    fonts: Fonts,
    radii: Radii,
    background: Option<String>,
}

/// A validated skin, ready for the QML theme.
#[derive(Debug, Clone, PartialEq)]
pub struct Skin {
    pub id: String,
    /// Display name per locale.
    pub names: BTreeMap<String, String>,
    pub palette: Palette,
    pub fonts: Fonts,
    pub radii: Radii,
    /// Absolute path of the background image, checked to exist inside the skin folder.
    pub background: Option<PathBuf>,
}

impl Skin {
    /// The name in `locale`, else in any locale, else the id.
    pub fn name(&self, locale: &str) -> &str {
        self.names
            .get(locale)
            .or_else(|| self.names.values().next())
            .map_or(self.id.as_str(), String::as_str)
    }
}

fn valid_colour(c: &str) -> bool {
    let hex = c.strip_prefix('#').unwrap_or("");
    matches!(hex.len(), 3 | 6 | 8) && hex.chars().all(|ch| ch.is_ascii_hexdigit())
}

/// Parses and checks `text` as the skin `id`; `dir` is its folder (for the background)
/// and `path` names it in messages.
pub fn parse(id: &str, text: &str, dir: Option<&Path>, path: &str) -> Result<Skin, SkinError> {
    let invalid = |message: String| SkinError::Invalid {
        path: path.to_string(),
        message,
    };
    let file: SkinFile = toml::from_str(text).map_err(|e| invalid(e.message().to_string()))?;
    if file.name.is_empty() {
        return Err(invalid(
            "[name] needs at least one locale, e.g. zh-CN = \"…\"".into(),
        ));
    }
    let p = &file.palette;
    for (key, value) in [
        ("window", &p.window),
        ("surface", &p.surface),
        ("text", &p.text),
        ("muted", &p.muted),
        ("accent", &p.accent),
        ("accent_text", &p.accent_text),
        ("border", &p.border),
        ("danger", &p.danger),
    ] {
        if !valid_colour(value) {
            return Err(invalid(format!(
                "palette.{key} = \"{value}\" is not a colour; use #rgb, #rrggbb or #aarrggbb"
            )));
        }
    }
    if !(8..=32).contains(&file.fonts.size) {
        return Err(invalid(format!(
            "fonts.size = {} is out of range; use 8 to 32",
            file.fonts.size
        )));
    }
    if file.radii.small > 32 || file.radii.large > 64 {
        return Err(invalid(
            "radii are too large; use at most 32 (small) and 64 (large)".into(),
        ));
    }
    let background = match (&file.background, dir) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(invalid(
                "a built-in skin cannot name a background file".into(),
            ))
        }
        (Some(name), Some(dir)) => {
            let rel = Path::new(name);
            let plain = rel
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            let full = dir.join(rel);
            let inside = plain
                && full
                    .canonicalize()
                    .ok()
                    .zip(dir.canonicalize().ok())
                    .is_some_and(|(f, d)| f.starts_with(d));
            if !inside || !full.is_file() {
                return Err(invalid(format!(
                    "background \"{name}\" must be an image file inside the skin folder"
                )));
            }
            Some(full)
        }
    };
    Ok(Skin {
        id: id.to_string(),
        names: file.name,
        palette: file.palette,
        fonts: file.fonts,
        radii: file.radii,
        background,
    })
}

pub fn built_in(id: &str) -> Option<Skin> {
    BUILT_IN
        .iter()
        .find(|(i, _)| *i == id)
        .and_then(|(i, text)| parse(i, text, None, &format!("built-in skin {i}")).ok())
}

/// The default skin. Its text is checked by the tests, so it always parses.
pub fn default_skin() -> Skin {
    built_in(DEFAULT_SKIN).unwrap_or_else(|| Skin {
        id: DEFAULT_SKIN.into(),
        names: BTreeMap::new(),
        palette: Palette {
            window: "#ffffff".into(),
            surface: "#f4f4f4".into(),
            text: "#111111".into(),
            muted: "#666666".into(),
            accent: "#2f6fde".into(),
            accent_text: "#ffffff".into(),
            border: "#dddddd".into(),
            danger: "#c62828".into(),
        },
        fonts: Fonts {
            family: "Noto Sans CJK SC".into(),
            size: 14,
        },
        radii: Radii {
            small: 4,
            large: 10,
        },
        background: None,
    })
}

/// Loads the skin `id`: a user skin under `user_dir/<id>/skin.toml` wins over a
/// built-in one of the same id.
pub fn load(id: &str, user_dir: Option<&Path>) -> Result<Skin, SkinError> {
    if let Some(dir) = user_dir.map(|d| d.join(id)).filter(|d| d.is_dir()) {
        let path = dir.join("skin.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| SkinError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        return parse(id, &text, Some(&dir), &path.display().to_string());
    }
    built_in(id).ok_or_else(|| SkinError::Unknown(id.to_string()))
}

/// The skin to show for `id`, and, if it could not be used, why (for a notice).
pub fn load_or_default(id: &str, user_dir: Option<&Path>) -> (Skin, Option<SkinError>) {
    match load(id, user_dir) {
        Ok(s) => (s, None),
        Err(e) => (default_skin(), Some(e)),
    }
}

/// Every usable skin id: built-ins, then user skins (sorted), without duplicates.
pub fn available(user_dir: Option<&Path>) -> Vec<String> {
    let mut ids: Vec<String> = BUILT_IN.iter().map(|(i, _)| (*i).to_string()).collect();
    if let Some(Ok(entries)) = user_dir.map(std::fs::read_dir) {
        let mut user: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().join("skin.toml").is_file())
            .filter_map(|e| e.file_name().to_str().map(String::from))
            .filter(|id| !ids.contains(id))
            .collect();
        user.sort();
        ids.extend(user);
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_skins_parse_and_name_themselves_in_both_locales() {
        for (id, _) in BUILT_IN {
            let s = built_in(id).unwrap_or_else(|| panic!("{id} does not parse"));
            for locale in crate::i18n::LOCALES {
                assert!(s.names.contains_key(locale), "{id} has no {locale} name");
            }
        }
        assert_eq!(default_skin().id, "light");
        assert_ne!(
            built_in("dark").unwrap().palette.window,
            default_skin().palette.window
        );
    }

    #[test]
    fn user_skins_load_and_broken_ones_fall_back_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("ink");
        std::fs::create_dir_all(&good).unwrap();
        std::fs::write(good.join("bg.png"), b"png").unwrap();
        let text = "background = \"bg.png\"\n".to_string() + BUILT_IN[1].1;
        std::fs::write(good.join("skin.toml"), &text).unwrap();
        let (skin, err) = load_or_default("ink", Some(dir.path()));
        assert!(err.is_none(), "{err:?}");
        assert_eq!(skin.background.unwrap(), good.join("bg.png"));
        assert_eq!(available(Some(dir.path())), ["light", "dark", "ink"]);

        let cases = [
            ("[name]\nen-US = \"x\"\n", "palette"),
            (&BUILT_IN[0].1.replace("\"#", "\"no"), "not a colour"),
            (
                &("background = \"../../etc/passwd\"\n".to_string() + BUILT_IN[0].1),
                "inside the skin folder",
            ),
            (&("surprise = 1\n".to_string() + BUILT_IN[0].1), "surprise"),
        ];
        for (i, (text, why)) in cases.iter().enumerate() {
            let d = dir.path().join(format!("bad{i}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("skin.toml"), text).unwrap();
            let (skin, err) = load_or_default(&format!("bad{i}"), Some(dir.path()));
            assert_eq!(skin.id, "light");
            let err = err.unwrap().to_string();
            assert!(err.contains(why) && err.contains("skin.toml"), "{err}");
        }
        let (skin, err) = load_or_default("missing", Some(dir.path()));
        assert_eq!(
            (skin.id.as_str(), err.unwrap().to_string()),
            ("light", "no skin named 'missing'".into())
        );
    }
}
