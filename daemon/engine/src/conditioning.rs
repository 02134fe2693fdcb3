//! Prompts → the UNet's conditioning, built the way A1111 builds it, so that a prompt
//! tuned there means the same here.
//!
//! A prompt (its `<lora:…>` tags already cut out) splits on `AND` into weighted parts;
//! each part, and the negative prompt, becomes a schedule of texts over the run
//! ([`ra_tokenizer::prompt`]); each text is cut into 75-token chunks with a weight per
//! token ([`ra_tokenizer::chunks`]), every chunk is encoded on its own, the weights
//! multiply the encoder's output and the result is rescaled to its original mean, and
//! the chunks are concatenated. Textual-inversion vectors replace the placeholder token
//! embeddings of their names before the encoder runs.

use std::collections::{BTreeSet, HashMap};

use candle_core::{DType, Tensor};
use ra_tokenizer::chunks::EmbeddingName;
use ra_tokenizer::prompt::{parse_attention, schedules, split_and};

use crate::error::Result;
use crate::model::SdModel;

/// A textual-inversion embedding: the vectors its file name stands for.
#[derive(Debug, Clone)]
pub struct Embedding {
    /// The file stem, which is what a prompt writes.
    pub name: String,
    /// `[vectors, embed_dim]`.
    pub vectors: Tensor,
    /// A1111's short hash for `TI hashes`: the first 12 hex digits of the file's sha256.
    pub hash: String,
}

/// The texts of one prompt over a run, encoded.
#[derive(Debug, Clone)]
pub struct Schedule(Vec<(u32, Tensor)>);

impl Schedule {
    /// The conditioning for denoiser call `call` (0-based): the first entry whose end
    /// step is not before it, as A1111 picks.
    pub fn at(&self, call: u32) -> &Tensor {
        // Never empty: a prompt schedules to at least one text. Past the last end step
        // (second-order samplers' extra calls) the last text stays.
        let i = self
            .0
            .iter()
            .position(|(end, _)| call <= *end)
            .unwrap_or(self.0.len() - 1);
        &self.0[i].1
    }
}

/// Everything the denoiser needs from the prompts.
#[derive(Debug, Clone)]
pub struct Conditioning {
    pub uncond: Schedule,
    /// One per `AND` part, with its weight.
    pub parts: Vec<(f64, Schedule)>,
    /// Indices into the embeddings given that the prompts used.
    pub used_embeddings: BTreeSet<usize>,
}

impl Conditioning {
    /// Whether the unconditional pass can be skipped: CFG 1 with one plain prompt
    /// gives exactly the conditional prediction (SD-Turbo, LCM).
    pub fn cond_only(&self, cfg_scale: f64) -> bool {
        cfg_scale == 1.0 && self.parts.len() == 1 && self.parts[0].0 == 1.0
    }
}

/// Encodes texts, each distinct one once.
pub struct PromptEncoder<'a> {
    model: &'a SdModel,
    embeddings: &'a [Embedding],
    names: Vec<EmbeddingName>,
    clip_skip: usize,
    cache: HashMap<String, Tensor>,
    used: BTreeSet<usize>,
}

impl<'a> PromptEncoder<'a> {
    /// `clip_skip` is A1111's "stop at last layers" (1 = the last layer).
    pub fn new(model: &'a SdModel, embeddings: &'a [Embedding], clip_skip: u32) -> Result<Self> {
        let names = embeddings
            .iter()
            .map(|e| {
                Ok(EmbeddingName {
                    ids: model.tokenizer.encode(&e.name)?,
                    vectors: e.vectors.dim(0)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            model,
            embeddings,
            names,
            clip_skip: clip_skip.max(1) as usize,
            cache: HashMap::new(),
            used: BTreeSet::new(),
        })
    }

    /// Both prompts for a run whose denoiser is called `calls` times.
    pub fn condition(mut self, prompt: &str, negative: &str, calls: u32) -> Result<Conditioning> {
        let uncond = self.schedule(negative, calls)?;
        let parts = split_and(prompt)
            .into_iter()
            .map(|(text, weight)| Ok((weight, self.schedule(&text, calls)?)))
            .collect::<Result<_>>()?;
        Ok(Conditioning {
            uncond,
            parts,
            used_embeddings: self.used,
        })
    }

    fn schedule(&mut self, text: &str, calls: u32) -> Result<Schedule> {
        schedules(text, calls)
            .into_iter()
            .map(|(end, text)| Ok((end, self.encode(&text)?)))
            .collect::<Result<_>>()
            .map(Schedule)
    }

    /// One text → `[1, 77·chunks, embed_dim]`.
    pub fn encode(&mut self, text: &str) -> Result<Tensor> {
        if let Some(t) = self.cache.get(text) {
            return Ok(t.clone());
        }
        let model = self.model;
        let fragments = parse_attention(text)?;
        let chunked = model
            .tokenizer
            .chunks(&fragments, &self.names, model.arch.clip.pad_id)?;
        let dev = &model.options.device;
        let mut encoded = Vec::with_capacity(chunked.chunks.len());
        for chunk in &chunked.chunks {
            let ids = Tensor::from_vec(chunk.ids.clone(), (1, chunk.ids.len()), dev)?;
            let fixes: Vec<(usize, &Tensor)> = chunk
                .fixes
                .iter()
                .map(|f| {
                    self.used.insert(f.embedding);
                    (f.position, &self.embeddings[f.embedding].vectors)
                })
                .collect();
            let z = model
                .text_encoder
                .forward_with(&ids, &fixes, self.clip_skip)?
                .to_dtype(DType::F32)?;
            encoded.push(emphasize(z, &chunk.multipliers)?);
        }
        let out = Tensor::cat(&encoded, 1)?.to_dtype(model.options.dtype)?;
        self.cache.insert(text.to_string(), out.clone());
        Ok(out)
    }
}

/// A1111's "Original" emphasis: scale each token's output by its weight, then rescale
/// the whole chunk back to its original mean.
fn emphasize(z: Tensor, multipliers: &[f32]) -> Result<Tensor> {
    if multipliers.iter().all(|&m| m == 1.0) {
        return Ok(z);
    }
    let original = z.mean_all()?.to_scalar::<f32>()?;
    let m = Tensor::from_slice(multipliers, (1, multipliers.len(), 1), z.device())?;
    let z = z.broadcast_mul(&m)?;
    let new = z.mean_all()?.to_scalar::<f32>()?;
    Ok((z * f64::from(original / new))?)
}
