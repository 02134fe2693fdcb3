//! A small builder for ONNX graphs, with the layers SD's networks are made of (conv,
//! linear, group and layer norm, attention, resampling). Weights are asked of a candle
//! [`VarBuilder`] by the same names and shapes the candle modules ask for, so a graph
//! built here from a model's weights computes what the candle model computes.
//!
//! Every value is f32; shapes stay symbolic where they vary (batch, height, width,
//! tokens), so one graph runs at any image size.

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;

use super::proto::{Attr, Dim, Graph, Initializer, Node, ValueInfo, FLOAT, INT64};
use crate::error::Result;

pub struct GraphBuilder {
    pub graph: Graph,
    next: usize,
}

fn f32_bytes(t: &Tensor) -> Result<(Vec<i64>, Vec<u8>)> {
    let dims = t.dims().iter().map(|&d| d as i64).collect();
    let v: Vec<f32> = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    Ok((dims, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
}

impl GraphBuilder {
    pub fn new(name: &str) -> Self {
        Self {
            graph: Graph {
                name: name.into(),
                ..Default::default()
            },
            next: 0,
        }
    }

    fn fresh(&mut self, op: &str) -> String {
        self.next += 1;
        format!("{op}_{}", self.next)
    }

    pub fn input(&mut self, name: &str, elem_type: i32, dims: Vec<Dim>) -> String {
        self.graph.inputs.push(ValueInfo {
            name: name.into(),
            elem_type,
            dims,
        });
        name.into()
    }

    /// Publishes `value` as the graph output `name`.
    pub fn output(&mut self, value: &str, name: &str, dims: Vec<Dim>) {
        self.graph.nodes.push(Node {
            op: "Identity".into(),
            inputs: vec![value.into()],
            outputs: vec![name.into()],
            name: format!("out_{name}"),
            attrs: vec![],
        });
        self.graph.outputs.push(ValueInfo {
            name: name.into(),
            elem_type: FLOAT,
            dims,
        });
    }

    /// One node with one output, whose name it returns.
    pub fn op(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        let out = self.fresh(op);
        self.graph.nodes.push(Node {
            op: op.into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: vec![out.clone()],
            name: out.clone(),
            attrs: attrs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        });
        out
    }

    /// A tensor as an f32 initializer named `name`.
    pub fn weight(&mut self, name: &str, t: &Tensor) -> Result<String> {
        let (dims, raw) = f32_bytes(t)?;
        self.graph.initializers.push(Initializer {
            name: name.into(),
            dims,
            data_type: FLOAT,
            raw,
        });
        Ok(name.into())
    }

    pub fn f32s(&mut self, dims: &[i64], values: &[f32]) -> String {
        let name = self.fresh("const");
        self.graph.initializers.push(Initializer {
            name: name.clone(),
            dims: dims.to_vec(),
            data_type: FLOAT,
            raw: values.iter().flat_map(|x| x.to_le_bytes()).collect(),
        });
        name
    }

    pub fn scalar(&mut self, v: f32) -> String {
        self.f32s(&[], &[v])
    }

    pub fn i64s(&mut self, values: &[i64]) -> String {
        let name = self.fresh("const");
        self.graph.initializers.push(Initializer {
            name: name.clone(),
            dims: vec![values.len() as i64],
            data_type: INT64,
            raw: values.iter().flat_map(|x| x.to_le_bytes()).collect(),
        });
        name
    }

    pub fn add(&mut self, a: &str, b: &str) -> String {
        self.op("Add", &[a, b], vec![])
    }

    pub fn mul(&mut self, a: &str, b: &str) -> String {
        self.op("Mul", &[a, b], vec![])
    }

    pub fn scale(&mut self, a: &str, s: f32) -> String {
        let s = self.scalar(s);
        self.mul(a, &s)
    }

    pub fn silu(&mut self, x: &str) -> String {
        let s = self.op("Sigmoid", &[x], vec![]);
        self.mul(x, &s)
    }

    /// `x·Φ(x)` with the exact normal CDF: `x·(1 + erf(x/√2))/2`.
    pub fn gelu_erf(&mut self, x: &str) -> String {
        let scaled = self.scale(x, std::f32::consts::FRAC_1_SQRT_2);
        let erf = self.op("Erf", &[&scaled], vec![]);
        let one = self.scalar(1.0);
        let sum = self.add(&erf, &one);
        let half = self.scale(&sum, 0.5);
        self.mul(x, &half)
    }

    pub fn reshape(&mut self, x: &str, shape: &[i64]) -> String {
        let s = self.i64s(shape);
        self.op("Reshape", &[x, &s], vec![])
    }

    pub fn transpose(&mut self, x: &str, perm: &[i64]) -> String {
        self.op("Transpose", &[x], vec![("perm", Attr::Ints(perm.to_vec()))])
    }

    pub fn concat(&mut self, xs: &[&str], axis: i64) -> String {
        self.op("Concat", xs, vec![("axis", Attr::Int(axis))])
    }

    /// `x[start..end]` along `axis`.
    pub fn slice(&mut self, x: &str, axis: i64, start: i64, end: i64) -> String {
        let (s, e, a) = (self.i64s(&[start]), self.i64s(&[end]), self.i64s(&[axis]));
        self.op("Slice", &[x, &s, &e, &a], vec![])
    }

    pub fn shape(&mut self, x: &str) -> String {
        self.op("Shape", &[x], vec![])
    }

    /// A 2-d convolution from `vb`'s `weight` and `bias`; `pads` are top, left, bottom,
    /// right.
    pub fn conv(
        &mut self,
        x: &str,
        vb: &VarBuilder,
        (cin, cout, k): (usize, usize, usize),
        stride: i64,
        pads: [i64; 4],
    ) -> Result<String> {
        let w = vb.get((cout, cin, k, k), "weight")?;
        let b = vb.get(cout, "bias")?;
        let prefix = vb.prefix();
        let w = self.weight(&format!("{prefix}.weight"), &w)?;
        let b = self.weight(&format!("{prefix}.bias"), &b)?;
        Ok(self.op(
            "Conv",
            &[x, &w, &b],
            vec![
                ("kernel_shape", Attr::Ints(vec![k as i64, k as i64])),
                ("strides", Attr::Ints(vec![stride, stride])),
                ("pads", Attr::Ints(pads.to_vec())),
            ],
        ))
    }

    pub fn conv3x3(&mut self, x: &str, vb: &VarBuilder, cin: usize, cout: usize) -> Result<String> {
        self.conv(x, vb, (cin, cout, 3), 1, [1; 4])
    }

    pub fn conv1x1(&mut self, x: &str, vb: &VarBuilder, cin: usize, cout: usize) -> Result<String> {
        self.conv(x, vb, (cin, cout, 1), 1, [0; 4])
    }

    /// `x·Wᵀ + b` over the last axis; the weight is stored transposed (`[in, out]`) so
    /// that it is a plain MatMul.
    pub fn linear_from(
        &mut self,
        x: &str,
        vb: &VarBuilder,
        w: Tensor,
        bias: bool,
    ) -> Result<String> {
        let prefix = vb.prefix();
        let out = w.dim(0)?;
        let wt = self.weight(&format!("{prefix}.weight"), &w.t()?.contiguous()?)?;
        let y = self.op("MatMul", &[x, &wt], vec![]);
        if !bias {
            return Ok(y);
        }
        let b = vb.get(out, "bias")?;
        let b = self.weight(&format!("{prefix}.bias"), &b)?;
        Ok(self.add(&y, &b))
    }

    pub fn linear(
        &mut self,
        x: &str,
        vb: &VarBuilder,
        cin: usize,
        cout: usize,
        bias: bool,
    ) -> Result<String> {
        let w = vb.get((cout, cin), "weight")?;
        self.linear_from(x, vb, w, bias)
    }

    /// Group norm over `[b, c, h, w]`: instance norm of `[b, groups, c/groups·h·w]`, then
    /// the per-channel affine (how PyTorch's exporter writes it for opsets before 18).
    pub fn group_norm(
        &mut self,
        x: &str,
        vb: &VarBuilder,
        groups: usize,
        channels: usize,
        eps: f64,
    ) -> Result<String> {
        let gamma = vb.get(channels, "weight")?.reshape((channels, 1, 1))?;
        let beta = vb.get(channels, "bias")?.reshape((channels, 1, 1))?;
        let prefix = vb.prefix();
        let grouped = self.reshape(x, &[0, groups as i64, -1]);
        let ones = self.f32s(&[groups as i64], &vec![1.0; groups]);
        let zeros = self.f32s(&[groups as i64], &vec![0.0; groups]);
        let normed = self.op(
            "InstanceNormalization",
            &[&grouped, &ones, &zeros],
            vec![("epsilon", Attr::Float(eps as f32))],
        );
        let shape = self.shape(x);
        let back = self.op("Reshape", &[&normed, &shape], vec![]);
        let g = self.weight(&format!("{prefix}.weight"), &gamma)?;
        let b = self.weight(&format!("{prefix}.bias"), &beta)?;
        let scaled = self.mul(&back, &g);
        Ok(self.add(&scaled, &b))
    }

    pub fn layer_norm(&mut self, x: &str, vb: &VarBuilder, dim: usize, eps: f64) -> Result<String> {
        let prefix = vb.prefix();
        let g = vb.get(dim, "weight")?;
        let b = vb.get(dim, "bias")?;
        let g = self.weight(&format!("{prefix}.weight"), &g)?;
        let b = self.weight(&format!("{prefix}.bias"), &b)?;
        Ok(self.op(
            "LayerNormalization",
            &[x, &g, &b],
            vec![
                ("axis", Attr::Int(-1)),
                ("epsilon", Attr::Float(eps as f32)),
            ],
        ))
    }

    /// `[b, n, h·d]` → `[b, h, n, d]`, or `[b, h, d, n]` with `keys_last` (for `q·kᵀ`).
    fn heads(&mut self, x: &str, heads: usize, head_dim: usize, keys_last: bool) -> String {
        let r = self.reshape(x, &[0, 0, heads as i64, head_dim as i64]);
        let perm: &[i64] = if keys_last {
            &[0, 2, 3, 1]
        } else {
            &[0, 2, 1, 3]
        };
        self.transpose(&r, perm)
    }

    /// Multi-head `softmax(q·kᵀ·scale + mask)·v` for `q, k, v: [b, n, h·d]`, merged back
    /// to `[b, n, h·d]`.
    pub fn attention(
        &mut self,
        (q, k, v): (&str, &str, &str),
        heads: usize,
        head_dim: usize,
        scale: Option<f32>,
        mask: Option<&str>,
    ) -> String {
        let q = self.heads(q, heads, head_dim, false);
        let kt = self.heads(k, heads, head_dim, true);
        let v = self.heads(v, heads, head_dim, false);
        let q = match scale {
            Some(s) => self.scale(&q, s),
            None => q,
        };
        let mut scores = self.op("MatMul", &[&q, &kt], vec![]);
        if let Some(m) = mask {
            scores = self.add(&scores, m);
        }
        let probs = self.op("Softmax", &[&scores], vec![("axis", Attr::Int(-1))]);
        let out = self.op("MatMul", &[&probs, &v], vec![]);
        let out = self.transpose(&out, &[0, 2, 1, 3]);
        self.reshape(&out, &[0, 0, (heads * head_dim) as i64])
    }

    /// `[b, c, h, w]` → `[b, h·w, c]`.
    pub fn to_seq(&mut self, x: &str) -> String {
        let r = self.reshape(x, &[0, 0, -1]);
        self.transpose(&r, &[0, 2, 1])
    }

    /// `[b, h·w, c]` → the shape of `like` (`[b, c, h, w]`).
    pub fn to_map(&mut self, seq: &str, like: &str) -> String {
        let t = self.transpose(seq, &[0, 2, 1]);
        let s = self.shape(like);
        self.op("Reshape", &[&t, &s], vec![])
    }

    /// Nearest-neighbour resize of `[b, c, h, w]` to `like`'s height and width (PyTorch's
    /// `nearest`: source index `floor(i · in / out)`).
    pub fn upsample_like(&mut self, x: &str, like: &str) -> String {
        let xs = self.shape(x);
        let ls = self.shape(like);
        let bc = self.slice(&xs, 0, 0, 2);
        let hw = self.slice(&ls, 0, 2, 4);
        let sizes = self.concat(&[&bc, &hw], 0);
        self.op(
            "Resize",
            &[x, "", "", &sizes],
            vec![
                ("mode", Attr::Str("nearest".into())),
                (
                    "coordinate_transformation_mode",
                    Attr::Str("asymmetric".into()),
                ),
                ("nearest_mode", Attr::Str("floor".into())),
            ],
        )
    }

    /// Nearest-neighbour doubling of height and width.
    pub fn upsample2x(&mut self, x: &str) -> String {
        let scales = self.f32s(&[4], &[1.0, 1.0, 2.0, 2.0]);
        self.op(
            "Resize",
            &[x, "", &scales],
            vec![
                ("mode", Attr::Str("nearest".into())),
                (
                    "coordinate_transformation_mode",
                    Attr::Str("asymmetric".into()),
                ),
                ("nearest_mode", Attr::Str("floor".into())),
            ],
        )
    }
}
