//! SD's networks written as ONNX graphs in the diffusers ONNX layout's terms:
//!
//! | graph | inputs | output |
//! | --- | --- | --- |
//! | `text_encoder/model.onnx` | `input_ids` i32 `[b, n]` | `last_hidden_state` `[b, n, d]` |
//! | `unet/model.onnx` | `sample` `[b, c, h, w]`, `timestep` `[b]`, `encoder_hidden_states` `[b, n, d]` | `out_sample` |
//! | `vae_decoder/model.onnx` | `latent_sample` (unscaled) | `sample` in [-1, 1] |
//! | `vae_encoder/model.onnx` | `sample` in [-1, 1] | `latent_sample`: the mean, unscaled |
//!
//! Each graph is built layer by layer beside the candle module it mirrors (`clip.rs`,
//! `unet/`, `vae/coder.rs`), reading the same weights from a [`VarBuilder`], so the two
//! backends compute the same function and differ only in floating-point order. Unlike
//! diffusers' exporter, the encoder returns the latent mean rather than a sample, so that
//! img2img stays a pure function of its inputs and seed, as on candle.

use candle_nn::VarBuilder;

use super::graph::GraphBuilder;
use super::proto::{Dim, Graph, INT32};
use crate::clip::{ClipActivation, ClipConfig};
use crate::error::{EngineError, Result};
use crate::unet::{BlockConfig, UnetConfig};
use crate::vae::VaeConfig;

fn named(s: &str) -> Dim {
    Dim::Named(s.into())
}

fn fixed(n: usize) -> Dim {
    Dim::Fixed(n as i64)
}

/// CLIP's text tower (`clip.rs`): `input_ids` → `last_hidden_state` after the final norm.
pub fn text_encoder(vb: &VarBuilder, c: &ClipConfig) -> Result<Graph> {
    let vb = if vb.contains_tensor("text_model.embeddings.token_embedding.weight") {
        vb.pp("text_model")
    } else {
        vb.clone()
    };
    let mut g = GraphBuilder::new("text_encoder");
    let d = c.embed_dim;
    let ids = g.input("input_ids", INT32, vec![named("batch"), named("sequence")]);
    let emb = vb.pp("embeddings");
    let tok = emb.pp("token_embedding").get((c.vocab_size, d), "weight")?;
    let tok = g.weight("text_model.embeddings.token_embedding.weight", &tok)?;
    let pos = emb
        .pp("position_embedding")
        .get((c.max_positions, d), "weight")?;
    let pos = g.weight("text_model.embeddings.position_embedding.weight", &pos)?;
    let tokens = g.op("Gather", &[&tok, &ids], vec![]);
    // The first n positions and an n×n causal mask, n = the input's length.
    let ids_shape = g.shape(&ids);
    let n = g.slice(&ids_shape, 0, 1, 2);
    let (zero, axis0, axes01) = (g.i64s(&[0]), g.i64s(&[0]), g.i64s(&[0, 1]));
    let positions = g.op("Slice", &[&pos, &zero, &n, &axis0], vec![]);
    let mut xs = g.add(&tokens, &positions);
    let p = c.max_positions;
    let mask: Vec<f32> = (0..p)
        .flat_map(|i| (0..p).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    let mask = g.f32s(&[p as i64, p as i64], &mask);
    let zeros = g.i64s(&[0, 0]);
    let nn = g.concat(&[&n, &n], 0);
    let mask = g.op("Slice", &[&mask, &zeros, &nn, &axes01], vec![]);
    let hd = d / c.heads;
    for i in 0..c.layers {
        let vb = vb.pp(format!("encoder.layers.{i}"));
        let a = vb.pp("self_attn");
        let h = g.layer_norm(&xs, &vb.pp("layer_norm1"), d, 1e-5)?;
        let q = g.linear(&h, &a.pp("q_proj"), d, d, true)?;
        let q = g.scale(&q, (hd as f32).powf(-0.5));
        let k = g.linear(&h, &a.pp("k_proj"), d, d, true)?;
        let v = g.linear(&h, &a.pp("v_proj"), d, d, true)?;
        let att = g.attention((&q, &k, &v), c.heads, hd, None, Some(&mask));
        let att = g.linear(&att, &a.pp("out_proj"), d, d, true)?;
        xs = g.add(&xs, &att);
        let h = g.layer_norm(&xs, &vb.pp("layer_norm2"), d, 1e-5)?;
        let m = g.linear(&h, &vb.pp("mlp.fc1"), d, c.intermediate_size, true)?;
        let m = match c.activation {
            ClipActivation::QuickGelu => {
                let s = g.scale(&m, 1.702);
                let s = g.op("Sigmoid", &[&s], vec![]);
                g.mul(&m, &s)
            }
            ClipActivation::Gelu => g.gelu_erf(&m),
        };
        let m = g.linear(&m, &vb.pp("mlp.fc2"), c.intermediate_size, d, true)?;
        xs = g.add(&xs, &m);
    }
    let out = g.layer_norm(&xs, &vb.pp("final_layer_norm"), d, 1e-5)?;
    g.output(
        &out,
        "last_hidden_state",
        vec![named("batch"), named("sequence"), fixed(d)],
    );
    Ok(g.graph)
}

/// `unet/resnet.rs`'s block; `temb` is the raw timestep embedding.
fn resnet(
    g: &mut GraphBuilder,
    vb: &VarBuilder,
    x: &str,
    (cin, cout): (usize, usize),
    groups: usize,
    eps: f64,
    temb: Option<(&str, usize)>,
) -> Result<String> {
    let h = g.group_norm(x, &vb.pp("norm1"), groups, cin, eps)?;
    let h = g.silu(&h);
    let mut h = g.conv3x3(&h, &vb.pp("conv1"), cin, cout)?;
    if let Some((t, tc)) = temb {
        let t = g.silu(t);
        let t = g.linear(&t, &vb.pp("time_emb_proj"), tc, cout, true)?;
        let axes = g.i64s(&[2, 3]);
        let t = g.op("Unsqueeze", &[&t, &axes], vec![]);
        h = g.add(&h, &t);
    }
    let h = g.group_norm(&h, &vb.pp("norm2"), groups, cout, eps)?;
    let h = g.silu(&h);
    let h = g.conv3x3(&h, &vb.pp("conv2"), cout, cout)?;
    let shortcut = if cin != cout {
        g.conv1x1(x, &vb.pp("conv_shortcut"), cin, cout)?
    } else {
        x.to_string()
    };
    Ok(g.add(&shortcut, &h))
}

/// diffusers' `Attention` (`unet/attention.rs`): no biases on q, k, v.
fn cross_attention(
    g: &mut GraphBuilder,
    vb: &VarBuilder,
    x: &str,
    context: Option<(&str, usize)>,
    dim: usize,
    heads: usize,
) -> Result<String> {
    let hd = dim / heads;
    let (ctx, cdim) = context.unwrap_or((x, dim));
    let q = g.linear(x, &vb.pp("to_q"), dim, dim, false)?;
    let k = g.linear(ctx, &vb.pp("to_k"), cdim, dim, false)?;
    let v = g.linear(ctx, &vb.pp("to_v"), cdim, dim, false)?;
    let out = g.attention(
        (&q, &k, &v),
        heads,
        hd,
        Some(1.0 / (hd as f32).sqrt()),
        None,
    );
    g.linear(&out, &vb.pp("to_out.0"), dim, dim, true)
}

/// `unet/transformer.rs`'s spatial transformer.
fn transformer(
    g: &mut GraphBuilder,
    vb: &VarBuilder,
    x: &str,
    ch: usize,
    block: &BlockConfig,
    u: &UnetConfig,
    context: &str,
) -> Result<String> {
    let s = &u.inner;
    let normed = g.group_norm(x, &vb.pp("norm"), s.norm_num_groups, ch, 1e-6)?;
    let mut seq = if s.use_linear_projection {
        let seq = g.to_seq(&normed);
        g.linear(&seq, &vb.pp("proj_in"), ch, ch, true)?
    } else {
        let p = g.conv1x1(&normed, &vb.pp("proj_in"), ch, ch)?;
        g.to_seq(&p)
    };
    for i in 0..block.use_cross_attn.unwrap_or(1) {
        let vb = vb.pp(format!("transformer_blocks.{i}"));
        let h = g.layer_norm(&seq, &vb.pp("norm1"), ch, 1e-5)?;
        let h = cross_attention(g, &vb.pp("attn1"), &h, None, ch, block.heads)?;
        seq = g.add(&h, &seq);
        let h = g.layer_norm(&seq, &vb.pp("norm2"), ch, 1e-5)?;
        let h = cross_attention(
            g,
            &vb.pp("attn2"),
            &h,
            Some((context, s.cross_attention_dim)),
            ch,
            block.heads,
        )?;
        seq = g.add(&h, &seq);
        let h = g.layer_norm(&seq, &vb.pp("norm3"), ch, 1e-5)?;
        let inner = 4 * ch;
        let h = g.linear(&h, &vb.pp("ff.net.0.proj"), ch, 2 * inner, true)?;
        let a = g.slice(&h, -1, 0, inner as i64);
        let gate = g.slice(&h, -1, inner as i64, 2 * inner as i64);
        let gate = g.gelu_erf(&gate);
        let h = g.mul(&a, &gate);
        let h = g.linear(&h, &vb.pp("ff.net.2"), inner, ch, true)?;
        seq = g.add(&h, &seq);
    }
    let out = if s.use_linear_projection {
        let p = g.linear(&seq, &vb.pp("proj_out"), ch, ch, true)?;
        g.to_map(&p, x)
    } else {
        let m = g.to_map(&seq, x);
        g.conv1x1(&m, &vb.pp("proj_out"), ch, ch)?
    };
    Ok(g.add(&out, x))
}

/// The UNet (`unet/mod.rs`): `sample`, `timestep`, `encoder_hidden_states` → `out_sample`.
pub fn unet(vb: &VarBuilder, u: &UnetConfig) -> Result<Graph> {
    let s = &u.inner;
    let levels = &s.blocks;
    let (Some(first), Some(last)) = (levels.first(), levels.last()) else {
        return Err(EngineError::Architecture(
            "a UNet needs at least one level".into(),
        ));
    };
    if s.mid_block_scale_factor != 1.0 {
        return Err(EngineError::Architecture(
            "ONNX export supports SD's UNets only (mid block scale 1)".into(),
        ));
    }
    let mut g = GraphBuilder::new("unet");
    let (groups, eps) = (s.norm_num_groups, s.norm_eps);
    let spatial = |n: &str| {
        vec![
            named("batch"),
            fixed(u.in_channels),
            named(&format!("{n}height")),
            named(&format!("{n}width")),
        ]
    };
    let sample = g.input("sample", super::proto::FLOAT, spatial(""));
    let timestep = g.input("timestep", super::proto::FLOAT, vec![named("batch")]);
    let context = g.input(
        "encoder_hidden_states",
        super::proto::FLOAT,
        vec![
            named("batch"),
            named("sequence"),
            fixed(s.cross_attention_dim),
        ],
    );
    let base = first.out_channels;
    let temb_ch = 4 * base;
    // Timestep embedding (`unet/embeddings.rs`).
    let half = base / 2;
    let freqs: Vec<f32> = (0..half)
        .map(|i| (-(10000f64.ln()) * i as f64 / (half as f64 - s.freq_shift)).exp() as f32)
        .collect();
    let freqs = g.f32s(&[1, half as i64], &freqs);
    let axis1 = g.i64s(&[1]);
    let t = g.op("Unsqueeze", &[&timestep, &axis1], vec![]);
    let args = g.mul(&t, &freqs);
    let (sin, cos) = (g.op("Sin", &[&args], vec![]), g.op("Cos", &[&args], vec![]));
    let emb = if s.flip_sin_to_cos {
        g.concat(&[&cos, &sin], -1)
    } else {
        g.concat(&[&sin, &cos], -1)
    };
    if base % 2 == 1 {
        return Err(EngineError::Architecture(
            "an odd UNet width is not supported on ONNX".into(),
        ));
    }
    let te = vb.pp("time_embedding");
    let emb = g.linear(&emb, &te.pp("linear_1"), base, temb_ch, true)?;
    let emb = g.silu(&emb);
    let temb = g.linear(&emb, &te.pp("linear_2"), temb_ch, temb_ch, true)?;
    let temb = Some((temb.as_str(), temb_ch));

    let input = if s.center_input_sample {
        let two = g.scale(&sample, 2.0);
        let one = g.scalar(1.0);
        g.op("Sub", &[&two, &one], vec![])
    } else {
        sample.clone()
    };
    let mut xs = g.conv3x3(&input, &vb.pp("conv_in"), u.in_channels, base)?;
    let mut skips = vec![(xs.clone(), base)];
    let n = levels.len();
    for (i, b) in levels.iter().enumerate() {
        let vb = vb.pp(format!("down_blocks.{i}"));
        let mut ch = if i == 0 {
            base
        } else {
            levels[i - 1].out_channels
        };
        for j in 0..s.layers_per_block {
            xs = resnet(
                &mut g,
                &vb.pp(format!("resnets.{j}")),
                &xs,
                (ch, b.out_channels),
                groups,
                eps,
                temb,
            )?;
            ch = b.out_channels;
            if b.use_cross_attn.is_some() {
                xs = transformer(
                    &mut g,
                    &vb.pp(format!("attentions.{j}")),
                    &xs,
                    ch,
                    b,
                    u,
                    &context,
                )?;
            }
            skips.push((xs.clone(), ch));
        }
        if i + 1 < n {
            let p = s.downsample_padding as i64;
            xs = g.conv(&xs, &vb.pp("downsamplers.0.conv"), (ch, ch, 3), 2, [p; 4])?;
            skips.push((xs.clone(), ch));
        }
    }
    let ch = last.out_channels;
    let mid = vb.pp("mid_block");
    xs = resnet(
        &mut g,
        &mid.pp("resnets.0"),
        &xs,
        (ch, ch),
        groups,
        eps,
        temb,
    )?;
    let mid_block = BlockConfig {
        use_cross_attn: Some(last.use_cross_attn.unwrap_or(1)),
        ..*last
    };
    xs = transformer(
        &mut g,
        &mid.pp("attentions.0"),
        &xs,
        ch,
        &mid_block,
        u,
        &context,
    )?;
    xs = resnet(
        &mut g,
        &mid.pp("resnets.1"),
        &xs,
        (ch, ch),
        groups,
        eps,
        temb,
    )?;
    let mut prev = ch;
    for i in 0..n {
        let level = n - 1 - i;
        let b = &levels[level];
        let vb = vb.pp(format!("up_blocks.{i}"));
        for j in 0..=s.layers_per_block {
            let (skip, sc) = skips.pop().ok_or_else(|| {
                EngineError::Architecture("UNet up block: too few skip states".into())
            })?;
            let cat = g.concat(&[&xs, &skip], 1);
            xs = resnet(
                &mut g,
                &vb.pp(format!("resnets.{j}")),
                &cat,
                (prev + sc, b.out_channels),
                groups,
                eps,
                temb,
            )?;
            prev = b.out_channels;
            if b.use_cross_attn.is_some() {
                xs = transformer(
                    &mut g,
                    &vb.pp(format!("attentions.{j}")),
                    &xs,
                    prev,
                    b,
                    u,
                    &context,
                )?;
            }
        }
        if i + 1 < n {
            // To the size of the skip state read next (twice this one unless the input's
            // size was not a multiple of 2^levels), as the candle UNet does.
            let like = skips.last().map(|(s, _)| s.clone()).ok_or_else(|| {
                EngineError::Architecture("UNet: no skip state to upsample to".into())
            })?;
            let up = g.upsample_like(&xs, &like);
            xs = g.conv3x3(&up, &vb.pp("upsamplers.0.conv"), prev, prev)?;
        }
    }
    let h = g.group_norm(&xs, &vb.pp("conv_norm_out"), groups, base, eps)?;
    let h = g.silu(&h);
    let out = g.conv3x3(&h, &vb.pp("conv_out"), base, u.out_channels)?;
    g.output(
        &out,
        "out_sample",
        vec![
            named("batch"),
            fixed(u.out_channels),
            named("height"),
            named("width"),
        ],
    );
    Ok(g.graph)
}

const VAE_EPS: f64 = 1e-6;

/// The VAE's single-head attention (`vae/coder.rs`), reading either naming.
fn vae_attention(
    g: &mut GraphBuilder,
    vb: &VarBuilder,
    x: &str,
    c: usize,
    groups: usize,
) -> Result<String> {
    let [q, k, v, o] = if vb.contains_tensor("to_q.weight") {
        ["to_q", "to_k", "to_v", "to_out.0"]
    } else {
        ["query", "key", "value", "proj_attn"]
    };
    let proj = |g: &mut GraphBuilder, x: &str, name: &str| -> Result<String> {
        let vb = vb.pp(name);
        let w = match vb.get((c, c), "weight") {
            Ok(w) => w,
            Err(_) => vb.get((c, c, 1, 1), "weight")?.reshape((c, c))?,
        };
        g.linear_from(x, &vb, w, true)
    };
    let normed = g.group_norm(x, &vb.pp("group_norm"), groups, c, VAE_EPS)?;
    let seq = g.to_seq(&normed);
    let (qs, ks, vs) = (proj(g, &seq, q)?, proj(g, &seq, k)?, proj(g, &seq, v)?);
    let att = g.attention((&qs, &ks, &vs), 1, c, Some(1.0 / (c as f32).sqrt()), None);
    let out = proj(g, &att, o)?;
    let map = g.to_map(&out, x);
    Ok(g.add(&map, x))
}

fn vae_mid(
    g: &mut GraphBuilder,
    vb: &VarBuilder,
    x: &str,
    c: usize,
    groups: usize,
) -> Result<String> {
    let x = resnet(g, &vb.pp("resnets.0"), x, (c, c), groups, VAE_EPS, None)?;
    let x = vae_attention(g, &vb.pp("attentions.0"), &x, c, groups)?;
    resnet(g, &vb.pp("resnets.1"), &x, (c, c), groups, VAE_EPS, None)
}

fn image_dims(c: usize, h: &str, w: &str) -> Vec<Dim> {
    vec![named("batch"), fixed(c), named(h), named(w)]
}

/// `vae_decoder`: post-quant conv and decoder; the caller divides by the scaling factor.
pub fn vae_decoder(vb: &VarBuilder, c: &VaeConfig) -> Result<Graph> {
    let mut g = GraphBuilder::new("vae_decoder");
    let groups = c.norm_num_groups;
    let l = c.latent_channels;
    let latent = g.input(
        "latent_sample",
        super::proto::FLOAT,
        image_dims(l, "latent_height", "latent_width"),
    );
    let mut xs = if c.use_post_quant_conv {
        g.conv1x1(&latent, &vb.pp("post_quant_conv"), l, l)?
    } else {
        latent
    };
    let rev: Vec<usize> = c.block_out_channels.iter().rev().copied().collect();
    let (Some(&deepest), Some(&first)) = (rev.first(), c.block_out_channels.first()) else {
        return Err(EngineError::Architecture(
            "a VAE needs at least one level".into(),
        ));
    };
    let vb = vb.pp("decoder");
    xs = g.conv3x3(&xs, &vb.pp("conv_in"), l, deepest)?;
    xs = vae_mid(&mut g, &vb.pp("mid_block"), &xs, deepest, groups)?;
    for (i, &ch) in rev.iter().enumerate() {
        let up = vb.pp(format!("up_blocks.{i}"));
        let mut cin = if i == 0 { deepest } else { rev[i - 1] };
        for j in 0..=c.layers_per_block {
            xs = resnet(
                &mut g,
                &up.pp(format!("resnets.{j}")),
                &xs,
                (cin, ch),
                groups,
                VAE_EPS,
                None,
            )?;
            cin = ch;
        }
        if i + 1 < rev.len() {
            let u = g.upsample2x(&xs);
            xs = g.conv3x3(&u, &up.pp("upsamplers.0.conv"), ch, ch)?;
        }
    }
    let h = g.group_norm(&xs, &vb.pp("conv_norm_out"), groups, first, VAE_EPS)?;
    let h = g.silu(&h);
    let out = g.conv3x3(&h, &vb.pp("conv_out"), first, 3)?;
    g.output(&out, "sample", image_dims(3, "height", "width"));
    Ok(g.graph)
}

/// `vae_encoder`: encoder and quant conv, returning the mean half of the moments.
pub fn vae_encoder(vb: &VarBuilder, c: &VaeConfig) -> Result<Graph> {
    let mut g = GraphBuilder::new("vae_encoder");
    let groups = c.norm_num_groups;
    let l = c.latent_channels;
    let ch = &c.block_out_channels;
    let (Some(&first), Some(&last)) = (ch.first(), ch.last()) else {
        return Err(EngineError::Architecture(
            "a VAE needs at least one level".into(),
        ));
    };
    let image = g.input(
        "sample",
        super::proto::FLOAT,
        image_dims(3, "height", "width"),
    );
    let enc = vb.pp("encoder");
    let mut xs = g.conv3x3(&image, &enc.pp("conv_in"), 3, first)?;
    for (i, &out) in ch.iter().enumerate() {
        let down = enc.pp(format!("down_blocks.{i}"));
        let mut cin = if i == 0 { first } else { ch[i - 1] };
        for j in 0..c.layers_per_block {
            xs = resnet(
                &mut g,
                &down.pp(format!("resnets.{j}")),
                &xs,
                (cin, out),
                groups,
                VAE_EPS,
                None,
            )?;
            cin = out;
        }
        if i + 1 < ch.len() {
            // LDM's encoder pads only the right and bottom before its stride-2 conv.
            xs = g.conv(
                &xs,
                &down.pp("downsamplers.0.conv"),
                (out, out, 3),
                2,
                [0, 0, 1, 1],
            )?;
        }
    }
    xs = vae_mid(&mut g, &enc.pp("mid_block"), &xs, last, groups)?;
    let h = g.group_norm(&xs, &enc.pp("conv_norm_out"), groups, last, VAE_EPS)?;
    let h = g.silu(&h);
    let mut moments = g.conv3x3(&h, &enc.pp("conv_out"), last, 2 * l)?;
    if c.use_quant_conv {
        moments = g.conv1x1(&moments, &vb.pp("quant_conv"), 2 * l, 2 * l)?;
    }
    let mean = g.slice(&moments, 1, 0, l as i64);
    g.output(
        &mean,
        "latent_sample",
        image_dims(l, "latent_height", "latent_width"),
    );
    Ok(g.graph)
}

/// Writes `graph` to `path`; weights over 1 GiB go to `<file name>_data` beside it
/// (protobuf cannot hold messages over 2 GiB; ONNX Runtime reads the data file by name).
pub fn write_graph(graph: &Graph, path: &std::path::Path) -> Result<()> {
    let io = |e| EngineError::io(path, e);
    let bytes = if graph.weight_bytes() > 1 << 30 {
        let file_name = path
            .file_name()
            .map(|n| format!("{}_data", n.to_string_lossy()))
            .unwrap_or_else(|| "model.onnx_data".into());
        let data_path = path.with_file_name(&file_name);
        let file = std::fs::File::create(&data_path).map_err(|e| EngineError::io(&data_path, e))?;
        let mut sink = std::io::BufWriter::new(file);
        let bytes = super::proto::encode_model(graph, Some((&file_name, &mut sink))).map_err(io)?;
        std::io::Write::flush(&mut sink).map_err(|e| EngineError::io(&data_path, e))?;
        bytes
    } else {
        super::proto::encode_model(graph, None).map_err(io)?
    };
    std::fs::write(path, bytes).map_err(io)
}

/// An ESRGAN-family RRDBNet (`esrgan.rs`, Real-ESRGAN names, no pixel fold) with
/// `features` channels, `blocks` RRDBs, growth `growth` and `ups` 2× upsamplers:
/// `input` `[b, 3, h, w]` in 0..1 → `output` `[b, 3, h·2^ups, w·2^ups]`, as the
/// `.onnx` upscalers people publish take and give.
pub fn esrgan(vb: &VarBuilder, features: usize, blocks: usize, growth: usize, ups: usize) -> Result<Graph> {
    let mut g = GraphBuilder::new("esrgan");
    let x = g.input("input", super::proto::FLOAT, image_dims(3, "height", "width"));
    let lrelu = |g: &mut GraphBuilder, x: &str| g.op("LeakyRelu", &[x], vec![("alpha", super::proto::Attr::Float(0.2))]);
    let feat = g.conv3x3(&x, &vb.pp("conv_first"), 3, features)?;
    let mut trunk = feat.clone();
    for b in 0..blocks {
        let rrdb_in = trunk.clone();
        let mut h = trunk.clone();
        for r in 1..=3 {
            let mut parts = vec![h.clone()];
            for k in 1..=5 {
                let cat = if parts.len() == 1 { parts[0].clone() } else {
                    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
                    g.concat(&refs, 1)
                };
                let cout = if k < 5 { growth } else { features };
                let y = g.conv3x3(&cat, &vb.pp(format!("body.{b}.rdb{r}.conv{k}")), features + (k - 1) * growth, cout)?;
                if k < 5 {
                    parts.push(lrelu(&mut g, &y));
                } else {
                    let scaled = g.scale(&y, 0.2);
                    h = g.add(&h, &scaled);
                }
            }
        }
        let scaled = g.scale(&h, 0.2);
        trunk = g.add(&rrdb_in, &scaled);
    }
    let body = g.conv3x3(&trunk, &vb.pp("conv_body"), features, features)?;
    let mut feat = g.add(&feat, &body);
    for i in 1..=ups {
        let up = g.upsample2x(&feat);
        let y = g.conv3x3(&up, &vb.pp(format!("conv_up{i}")), features, features)?;
        feat = lrelu(&mut g, &y);
    }
    let hr = g.conv3x3(&feat, &vb.pp("conv_hr"), features, features)?;
    let hr = lrelu(&mut g, &hr);
    let out = g.conv3x3(&hr, &vb.pp("conv_last"), features, 3)?;
    g.output(&out, "output", image_dims(3, "out_height", "out_width"));
    Ok(g.graph)
}
