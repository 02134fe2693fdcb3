//! Scaled dot-product attention computed a slice of query rows at a time.
//!
//! Self-attention at a 64×64 latent has 4096 queries and 4096 keys per head; holding the
//! whole score matrix for a CFG batch of SD 1.5 (2 × 8 heads) takes 1 GiB in f32, and
//! softmax needs a second one. Each query row's softmax only needs that row's scores, so
//! computing the rows in slices gives exactly the same result while holding
//! `slice × keys` scores at a time.

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{linear, linear_no_bias, Linear, VarBuilder};

/// How much of the attention score matrix is held at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionSlicing {
    /// The whole `[batch·heads, queries, keys]` matrix in one piece: no slicing, and
    /// the most memory (kept to measure what slicing saves).
    Full,
    /// Query rows in slices whose f32 scores take at most this many bytes (at least one
    /// row per slice). Softmax holds a second buffer of the same size while it runs.
    Budget(usize),
}

impl AttentionSlicing {
    /// 16 MiB of scores: at 512² with CFG, 64-row slices of SD 1.5's first level
    /// (16 heads × 64 rows × 4096 keys × 4 bytes). The fastest budget measured here,
    /// from 1 MiB to whole matrices, at 4096 and 16384 keys: about 10 % faster than
    /// whole matrices, probably because a slice's scores are still in cache when
    /// softmax and the second product read them (docs/PERFORMANCE.md).
    pub const DEFAULT: Self = Self::Budget(16 << 20);

    /// From a size in MiB, as the CLI takes it: 0 means [`AttentionSlicing::Full`].
    pub fn from_mib(mib: usize) -> Self {
        if mib == 0 {
            Self::Full
        } else {
            Self::Budget(mib << 20)
        }
    }

    /// How many query rows one slice may hold for `groups` heads over `keys` keys.
    fn rows(self, queries: usize, groups: usize, keys: usize) -> usize {
        match self {
            Self::Full => queries,
            Self::Budget(bytes) => {
                let per_row = groups * keys * std::mem::size_of::<f32>();
                (bytes / per_row.max(1)).clamp(1, queries.max(1))
            }
        }
    }
}

impl Default for AttentionSlicing {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// `softmax(q·kᵀ·scale)·v` for `q: [groups, n, d]`, `k: [groups, m, d]`,
/// `v: [groups, m, dv]`, returning `[groups, n, dv]` in `q`'s dtype.
///
/// The arithmetic runs in f32 whatever the inputs are: f16 scores overflow and lose the
/// small probabilities that many keys add up to.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f64,
    slicing: AttentionSlicing,
) -> Result<Tensor> {
    let in_dtype = q.dtype();
    let (groups, queries, _) = q.dims3()?;
    let keys = k.dim(1)?;
    // Scaling q (n×d) is cheaper than scaling the scores (n×m).
    let q = (q.to_dtype(DType::F32)? * scale)?;
    let kt = k.to_dtype(DType::F32)?.t()?.contiguous()?;
    let v = v.to_dtype(DType::F32)?.contiguous()?;
    let rows = slicing.rows(queries, groups, keys);
    let one = |q: &Tensor| -> Result<Tensor> {
        candle_nn::ops::softmax_last_dim(&q.matmul(&kt)?)?.matmul(&v)
    };
    let out = if rows >= queries {
        one(&q)?
    } else {
        let mut parts = Vec::with_capacity(queries.div_ceil(rows));
        let mut start = 0;
        while start < queries {
            let len = rows.min(queries - start);
            // A row slice of a contiguous q is a strided view that matmul reads in place.
            parts.push(one(&q.narrow(1, start, len)?)?);
            start += len;
        }
        Tensor::cat(&parts, 1)?
    };
    out.to_dtype(in_dtype)
}

/// Multi-head attention from `to_q`/`to_k`/`to_v`/`to_out.0` (diffusers' `Attention`):
/// self-attention without a context, cross-attention with one.
pub struct CrossAttention {
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
    heads: usize,
    scale: f64,
    slicing: AttentionSlicing,
}

impl CrossAttention {
    pub fn new(
        vb: VarBuilder,
        query_dim: usize,
        context_dim: Option<usize>,
        heads: usize,
        head_dim: usize,
        slicing: AttentionSlicing,
    ) -> Result<Self> {
        let inner = heads * head_dim;
        let context_dim = context_dim.unwrap_or(query_dim);
        Ok(Self {
            to_q: linear_no_bias(query_dim, inner, vb.pp("to_q"))?,
            to_k: linear_no_bias(context_dim, inner, vb.pp("to_k"))?,
            to_v: linear_no_bias(context_dim, inner, vb.pp("to_v"))?,
            to_out: linear(inner, query_dim, vb.pp("to_out.0"))?,
            heads,
            scale: 1.0 / (head_dim as f64).sqrt(),
            slicing,
        })
    }

    /// `[b, n, h·d]` → `[b·h, n, d]`.
    fn split_heads(&self, xs: &Tensor) -> Result<Tensor> {
        let (b, n, width) = xs.dims3()?;
        let d = width / self.heads;
        xs.reshape((b, n, self.heads, d))?
            .transpose(1, 2)?
            .reshape((b * self.heads, n, d))
    }

    /// `[b·h, n, d]` → `[b, n, h·d]`.
    fn merge_heads(&self, xs: &Tensor) -> Result<Tensor> {
        let (bh, n, d) = xs.dims3()?;
        xs.reshape((bh / self.heads, self.heads, n, d))?
            .transpose(1, 2)?
            .reshape((bh / self.heads, n, self.heads * d))
    }

    /// `xs: [b, n, query_dim]`, `context: [b, m, context_dim]`.
    pub fn forward(&self, xs: &Tensor, context: Option<&Tensor>) -> Result<Tensor> {
        // candle 0.11's CPU matmul folds a broadcast weight wrongly over a strided
        // input (huggingface/candle#3758), so the linear layers only see contiguous ones.
        let context = context.unwrap_or(xs).contiguous()?;
        let context = &context;
        let q = self.split_heads(&self.to_q.forward(xs)?)?;
        let k = self.split_heads(&self.to_k.forward(context)?)?;
        let v = self.split_heads(&self.to_v.forward(context)?)?;
        let out = attention(&q, &k, &v, self.scale, self.slicing)?;
        self.to_out.forward(&self.merge_heads(&out)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        let d = (a.to_dtype(DType::F32).unwrap() - b.to_dtype(DType::F32).unwrap()).unwrap();
        d.abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    #[test]
    fn slices_give_the_full_result() {
        let dev = Device::Cpu;
        let q = Tensor::randn(0f32, 1., (3, 37, 8), &dev).unwrap();
        let k = Tensor::randn(0f32, 1., (3, 29, 8), &dev).unwrap();
        let v = Tensor::randn(0f32, 1., (3, 29, 5), &dev).unwrap();
        let full = attention(&q, &k, &v, 0.35, AttentionSlicing::Full).unwrap();
        assert_eq!(full.dims(), &[3, 37, 5]);
        // 3 groups × 29 keys × 4 bytes = 348 bytes a row: 1, 2 and 7 rows per slice
        // (the last slice short), and a budget too small for one row.
        for bytes in [348, 700, 7 * 348, 1] {
            let sliced = attention(&q, &k, &v, 0.35, AttentionSlicing::Budget(bytes)).unwrap();
            assert!(max_diff(&sliced, &full) < 1e-6, "budget {bytes}");
        }
    }

    #[test]
    fn half_precision_inputs_are_computed_in_f32() {
        let dev = Device::Cpu;
        // Scores this large overflow f16 (max 65504) if computed there.
        let q = (Tensor::randn(0f32, 1., (2, 16, 64), &dev).unwrap() * 60.).unwrap();
        let k = (Tensor::randn(0f32, 1., (2, 16, 64), &dev).unwrap() * 60.).unwrap();
        let v = Tensor::randn(0f32, 1., (2, 16, 64), &dev).unwrap();
        let h = |t: &Tensor| t.to_dtype(DType::F16).unwrap();
        let want = attention(&h(&q), &h(&k), &h(&v), 1.0, AttentionSlicing::Full).unwrap();
        let got = attention(&h(&q), &h(&k), &h(&v), 1.0, AttentionSlicing::Budget(512)).unwrap();
        assert_eq!(got.dtype(), DType::F16);
        let finite = got
            .to_dtype(DType::F32)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        assert!(finite.to_scalar::<f32>().unwrap().is_finite());
        assert!(max_diff(&got, &want) < 1e-3);
    }

    #[test]
    fn rows_per_slice_follow_the_budget() {
        // SD 1.5's first level at 512² with CFG: 16 heads over 4096 keys.
        assert_eq!(AttentionSlicing::DEFAULT.rows(4096, 16, 4096), 64);
        assert_eq!(AttentionSlicing::Full.rows(4096, 16, 4096), 4096);
        assert_eq!(AttentionSlicing::Budget(1).rows(4096, 16, 4096), 1);
        // Cross-attention's 77 keys: two slices.
        assert_eq!(AttentionSlicing::DEFAULT.rows(4096, 16, 77), 3404);
        assert_eq!(AttentionSlicing::DEFAULT.rows(100, 16, 77), 100);
        assert_eq!(AttentionSlicing::from_mib(0), AttentionSlicing::Full);
        assert_eq!(
            AttentionSlicing::from_mib(2),
            AttentionSlicing::Budget(2 << 20)
        );
    }
}
