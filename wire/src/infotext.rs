//! A1111's infotext: the text stored in a PNG's `parameters` chunk that says how an image
//! was made.
//!
//! Layout: the prompt (possibly several lines), an optional line starting with
//! `Negative prompt: ` (which may continue over further lines), then one last line of
//! `Key: value` pairs joined by `, `. A value containing `,`, `:` or a newline is written
//! as a JSON string. [`Infotext`] is the untyped form that round-trips any A1111 text;
//! [`GenerationInfo`] is the typed view RA writes and reads.

use crate::sampler::{SamplerName, ScheduleType};

const NEGATIVE_PREFIX: &str = "Negative prompt:";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InfotextError {
    #[error(
        "infotext has no parameter line (expected 'Steps: …, Sampler: …, …' as its last line)"
    )]
    NoParameters,
    #[error("infotext is missing the '{0}' parameter")]
    Missing(&'static str),
    #[error("infotext parameter '{key}' has an invalid value '{value}': {reason}")]
    Invalid {
        key: &'static str,
        value: String,
        reason: String,
    },
}

/// Infotext as ordered key/value pairs, for any text A1111 or RA wrote.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Infotext {
    pub prompt: String,
    pub negative_prompt: String,
    pub params: Vec<(String, String)>,
}

impl Infotext {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Renders the text as A1111 does.
    pub fn render(&self) -> String {
        let mut out = self.prompt.clone();
        if !self.negative_prompt.is_empty() {
            out.push('\n');
            out.push_str(NEGATIVE_PREFIX);
            out.push(' ');
            out.push_str(&self.negative_prompt);
        }
        let line = self
            .params
            .iter()
            .map(|(k, v)| format!("{k}: {}", quote(v)))
            .collect::<Vec<_>>()
            .join(", ");
        out.push('\n');
        out.push_str(&line);
        out
    }

    /// Parses text written by A1111 or RA. As in A1111, the last line is the parameter
    /// line only when it holds at least three `Key: value` pairs.
    pub fn parse(text: &str) -> Result<Self, InfotextError> {
        let text = text.trim_end_matches(['\n', '\r']);
        let (body, last) = match text.rsplit_once('\n') {
            Some((body, last)) => (body, last),
            None => ("", text),
        };
        let params = parse_params(last)
            .filter(|p| p.len() >= 3)
            .ok_or(InfotextError::NoParameters)?;
        let mut prompt_lines: Vec<&str> = Vec::new();
        let mut negative_lines: Vec<&str> = Vec::new();
        let mut in_negative = false;
        for line in body.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if !in_negative {
                if let Some(rest) = line.strip_prefix(NEGATIVE_PREFIX) {
                    in_negative = true;
                    negative_lines.push(rest.strip_prefix(' ').unwrap_or(rest));
                    continue;
                }
                prompt_lines.push(line);
            } else {
                negative_lines.push(line);
            }
        }
        Ok(Self {
            prompt: prompt_lines.join("\n"),
            negative_prompt: negative_lines.join("\n"),
            params,
        })
    }
}

fn needs_quotes(v: &str) -> bool {
    v.contains([',', ':', '\n'])
}

fn quote(v: &str) -> String {
    if needs_quotes(v) {
        // A JSON string of a `str` cannot fail to serialise.
        serde_json::to_string(v).unwrap_or_else(|_| format!("\"{v}\""))
    } else {
        v.to_string()
    }
}

/// Parses `Key: value, Key: "quoted, value", …`; `None` when the line holds no pair.
fn parse_params(line: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        let colon = rest.find(':')?;
        let key = rest[..colon].trim();
        let key_ok = key
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
            && key
                .chars()
                .all(|c| c.is_alphanumeric() || " _-/()".contains(c));
        if !key_ok {
            return None;
        }
        rest = rest[colon + 1..].trim_start();
        let value;
        if rest.starts_with('"') {
            let end = closing_quote(rest)?;
            value = serde_json::from_str::<String>(&rest[..=end]).ok()?;
            rest = &rest[end + 1..];
            rest = rest.trim_start();
            rest = rest.strip_prefix(',').unwrap_or(rest);
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = rest.get(end + 1..).unwrap_or("");
        }
        out.push((key.to_string(), value));
        rest = rest.trim_start();
    }
    (!out.is_empty()).then_some(out)
}

/// Index of the quote closing the JSON string that starts at `s[0]`.
fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => return Some(i),
            _ => {}
        }
    }
    None
}

/// What RA records about one generated image.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationInfo {
    pub prompt: String,
    pub negative_prompt: String,
    pub steps: u32,
    pub sampler: SamplerName,
    pub schedule_type: ScheduleType,
    pub cfg_scale: f64,
    pub seed: u64,
    pub width: u32,
    pub height: u32,
    pub model_hash: String,
    pub model: String,
    /// Present for img2img.
    pub denoising_strength: Option<f64>,
    /// Further pairs, written after the known ones in this order.
    pub extra: Vec<(String, String)>,
}

impl GenerationInfo {
    pub fn to_infotext(&self) -> Infotext {
        let mut params = vec![
            ("Steps".to_string(), self.steps.to_string()),
            ("Sampler".to_string(), self.sampler.to_string()),
            ("Schedule type".to_string(), self.schedule_type.to_string()),
            ("CFG scale".to_string(), self.cfg_scale.to_string()),
            ("Seed".to_string(), self.seed.to_string()),
            (
                "Size".to_string(),
                format!("{}x{}", self.width, self.height),
            ),
            ("Model hash".to_string(), self.model_hash.clone()),
            ("Model".to_string(), self.model.clone()),
        ];
        if let Some(s) = self.denoising_strength {
            params.push(("Denoising strength".to_string(), s.to_string()));
        }
        params.extend(self.extra.iter().cloned());
        Infotext {
            prompt: self.prompt.clone(),
            negative_prompt: self.negative_prompt.clone(),
            params,
        }
    }

    pub fn render(&self) -> String {
        self.to_infotext().render()
    }

    /// Reads the typed fields back; unknown keys land in `extra`.
    pub fn from_infotext(info: &Infotext) -> Result<Self, InfotextError> {
        fn req<'a>(info: &'a Infotext, key: &'static str) -> Result<&'a str, InfotextError> {
            info.get(key).ok_or(InfotextError::Missing(key))
        }
        fn num<T: std::str::FromStr>(info: &Infotext, key: &'static str) -> Result<T, InfotextError>
        where
            T::Err: std::fmt::Display,
        {
            let v = req(info, key)?;
            v.parse().map_err(|e: T::Err| InfotextError::Invalid {
                key,
                value: v.to_string(),
                reason: e.to_string(),
            })
        }
        let invalid = |key: &'static str, value: &str, reason: String| InfotextError::Invalid {
            key,
            value: value.to_string(),
            reason,
        };
        let sampler_text = req(info, "Sampler")?;
        let (sampler, legacy_schedule) = SamplerName::parse_with_schedule(sampler_text)
            .map_err(|e| invalid("Sampler", sampler_text, e.to_string()))?;
        let schedule_type = match info.get("Schedule type") {
            Some(v) => v
                .parse()
                .map_err(|e: crate::UnknownName| invalid("Schedule type", v, e.to_string()))?,
            None => legacy_schedule.unwrap_or(ScheduleType::Automatic),
        };
        let size = req(info, "Size")?;
        let (w, h) = size
            .split_once('x')
            .and_then(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)))
            .ok_or_else(|| invalid("Size", size, "expected WIDTHxHEIGHT".into()))?;
        let denoising_strength = match info.get("Denoising strength") {
            Some(_) => Some(num(info, "Denoising strength")?),
            None => None,
        };
        const KNOWN: [&str; 9] = [
            "Steps",
            "Sampler",
            "Schedule type",
            "CFG scale",
            "Seed",
            "Size",
            "Model hash",
            "Model",
            "Denoising strength",
        ];
        Ok(Self {
            prompt: info.prompt.clone(),
            negative_prompt: info.negative_prompt.clone(),
            steps: num(info, "Steps")?,
            sampler,
            schedule_type,
            cfg_scale: num(info, "CFG scale")?,
            seed: num(info, "Seed")?,
            width: w,
            height: h,
            model_hash: info.get("Model hash").unwrap_or_default().to_string(),
            model: info.get("Model").unwrap_or_default().to_string(),
            denoising_strength,
            extra: info
                .params
                .iter()
                .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
                .cloned()
                .collect(),
        })
    }

    pub fn parse(text: &str) -> Result<Self, InfotextError> {
        Self::from_infotext(&Infotext::parse(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> GenerationInfo {
        GenerationInfo {
            prompt: "a cat, (sitting:1.2)\nsecond line".into(),
            negative_prompt: "blurry".into(),
            steps: 20,
            sampler: SamplerName::EulerA,
            schedule_type: ScheduleType::Karras,
            cfg_scale: 7.0,
            seed: 42,
            width: 512,
            height: 512,
            model_hash: "0123456789".into(),
            model: "name".into(),
            denoising_strength: None,
            extra: vec![("Lora hashes".into(), "a: 1, b: 2".into())],
        }
    }

    #[test]
    fn renders_exactly_as_a1111() {
        assert_eq!(
            sample().render(),
            "a cat, (sitting:1.2)\nsecond line\nNegative prompt: blurry\n\
             Steps: 20, Sampler: Euler a, Schedule type: Karras, CFG scale: 7, Seed: 42, \
             Size: 512x512, Model hash: 0123456789, Model: name, Lora hashes: \"a: 1, b: 2\""
        );
    }

    #[test]
    fn round_trips_through_text() {
        let info = sample();
        assert_eq!(GenerationInfo::parse(&info.render()).unwrap(), info);
        let mut img2img = sample();
        img2img.denoising_strength = Some(0.75);
        img2img.negative_prompt = String::new();
        img2img.prompt = "山水画, 水墨".into();
        assert_eq!(GenerationInfo::parse(&img2img.render()).unwrap(), img2img);
    }

    #[test]
    fn reads_a1111_text_with_legacy_sampler_and_multiline_negative() {
        let text = "masterpiece\nNegative prompt: bad hands\nugly\nSteps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7.5, Seed: 123, Size: 512x768, Model hash: abcdef1234, Model: v1-5, Version: v1.6.0";
        let info = GenerationInfo::parse(text).unwrap();
        assert_eq!(info.prompt, "masterpiece");
        assert_eq!(info.negative_prompt, "bad hands\nugly");
        assert_eq!(info.sampler, SamplerName::DpmPp2m);
        assert_eq!(info.schedule_type, ScheduleType::Karras);
        assert_eq!((info.width, info.height), (512, 768));
        assert_eq!(info.cfg_scale, 7.5);
        assert_eq!(
            info.extra,
            vec![("Version".to_string(), "v1.6.0".to_string())]
        );
    }

    #[test]
    fn bad_text_says_what_is_missing() {
        assert_eq!(
            GenerationInfo::parse("just a prompt").unwrap_err(),
            InfotextError::NoParameters
        );
        assert_eq!(
            GenerationInfo::parse("p\nSteps: 20, Seed: 1, Size: 8x8").unwrap_err(),
            InfotextError::Missing("Sampler")
        );
        let err = GenerationInfo::parse(
            "p\nSteps: many, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 8x8",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("'Steps' has an invalid value 'many'"),
            "{err}"
        );
    }
}
