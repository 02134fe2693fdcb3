//! The CLIP text encoder that turns token ids into the UNet's conditioning.
//!
//! Names follow transformers' `CLIPTextModel` (`text_model.embeddings…`,
//! `text_model.encoder.layers.N…`, `text_model.final_layer_norm`); weights saved by
//! transformers 5, which drops the `text_model.` prefix, are read as well. SD 2.x's
//! OpenCLIP weights arrive under these names through [`crate::ldm_names::open_clip`].

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{embedding, layer_norm, linear, Embedding, LayerNorm, Linear, VarBuilder};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClipActivation {
    /// `x * sigmoid(1.702 x)`, OpenAI CLIP (SD 1.x).
    QuickGelu,
    /// Exact GELU, OpenCLIP (SD 2.x).
    Gelu,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClipConfig {
    pub vocab_size: usize,
    pub embed_dim: usize,
    pub intermediate_size: usize,
    pub max_positions: usize,
    pub layers: usize,
    pub heads: usize,
    pub activation: ClipActivation,
    /// The id that fills a window after EOS: EOS for SD 1.x, `!` (0) for SD 2.x.
    pub pad_id: u32,
}

impl ClipConfig {
    /// OpenAI CLIP ViT-L/14's text tower, as SD 1.x uses it.
    pub fn sd15() -> Self {
        Self {
            vocab_size: 49408,
            embed_dim: 768,
            intermediate_size: 3072,
            max_positions: 77,
            layers: 12,
            heads: 12,
            activation: ClipActivation::QuickGelu,
            pad_id: 49407,
        }
    }

    /// OpenCLIP ViT-H/14's text tower without its last layer (SD 2.x reads the
    /// penultimate layer's output).
    pub fn sd21() -> Self {
        Self {
            vocab_size: 49408,
            embed_dim: 1024,
            intermediate_size: 4096,
            max_positions: 77,
            layers: 23,
            heads: 16,
            activation: ClipActivation::Gelu,
            pad_id: 0,
        }
    }

    /// A two-layer tower for tests, with SD 1.x's vocabulary and conventions.
    pub fn tiny() -> Self {
        Self {
            vocab_size: 49408,
            embed_dim: 64,
            intermediate_size: 128,
            max_positions: 77,
            layers: 2,
            heads: 1,
            activation: ClipActivation::QuickGelu,
            pad_id: 49407,
        }
    }
}

struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    heads: usize,
}

impl Attention {
    fn new(vb: VarBuilder, c: &ClipConfig) -> Result<Self> {
        let d = c.embed_dim;
        Ok(Self {
            q: linear(d, d, vb.pp("q_proj"))?,
            k: linear(d, d, vb.pp("k_proj"))?,
            v: linear(d, d, vb.pp("v_proj"))?,
            out: linear(d, d, vb.pp("out_proj"))?,
            heads: c.heads,
        })
    }

    fn forward(&self, xs: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, n, d) = xs.dims3()?;
        let hd = d / self.heads;
        let split = |t: Tensor| -> Result<Tensor> {
            t.reshape((b, n, self.heads, hd))?
                .transpose(1, 2)?
                .contiguous()?
                // Softmax over 77 tokens is cheap; f32 keeps half-precision runs stable.
                .to_dtype(DType::F32)
        };
        let q = split((self.q.forward(xs)? * (hd as f64).powf(-0.5))?)?;
        let k = split(self.k.forward(xs)?)?;
        let v = split(self.v.forward(xs)?)?;
        let scores = q.matmul(&k.t()?)?.broadcast_add(mask)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs
            .matmul(&v)?
            .to_dtype(xs.dtype())?
            .transpose(1, 2)?
            .reshape((b, n, d))?;
        self.out.forward(&ctx)
    }
}

struct Layer {
    attn: Attention,
    norm1: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    norm2: LayerNorm,
    activation: ClipActivation,
}

impl Layer {
    fn new(vb: VarBuilder, c: &ClipConfig) -> Result<Self> {
        Ok(Self {
            attn: Attention::new(vb.pp("self_attn"), c)?,
            norm1: layer_norm(c.embed_dim, 1e-5, vb.pp("layer_norm1"))?,
            fc1: linear(c.embed_dim, c.intermediate_size, vb.pp("mlp.fc1"))?,
            fc2: linear(c.intermediate_size, c.embed_dim, vb.pp("mlp.fc2"))?,
            norm2: layer_norm(c.embed_dim, 1e-5, vb.pp("layer_norm2"))?,
            activation: c.activation,
        })
    }

    fn forward(&self, xs: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let h = (xs + self.attn.forward(&self.norm1.forward(xs)?, mask)?)?;
        let m = self.fc1.forward(&self.norm2.forward(&h)?)?;
        let m = match self.activation {
            ClipActivation::QuickGelu => (&m * candle_nn::ops::sigmoid(&(&m * 1.702)?)?)?,
            ClipActivation::Gelu => m.gelu_erf()?,
        };
        h + self.fc2.forward(&m)?
    }
}

pub struct ClipTextEncoder {
    token_embedding: Embedding,
    position_embedding: Embedding,
    layers: Vec<Layer>,
    final_norm: LayerNorm,
    pub config: ClipConfig,
}

impl ClipTextEncoder {
    pub fn new(vb: VarBuilder, config: &ClipConfig) -> Result<Self> {
        let vb = if vb.contains_tensor("text_model.embeddings.token_embedding.weight") {
            vb.pp("text_model")
        } else {
            vb
        };
        let c = config;
        let emb = vb.pp("embeddings");
        Ok(Self {
            token_embedding: embedding(c.vocab_size, c.embed_dim, emb.pp("token_embedding"))?,
            position_embedding: embedding(
                c.max_positions,
                c.embed_dim,
                emb.pp("position_embedding"),
            )?,
            layers: (0..c.layers)
                .map(|i| Layer::new(vb.pp(format!("encoder.layers.{i}")), c))
                .collect::<Result<_>>()?,
            final_norm: layer_norm(c.embed_dim, 1e-5, vb.pp("final_layer_norm"))?,
            config: c.clone(),
        })
    }

    /// `ids`: `[batch, 77]` u32 → `[batch, 77, embed_dim]`.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        self.forward_with(ids, &[], 1)
    }

    /// [`Self::forward`] with textual-inversion vectors written over the token
    /// embeddings of row 0 at the given positions, and the output taken `clip_skip - 1`
    /// layers before the last (A1111's clip skip; the final norm still applies).
    pub fn forward_with(
        &self,
        ids: &Tensor,
        fixes: &[(usize, &Tensor)],
        clip_skip: usize,
    ) -> Result<Tensor> {
        let (_, n) = ids.dims2()?;
        let mut tokens = self.token_embedding.forward(ids)?;
        for (position, vectors) in fixes {
            let (count, dim) = vectors.dims2()?;
            let end = (position + count).min(n);
            let vectors = vectors
                .narrow(0, 0, end - position)?
                .to_dtype(tokens.dtype())?
                .unsqueeze(0)?;
            tokens = tokens.slice_assign(&[0..1, *position..end, 0..dim], &vectors)?;
        }
        let positions = Tensor::arange(0u32, n as u32, ids.device())?;
        let mut xs = tokens.broadcast_add(&self.position_embedding.forward(&positions)?)?;
        let mask = causal_mask(n, ids.device())?;
        let run = self
            .layers
            .len()
            .saturating_sub(clip_skip.max(1) - 1)
            .max(1);
        for layer in &self.layers[..run] {
            xs = layer.forward(&xs, &mask)?;
        }
        self.final_norm.forward(&xs)
    }
}

fn causal_mask(n: usize, dev: &Device) -> Result<Tensor> {
    let v: Vec<f32> = (0..n)
        .flat_map(|i| (0..n).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(v, (n, n), dev)
}
