//! Weighted prompts cut into the text encoder's 77-token windows, as A1111 cuts them.
//!
//! Each fragment from [`crate::prompt::parse_attention`] is tokenized on its own. Tokens
//! fill chunks of 75; a chunk that fills up within 20 tokens of a comma moves the text
//! after that comma into the next chunk, so a phrase is not torn across two windows; a
//! `BREAK` starts a new chunk. Every chunk is then wrapped in BOS … EOS, padded, and
//! encoded on its own; the engine concatenates the results.
//!
//! A textual-inversion embedding's name, when its tokens appear in a fragment, is
//! replaced by as many placeholder positions as the embedding has vectors; the engine
//! writes the vectors there before the encoder runs.

use crate::prompt::BREAK;
use crate::{ClipTokenizer, Result, CHUNK_TOKENS};

/// A1111's `comma_padding_backtrack` default.
const COMMA_BACKTRACK: usize = 20;

/// An embedding as the chunker sees it: the tokens of its name and its vector count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingName {
    pub ids: Vec<u32>,
    pub vectors: usize,
}

/// Where an embedding's vectors go in a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddingFix {
    /// Position in [`Chunk::ids`] of the first vector (BOS is position 0).
    pub position: usize,
    /// Index into the embedding list the chunker was given.
    pub embedding: usize,
}

/// One 77-token window with a weight per position.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub ids: Vec<u32>,
    pub multipliers: Vec<f32>,
    pub fixes: Vec<EmbeddingFix>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chunked {
    pub chunks: Vec<Chunk>,
    /// A1111's token counter: 75 per full chunk plus the tokens of the last.
    pub token_count: usize,
}

#[derive(Default)]
struct Building {
    ids: Vec<u32>,
    multipliers: Vec<f32>,
    fixes: Vec<EmbeddingFix>,
}

impl ClipTokenizer {
    /// Cuts weighted fragments into chunks. `pad` fills each window after its EOS (EOS
    /// itself for SD 1.x, 0 for SD 2.x).
    pub fn chunks(
        &self,
        fragments: &[(String, f64)],
        embeddings: &[EmbeddingName],
        pad: u32,
    ) -> Result<Chunked> {
        let comma = self.inner.token_to_id(",</w>");
        let mut done = Chunked {
            chunks: Vec::new(),
            token_count: 0,
        };
        let mut chunk = Building::default();
        let mut last_comma: Option<usize> = None;
        let finish = |chunk: Building, done: &mut Chunked, is_last: bool| {
            done.token_count += if is_last {
                chunk.ids.len()
            } else {
                CHUNK_TOKENS
            };
            let mut ids = Vec::with_capacity(CHUNK_TOKENS + 2);
            ids.push(self.bos);
            ids.extend(&chunk.ids);
            ids.push(self.eos);
            ids.resize(CHUNK_TOKENS + 2, pad);
            let mut multipliers = vec![1.0];
            multipliers.extend(&chunk.multipliers);
            multipliers.resize(CHUNK_TOKENS + 2, 1.0);
            done.chunks.push(Chunk {
                ids,
                multipliers,
                fixes: chunk.fixes,
            });
        };
        for (text, weight) in fragments {
            if (text.as_str(), *weight) == BREAK {
                finish(std::mem::take(&mut chunk), &mut done, false);
                last_comma = None;
                continue;
            }
            let tokens = self.encode(text)?;
            let weight = *weight as f32;
            let mut position = 0;
            while position < tokens.len() {
                let token = tokens[position];
                if Some(token) == comma {
                    last_comma = Some(chunk.ids.len());
                } else if let Some(at) = last_comma.filter(|&at| {
                    chunk.ids.len() == CHUNK_TOKENS && chunk.ids.len() - at <= COMMA_BACKTRACK
                }) {
                    let moved = Building {
                        ids: chunk.ids.split_off(at + 1),
                        multipliers: chunk.multipliers.split_off(at + 1),
                        fixes: Vec::new(),
                    };
                    finish(std::mem::replace(&mut chunk, moved), &mut done, false);
                    last_comma = None;
                }
                if chunk.ids.len() == CHUNK_TOKENS {
                    finish(std::mem::take(&mut chunk), &mut done, false);
                    last_comma = None;
                }
                match embedding_at(&tokens, position, embeddings) {
                    None => {
                        chunk.ids.push(token);
                        chunk.multipliers.push(weight);
                        position += 1;
                    }
                    Some(index) => {
                        let e = &embeddings[index];
                        if chunk.ids.len() + e.vectors > CHUNK_TOKENS {
                            finish(std::mem::take(&mut chunk), &mut done, false);
                            last_comma = None;
                        }
                        chunk.fixes.push(EmbeddingFix {
                            position: chunk.ids.len() + 1,
                            embedding: index,
                        });
                        chunk.ids.extend(std::iter::repeat_n(0, e.vectors));
                        chunk.multipliers.extend(std::iter::repeat_n(weight, e.vectors));
                        position += e.ids.len();
                    }
                }
            }
        }
        if !chunk.ids.is_empty() || done.chunks.is_empty() {
            finish(chunk, &mut done, true);
        }
        Ok(done)
    }
}

/// The longest embedding whose name's tokens start at `position`.
fn embedding_at(tokens: &[u32], position: usize, embeddings: &[EmbeddingName]) -> Option<usize> {
    embeddings
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.ids.is_empty() && tokens[position..].starts_with(&e.ids))
        .max_by_key(|(_, e)| e.ids.len())
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::parse_attention;

    fn chunked(prompt: &str, embeddings: &[EmbeddingName]) -> Chunked {
        let t = ClipTokenizer::builtin().unwrap();
        t.chunks(&parse_attention(prompt).unwrap(), embeddings, t.eos())
            .unwrap()
    }

    #[test]
    fn weights_follow_their_tokens_into_the_window() {
        let c = chunked("a (cat:1.5)", &[]);
        assert_eq!(c.chunks.len(), 1);
        assert_eq!(c.token_count, 2);
        assert_eq!(&c.chunks[0].ids[..4], &[49406, 320, 2368, 49407]);
        assert_eq!(&c.chunks[0].multipliers[..4], &[1.0, 1.0, 1.5, 1.0]);
    }

    #[test]
    fn long_prompts_and_break_make_more_chunks() {
        let c = chunked(&"cat ".repeat(100), &[]);
        assert_eq!(c.chunks.len(), 2);
        assert_eq!(c.token_count, 100);
        assert!(c.chunks.iter().all(|ch| ch.ids.len() == 77));
        let c = chunked("a BREAK b", &[]);
        assert_eq!(c.chunks.len(), 2);
        assert_eq!(c.token_count, 75 + 1);
        // The empty prompt is one window of BOS, EOS and padding.
        assert_eq!(chunked("", &[]).chunks.len(), 1);
    }

    #[test]
    fn text_after_a_nearby_comma_moves_to_the_next_chunk() {
        // 70 words, a comma, then 10 more: the chunk fills at 75, 5 past the comma.
        let prompt = format!("{}, {}", "cat ".repeat(70), "dog ".repeat(10));
        let c = chunked(&prompt, &[]);
        assert_eq!(c.chunks.len(), 2);
        // BOS, 70 cats, the comma, then EOS: the dogs all went to the second chunk.
        assert_eq!(c.chunks[0].ids[72], 49407);
        assert_eq!(c.chunks[1].ids[1..11], [1929; 10]);
    }

    #[test]
    fn embedding_names_become_placeholders() {
        let t = ClipTokenizer::builtin().unwrap();
        let e = EmbeddingName {
            ids: t.encode("my-style").unwrap(),
            vectors: 3,
        };
        let c = chunked("a my-style cat", &[e]);
        let ch = &c.chunks[0];
        assert_eq!(ch.fixes, vec![EmbeddingFix { position: 2, embedding: 0 }]);
        assert_eq!(&ch.ids[1..6], &[320, 0, 0, 0, 2368]);
        assert_eq!(c.token_count, 5);
    }
}
