//! The CLIP BPE tokenizer, built with the `tokenizers` crate from whichever form a model
//! ships: a `tokenizer.json`, a `vocab.json` + `merges.txt` pair (what published SD 1.5
//! folders hold), or — for single-file checkpoints, which carry none — the CLIP BPE merge
//! list compiled into RA, so that nothing is fetched from a hub.
//!
//! SD 1.x and 2.x share one vocabulary (49408 entries: 256 byte symbols, the same with the
//! `</w>` end-of-word mark, 48894 merges, then `<|startoftext|>` and `<|endoftext|>`).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde_json::{json, Value};
use tokenizers::Tokenizer;

pub mod chunks;
pub mod prompt;

/// Why a tokenizer could not be built or could not encode.
#[derive(Debug, thiserror::Error)]
#[error("tokenizer: {0}")]
pub struct TokenizerError(String);

pub type Result<T> = std::result::Result<T, TokenizerError>;

/// The merge list from the `open_clip_torch` wheel (MIT; see `assets/`).
const BUILTIN_BPE_GZ: &[u8] = include_bytes!("../assets/bpe_simple_vocab_16e6.txt.gz");
/// CLIP keeps this many merges of the file (vocabulary size 49408 minus bytes and specials).
const CLIP_MERGES: usize = 49152 - 256 - 2;

pub const BOS: &str = "<|startoftext|>";
pub const EOS: &str = "<|endoftext|>";
/// Tokens of the prompt that fit between BOS and EOS in one 77-token window.
pub const CHUNK_TOKENS: usize = 75;

/// A CLIP tokenizer with its special ids.
pub struct ClipTokenizer {
    inner: Tokenizer,
    bos: u32,
    eos: u32,
}

/// The ids one prompt gives: the window the text encoder reads and what fit in it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenizedPrompt {
    /// BOS, up to 75 prompt tokens, EOS, then padding to 77.
    pub input_ids: Vec<u32>,
    /// How many tokens the prompt has (A1111's counter), before truncation.
    pub token_count: usize,
    /// Whether tokens past the 75th were dropped.
    pub truncated: bool,
}

impl ClipTokenizer {
    /// The tokenizer compiled into RA.
    pub fn builtin() -> Result<Self> {
        let (vocab, merges) = Self::builtin_parts()?;
        Self::from_json(&tokenizer_json(&vocab, &merges))
    }

    /// The built-in vocabulary and merge list (what `vocab.json` and `merges.txt` hold).
    pub fn builtin_parts() -> Result<(BTreeMap<String, u32>, Vec<String>)> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(BUILTIN_BPE_GZ)
            .read_to_string(&mut text)
            .map_err(|e| TokenizerError(format!("built-in CLIP vocabulary: {e}")))?;
        let merges: Vec<String> = text
            .lines()
            .skip(1)
            .take(CLIP_MERGES)
            .map(str::to_string)
            .collect();
        Ok((vocab_from_merges(&merges), merges))
    }

    /// A tokenizer from a CLIP merge list.
    pub fn from_merges(merges: &[String]) -> Result<Self> {
        Self::from_json(&tokenizer_json(&vocab_from_merges(merges), merges))
    }
}

/// CLIP's vocabulary, in CLIP's order: byte symbols, the same with `</w>`, each merge,
/// then the two special tokens.
fn vocab_from_merges(merges: &[String]) -> BTreeMap<String, u32> {
    let symbols = byte_symbols();
    let mut vocab: BTreeMap<String, u32> = BTreeMap::new();
    let mut next = 0u32;
    let mut add = |tok: String, vocab: &mut BTreeMap<String, u32>| {
        vocab.entry(tok).or_insert_with(|| {
            next += 1;
            next - 1
        });
    };
    for s in &symbols {
        add(s.to_string(), &mut vocab);
    }
    for s in &symbols {
        add(format!("{s}</w>"), &mut vocab);
    }
    for m in merges {
        add(m.replacen(' ', "", 1), &mut vocab);
    }
    add(BOS.to_string(), &mut vocab);
    add(EOS.to_string(), &mut vocab);
    vocab
}

impl ClipTokenizer {
    /// Loads a model's own tokenizer folder: `tokenizer.json` when present, else
    /// `vocab.json` + `merges.txt`.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let json_path = dir.join("tokenizer.json");
        if json_path.is_file() {
            let text = read(&json_path)?;
            let value: Value = serde_json::from_str(&text).map_err(|e| {
                TokenizerError(format!("{} is not valid JSON: {e}", json_path.display()))
            })?;
            return Self::from_json(&value);
        }
        let vocab_path = dir.join("vocab.json");
        let merges_path = dir.join("merges.txt");
        if !vocab_path.is_file() || !merges_path.is_file() {
            return Err(TokenizerError(format!(
                "{} holds neither tokenizer.json nor vocab.json + merges.txt",
                dir.display()
            )));
        }
        let vocab: BTreeMap<String, u32> =
            serde_json::from_str(&read(&vocab_path)?).map_err(|e| {
                TokenizerError(format!("{} is not a vocabulary: {e}", vocab_path.display()))
            })?;
        let merges: Vec<String> = read(&merges_path)?
            .lines()
            .filter(|l| !l.starts_with("#version") && !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        Self::from_json(&tokenizer_json(&vocab, &merges))
    }

    fn from_json(value: &Value) -> Result<Self> {
        let inner: Tokenizer = serde_json::from_value(value.clone())
            .map_err(|e| TokenizerError(format!("not a CLIP tokenizer: {e}")))?;
        let id = |t: &str| {
            inner
                .token_to_id(t)
                .ok_or_else(|| TokenizerError(format!("tokenizer lacks the {t} token")))
        };
        let (bos, eos) = (id(BOS)?, id(EOS)?);
        Ok(Self { inner, bos, eos })
    }

    /// The tokenizer in `tokenizer.json` form, as make-model writes it.
    pub fn to_json(&self) -> Result<String> {
        self.inner
            .to_string(true)
            .map_err(|e| TokenizerError(e.to_string()))
    }

    pub fn eos(&self) -> u32 {
        self.eos
    }

    /// The prompt's tokens without BOS/EOS.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| TokenizerError(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// One 77-token window: BOS, the prompt (truncated to 75 tokens), EOS, then `pad`.
    pub fn window(&self, text: &str, pad: u32) -> Result<TokenizedPrompt> {
        let ids = self.encode(text)?;
        let token_count = ids.len();
        let mut input_ids = Vec::with_capacity(CHUNK_TOKENS + 2);
        input_ids.push(self.bos);
        input_ids.extend(ids.iter().take(CHUNK_TOKENS));
        input_ids.push(self.eos);
        input_ids.resize(CHUNK_TOKENS + 2, pad);
        Ok(TokenizedPrompt {
            input_ids,
            token_count,
            truncated: token_count > CHUNK_TOKENS,
        })
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| TokenizerError(format!("{}: {e}", path.display())))
}

/// GPT-2's reversible map from bytes to printable characters, in CLIP's vocabulary order:
/// the printable bytes first, then the others mapped above U+0100.
fn byte_symbols() -> Vec<char> {
    let printable = |b: u32| {
        (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b)
    };
    let mut out: Vec<char> = (0u32..256)
        .filter(|&b| printable(b))
        .filter_map(char::from_u32)
        .collect();
    let mut extra = 0u32;
    for b in 0u32..256 {
        if !printable(b) {
            out.extend(char::from_u32(256 + extra));
            extra += 1;
        }
    }
    out
}

/// The `tokenizers` description of CLIP's tokenizer: NFC, whitespace folding and
/// lower-casing; CLIP's word split; byte-level symbols; BPE with `</w>` word ends.
fn tokenizer_json(vocab: &BTreeMap<String, u32>, merges: &[String]) -> Value {
    let special = |id: u32, content: &str| {
        json!({"id": id, "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": true, "special": true})
    };
    let bos = vocab.get(BOS).copied().unwrap_or(49406);
    let eos = vocab.get(EOS).copied().unwrap_or(49407);
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [special(bos, BOS), special(eos, EOS)],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "NFC"},
            {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "},
            {"type": "Lowercase"}
        ]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex":
                "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+"},
             "behavior": "Removed", "invert": true},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}
        ]},
        "post_processor": {"type": "RobertaProcessing", "sep": [EOS, eos], "cls": [BOS, bos],
                           "trim_offsets": false, "add_prefix_space": false},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": EOS,
                  "continuing_subword_prefix": "", "end_of_word_suffix": "</w>",
                  "fuse_unk": false, "byte_fallback": false, "vocab": vocab, "merges": merges}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_vocabulary_has_clip_size_and_ids() {
        let t = ClipTokenizer::builtin().unwrap();
        assert_eq!(t.inner.get_vocab_size(true), 49408);
        assert_eq!((t.bos, t.eos), (49406, 49407));
        // Ids that CLIP's own tokenizer gives for these words.
        assert_eq!(
            t.encode("a photo of a cat").unwrap(),
            vec![320, 1125, 539, 320, 2368]
        );
    }

    #[test]
    fn window_pads_and_truncates() {
        let t = ClipTokenizer::builtin().unwrap();
        let w = t.window("a cat", t.eos()).unwrap();
        assert_eq!(w.input_ids.len(), 77);
        assert_eq!(&w.input_ids[..4], &[49406, 320, 2368, 49407]);
        assert!(w.input_ids[4..].iter().all(|&i| i == 49407));
        let long = "cat ".repeat(100);
        let w = t.window(&long, 0).unwrap();
        assert_eq!((w.token_count, w.truncated), (100, true));
        assert_eq!(w.input_ids[76], 49407);
    }
}
