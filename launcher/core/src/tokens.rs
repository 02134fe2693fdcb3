//! A1111's token counter ("12/75"): how many CLIP tokens a prompt takes, against the
//! 75-token chunks the text encoder reads.

use std::sync::OnceLock;

use ra_tokenizer::{ClipTokenizer, CHUNK_TOKENS};

fn tokenizer() -> Option<&'static ClipTokenizer> {
    static T: OnceLock<Option<ClipTokenizer>> = OnceLock::new();
    T.get_or_init(|| ClipTokenizer::builtin().ok()).as_ref()
}

/// Tokens in `prompt` and the chunk limit they fall under (75, 150, …).
pub fn count(prompt: &str) -> (usize, usize) {
    let n = tokenizer()
        .and_then(|t| t.encode(prompt).ok())
        .map_or(0, |ids| ids.len());
    (n, n.max(1).div_ceil(CHUNK_TOKENS) * CHUNK_TOKENS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_like_a1111() {
        assert_eq!(super::count(""), (0, 75));
        assert_eq!(super::count("a photo of a cat"), (5, 75));
        assert_eq!(super::count(&"cat ".repeat(80)), (80, 150));
    }
}
