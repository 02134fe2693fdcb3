//! A1111's prompt styles and the wildcards extension's `__name__` syntax, in `process`.
//!
//! Files come from the plugin's data folder (`/data` here; on the host
//! `<data dir>/plugin-data/styles/`): `styles.csv` with A1111's columns
//! `name,prompt,negative_prompt`, and `wildcards/<name>.txt` with one choice per line
//! (blank lines and lines starting with `#` ignored). A style whose prompt holds
//! `{prompt}` wraps the user's prompt; otherwise it is appended after a comma, as A1111
//! does. Wildcards are expanded after styles; the line chosen depends only on the seed,
//! the wildcard's name and its position, so a seed reproduces the choice.

mod csv;

use ra_plugin_sdk::{ActionOutput, Image, Params, Plugin};

#[derive(Default)]
struct Styles;

const DATA: &str = "/data";
/// Wildcard files may name other wildcards; this deep and no deeper.
const MAX_DEPTH: usize = 10;

#[derive(Debug)]
pub struct Style {
    pub name: String,
    pub prompt: String,
    pub negative_prompt: String,
}

fn load_styles() -> Result<Vec<Style>, String> {
    let path = format!("{DATA}/styles.csv");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read styles.csv: {e}")),
    };
    csv::styles(&text).map_err(|e| format!("styles.csv: {e}"))
}

/// A1111's merge: `{prompt}` in the style is replaced, else the two are joined by ", ".
pub fn merge(prompt: &str, style: &str) -> String {
    if style.contains("{prompt}") {
        style.replace("{prompt}", prompt)
    } else {
        [prompt.trim(), style.trim()].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(", ")
    }
}

/// splitmix64: a small, well-mixed hash for picking lines.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// Replaces every `__name__` using `lookup(name)` for the choices of each name.
pub fn expand_wildcards(
    text: &str,
    seed: u64,
    lookup: &mut dyn FnMut(&str) -> Result<Vec<String>, String>,
) -> Result<String, String> {
    let mut current = text.to_string();
    for _ in 0..MAX_DEPTH {
        let mut out = String::new();
        let mut rest = current.as_str();
        let mut occurrence = 0u64;
        let mut changed = false;
        while let Some(start) = rest.find("__") {
            let after = &rest[start + 2..];
            let Some(len) = after.find("__") else { break };
            let name = &after[..len];
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '/' | '.' | ' '))
                && !name.contains("..");
            if !valid {
                out.push_str(&rest[..start + 2]);
                rest = after;
                continue;
            }
            let choices = lookup(name)?;
            let pick = mix(seed ^ mix(name_hash(name) ^ occurrence)) % choices.len() as u64;
            out.push_str(&rest[..start]);
            out.push_str(&choices[pick as usize]);
            rest = &after[len + 2..];
            occurrence += 1;
            changed = true;
        }
        out.push_str(rest);
        current = out;
        if !changed {
            return Ok(current);
        }
    }
    Err(format!("wildcards still nest after {MAX_DEPTH} rounds; does a wildcard file name itself?"))
}

fn wildcard_file(name: &str) -> Result<Vec<String>, String> {
    let path = format!("{DATA}/wildcards/{name}.txt");
    let text = std::fs::read_to_string(&path).map_err(|_| {
        format!("no wildcard file for __{name}__: put wildcards/{name}.txt in the styles plugin's data folder")
    })?;
    let lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    if lines.is_empty() {
        return Err(format!("wildcards/{name}.txt has no lines to choose from"));
    }
    Ok(lines)
}

impl Plugin for Styles {
    fn process(&self, mut params: Params) -> Result<Params, String> {
        if !params.styles.is_empty() {
            let styles = load_styles()?;
            for wanted in &params.styles {
                let style = styles.iter().find(|s| &s.name == wanted).ok_or_else(|| {
                    let known: Vec<&str> = styles.iter().map(|s| s.name.as_str()).collect();
                    format!("no style named {wanted:?} in styles.csv (known: {})", known.join(", "))
                })?;
                params.prompt = merge(&params.prompt, &style.prompt);
                params.negative_prompt = merge(&params.negative_prompt, &style.negative_prompt);
            }
        }
        if params.prompt.contains("__") || params.negative_prompt.contains("__") {
            let mut lookup = |name: &str| wildcard_file(name);
            params.prompt = expand_wildcards(&params.prompt, params.seed, &mut lookup)?;
            // The negative prompt draws from a different stream than the prompt.
            params.negative_prompt = expand_wildcards(&params.negative_prompt, mix(params.seed), &mut lookup)?;
        }
        Ok(params)
    }

    /// `list`: the styles in styles.csv, as A1111's `/sdapi/v1/prompt-styles` lists them.
    fn action(&self, name: &str, _input: &str, _images: Vec<Image>) -> Result<ActionOutput, String> {
        if name != "list" {
            return Err(format!("no action named {name:?}; this plugin has \"list\""));
        }
        let list: Vec<serde_json::Value> = load_styles()?
            .into_iter()
            .map(|s| serde_json::json!({ "name": s.name, "prompt": s.prompt, "negative_prompt": s.negative_prompt }))
            .collect();
        Ok(ActionOutput { json: serde_json::Value::Array(list).to_string(), images: Vec::new() })
    }
}

ra_plugin_sdk::register!(Styles);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles_merge_as_a1111() {
        assert_eq!(merge("a cat", "masterpiece, best quality"), "a cat, masterpiece, best quality");
        assert_eq!(merge("a cat", "photo of {prompt}, 35mm"), "photo of a cat, 35mm");
        assert_eq!(merge("", "lowres"), "lowres");
        assert_eq!(merge("blurry", ""), "blurry");
    }

    #[test]
    fn the_seed_reproduces_the_choice() {
        let colours = || vec!["red".to_string(), "green".into(), "blue".into(), "gold".into()];
        let mut lookup = |_: &str| Ok(colours());
        let a = expand_wildcards("a __colour__ cat and a __colour__ dog", 42, &mut lookup).unwrap();
        let b = expand_wildcards("a __colour__ cat and a __colour__ dog", 42, &mut lookup).unwrap();
        assert_eq!(a, b);
        assert!(!a.contains("__"), "{a}");
        let picks: std::collections::BTreeSet<String> =
            (0..40).map(|seed| expand_wildcards("__colour__", seed, &mut lookup).unwrap()).collect();
        assert_eq!(picks.len(), 4, "every line is reachable: {picks:?}");
    }

    #[test]
    fn wildcards_nest_but_not_forever() {
        let mut lookup = |name: &str| {
            Ok(vec![match name {
                "animal" => "__colour__ fox".to_string(),
                "colour" => "red".to_string(),
                _ => "__loop__".to_string(),
            }])
        };
        assert_eq!(expand_wildcards("a __animal__", 1, &mut lookup).unwrap(), "a red fox");
        assert!(expand_wildcards("__loop__", 1, &mut lookup).unwrap_err().contains("name itself"));
        // Underscores that are not a wildcard stay.
        assert_eq!(expand_wildcards("snake_case __ alone", 1, &mut lookup).unwrap(), "snake_case __ alone");
    }
}
