//! Translations: Fluent messages from `i18n/<locale>/*.ftl`, built into the binary so
//! the launcher never shows a bare message id because a file went missing. zh-CN is the
//! default; the system locale picks en-US only when it asks for English.
//!
//! A message missing from the chosen locale falls back to the other one, then to its id
//! in brackets — visible in a screenshot, never a crash. `tests/i18n_ids.rs` keeps both
//! locales complete and free of unused ids.

use fluent_bundle::{FluentArgs, FluentBundle, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

/// The locales RA ships, the default first.
pub const LOCALES: [&str; 2] = ["zh-CN", "en-US"];

/// Every `.ftl` file of every locale, as `(locale, file name, text)`.
pub const SOURCES: [(&str, &str, &str); 2] = [
    (
        "zh-CN",
        "launcher.ftl",
        include_str!("../../../i18n/zh-CN/launcher.ftl"),
    ),
    (
        "en-US",
        "launcher.ftl",
        include_str!("../../../i18n/en-US/launcher.ftl"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum I18nError {
    #[error("unknown language '{0}'; RA speaks zh-CN and en-US")]
    UnknownLocale(String),
    #[error("{locale}/{file}: {message}")]
    Parse {
        locale: String,
        file: String,
        message: String,
    },
}

/// Picks the shipped locale that best serves `requested` (BCP 47 or POSIX forms such
/// as `en_US.UTF-8`), defaulting to zh-CN.
pub fn negotiate(requested: &[&str]) -> &'static str {
    let available: Vec<fluent_langneg::LanguageIdentifier> =
        LOCALES.iter().filter_map(|l| l.parse().ok()).collect();
    let wanted: Vec<fluent_langneg::LanguageIdentifier> = requested
        .iter()
        .filter_map(|r| {
            let tag = r.split(['.', '@']).next().unwrap_or("").replace('_', "-");
            (!tag.is_empty() && tag != "C" && tag != "POSIX")
                .then(|| tag.parse().ok())
                .flatten()
        })
        .collect();
    let default: fluent_langneg::LanguageIdentifier = LOCALES[0].parse().unwrap_or_default();
    let chosen = fluent_langneg::negotiate_languages(
        &wanted,
        &available,
        Some(&default),
        fluent_langneg::NegotiationStrategy::Lookup,
    );
    let first = chosen.first().map(|l| l.to_string()).unwrap_or_default();
    LOCALES
        .iter()
        .find(|l| **l == first)
        .copied()
        .unwrap_or(LOCALES[0])
}

/// The locale the environment asks for (`LC_ALL`, `LC_MESSAGES`, `LANG`, `LANGUAGE`).
pub fn system_locale() -> &'static str {
    let vars: Vec<String> = ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .chain(
            std::env::var("LANGUAGE")
                .ok()
                .into_iter()
                .flat_map(|l| l.split(':').map(String::from).collect::<Vec<_>>()),
        )
        .filter(|v| !v.is_empty())
        .collect();
    let refs: Vec<&str> = vars.iter().map(String::as_str).collect();
    negotiate(&refs)
}

/// The message ids a Fluent source defines, in order.
pub fn message_ids(source: &str) -> Vec<String> {
    source
        .lines()
        .filter_map(|l| {
            let (id, _) = l.split_once('=')?;
            let id = id.trim_end();
            let starts_ok = id.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
            (starts_ok
                && !l.starts_with([' ', '\t', '#', '.'])
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .then(|| id.to_string())
        })
        .collect()
}

pub struct Translator {
    locale: &'static str,
    primary: FluentBundle<FluentResource>,
    fallback: FluentBundle<FluentResource>,
}

fn bundle(locale: &str) -> Result<FluentBundle<FluentResource>, I18nError> {
    let lang: LanguageIdentifier = locale
        .parse()
        .map_err(|_| I18nError::UnknownLocale(locale.to_string()))?;
    let mut bundle = FluentBundle::new(vec![lang]);
    // Qt lays out the text; Unicode isolation marks would show up as boxes.
    bundle.set_use_isolating(false);
    for (l, file, text) in SOURCES.iter().filter(|(l, _, _)| *l == locale) {
        let parse_err = |message: String| I18nError::Parse {
            locale: (*l).to_string(),
            file: (*file).to_string(),
            message,
        };
        let res = FluentResource::try_new((*text).to_string())
            .map_err(|(_, errs)| parse_err(format!("{errs:?}")))?;
        bundle
            .add_resource(res)
            .map_err(|errs| parse_err(format!("{errs:?}")))?;
    }
    Ok(bundle)
}

impl Translator {
    pub fn new(locale: &str) -> Result<Self, I18nError> {
        let locale = LOCALES
            .iter()
            .find(|l| **l == locale)
            .copied()
            .ok_or_else(|| I18nError::UnknownLocale(locale.to_string()))?;
        let other = LOCALES
            .iter()
            .find(|l| **l != locale)
            .copied()
            .unwrap_or(locale);
        Ok(Self {
            locale,
            primary: bundle(locale)?,
            fallback: bundle(other)?,
        })
    }

    pub fn locale(&self) -> &'static str {
        self.locale
    }

    /// The message `id` with `args` (`name`, value) filled in.
    pub fn tr(&self, id: &str, args: &[(&str, &str)]) -> String {
        let mut fargs = FluentArgs::new();
        for (k, v) in args {
            // Numbers stay numbers so plural rules apply.
            match v.parse::<f64>() {
                Ok(n) => fargs.set(*k, FluentValue::from(n)),
                Err(_) => fargs.set(*k, FluentValue::from(*v)),
            }
        }
        for bundle in [&self.primary, &self.fallback] {
            if let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) {
                let mut errors = Vec::new();
                let text = bundle.format_pattern(pattern, Some(&fargs), &mut errors);
                return text.into_owned();
            }
        }
        format!("[{id}]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_is_the_default_and_english_is_chosen_when_asked() {
        assert_eq!(negotiate(&[]), "zh-CN");
        assert_eq!(negotiate(&["C.UTF-8"]), "zh-CN");
        assert_eq!(negotiate(&["de_DE.UTF-8"]), "zh-CN");
        assert_eq!(negotiate(&["en_GB.UTF-8"]), "en-US");
        assert_eq!(negotiate(&["en-US"]), "en-US");
        assert_eq!(negotiate(&["zh_CN.UTF-8"]), "zh-CN");
        assert_eq!(negotiate(&["fr_FR", "en_US"]), "en-US");
    }

    #[test]
    fn messages_format_with_arguments_and_fall_back() {
        let zh = Translator::new("zh-CN").unwrap();
        let en = Translator::new("en-US").unwrap();
        assert_eq!(en.tr("app-title", &[]), "RA");
        assert_ne!(zh.tr("nav-generate", &[]), en.tr("nav-generate", &[]));
        assert!(en
            .tr("daemon-restarting", &[("seconds", "4")])
            .contains('4'));
        assert_eq!(en.tr("no-such-message", &[]), "[no-such-message]");
        assert!(Translator::new("fr-FR").is_err());
    }

    #[test]
    fn ids_are_read_from_sources() {
        let ids = message_ids("# c\nhello = Hi\n    .attr = x\nbye-now = { $n }\n");
        assert_eq!(ids, ["hello", "bye-now"]);
    }
}
