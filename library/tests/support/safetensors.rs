//! A small but valid `.safetensors` file for tests that download, install or list models.

#![allow(dead_code)]

/// One F32 tensor `name` of `n` values, filled from `seed` so that files differ.
pub fn one_tensor(name: &str, n: usize, seed: u8) -> Vec<u8> {
    let header = format!(r#"{{"{name}":{{"dtype":"F32","shape":[{n}],"data_offsets":[0,{}]}}}}"#, n * 4);
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header.as_bytes());
    out.extend((0..n * 4).map(|i| (i as u8).wrapping_mul(seed)));
    out
}

/// A LoRA as A1111 reads it (kohya's naming).
pub fn lora(n: usize, seed: u8) -> Vec<u8> {
    one_tensor("lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", n, seed)
}
