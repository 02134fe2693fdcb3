//! Our UNet against candle's: the same random weights (drawn per weight name) must give
//! the same prediction, with attention whole and in slices, for SD 1.x-shaped (1×1 conv
//! projections) and SD 2.x-shaped (linear projections) models.
//!
//! candle's feed-forward uses the tanh approximation of GELU and ours the exact one (as
//! diffusers does), so the comparison runs ours with [`Gelu::Tanh`]; the exact GELU's
//! own distance from candle is bounded separately.

use candle_transformers::models::stable_diffusion::unet_2d as candle_unet;
use ra_engine::candle::{DType, Device, Tensor};
use ra_engine::make_model::random_var_builder;
use ra_engine::unet::{AttentionSlicing, Gelu, Unet, UnetConfig, UnetOptions};

/// Agreement is measured against the size of the output: max |ours − candle's| over
/// max |candle's|. Seen: about 2e-6 (f32 rounding in a different order).
const TOLERANCE: f32 = 1e-4;
/// The exact GELU against candle's tanh one; seen: about 2e-4.
const GELU_TOLERANCE: f32 = 1e-3;

fn candle_config(c: &UnetConfig) -> candle_unet::UNet2DConditionModelConfig {
    let s = &c.inner;
    candle_unet::UNet2DConditionModelConfig {
        center_input_sample: s.center_input_sample,
        flip_sin_to_cos: s.flip_sin_to_cos,
        freq_shift: s.freq_shift,
        blocks: s
            .blocks
            .iter()
            .map(|b| candle_unet::BlockConfig {
                out_channels: b.out_channels,
                use_cross_attn: b.use_cross_attn,
                attention_head_dim: b.heads,
            })
            .collect(),
        layers_per_block: s.layers_per_block,
        downsample_padding: s.downsample_padding,
        mid_block_scale_factor: s.mid_block_scale_factor,
        norm_num_groups: s.norm_num_groups,
        norm_eps: s.norm_eps,
        cross_attention_dim: s.cross_attention_dim,
        sliced_attention_size: None,
        use_linear_projection: s.use_linear_projection,
    }
}

fn relative_difference(ours: &Tensor, theirs: &Tensor) -> f32 {
    let diff = (ours - theirs).unwrap().abs().unwrap().max_all().unwrap();
    let scale = theirs.abs().unwrap().max_all().unwrap();
    diff.to_scalar::<f32>().unwrap() / scale.to_scalar::<f32>().unwrap()
}

/// Runs both UNets on one input and returns the worst relative difference over the
/// slicing modes.
fn compare(config: &UnetConfig, height: usize, width: usize, gelu: Gelu) -> f32 {
    let dev = Device::Cpu;
    let seed = 7;
    let theirs = candle_unet::UNet2DConditionModel::new(
        random_var_builder(seed, DType::F32, &dev),
        config.in_channels,
        config.out_channels,
        false,
        candle_config(config),
    )
    .unwrap();
    let x = Tensor::randn(0f32, 1., (2, config.in_channels, height, width), &dev).unwrap();
    let ctx = Tensor::randn(0f32, 1., (2, 77, config.inner.cross_attention_dim), &dev).unwrap();
    let expected = theirs.forward(&x, 421., &ctx).unwrap();
    // 80 KiB of scores is 5 query rows at the first level of a 16×16 latent (16 heads ×
    // 256 keys × 4 bytes per row): slices that do not divide the rows evenly.
    let modes = [
        AttentionSlicing::Full,
        AttentionSlicing::Budget(80 << 10),
        AttentionSlicing::DEFAULT,
    ];
    modes
        .iter()
        .map(|&slicing| {
            let options = UnetOptions { slicing, gelu };
            let vb = random_var_builder(seed, DType::F32, &dev);
            let got = Unet::new(vb, config, options)
                .unwrap()
                .forward(&x, 421., &ctx)
                .unwrap();
            assert_eq!(got.dims(), expected.dims());
            let d = relative_difference(&got, &expected);
            eprintln!("{options:?} {height}×{width}: relative difference {d:.2e}");
            d
        })
        .fold(0f32, f32::max)
}

#[test]
fn sd1_shaped_unet_matches_candle() {
    let worst = compare(&UnetConfig::tiny(), 16, 16, Gelu::Tanh);
    assert!(worst < TOLERANCE, "relative difference {worst:e}");
}

#[test]
fn sd2_shaped_unet_matches_candle() {
    let worst = compare(&UnetConfig::tiny_sd2(), 16, 16, Gelu::Tanh);
    assert!(worst < TOLERANCE, "relative difference {worst:e}");
}

#[test]
fn exact_gelu_stays_close_to_candle() {
    for config in [UnetConfig::tiny(), UnetConfig::tiny_sd2()] {
        let worst = compare(&config, 16, 16, Gelu::Exact);
        assert!(worst < GELU_TOLERANCE, "relative difference {worst:e}");
    }
}

/// A latent whose sides are not multiples of 4 (the tiny UNet's three levels): the up
/// path must land on the skip states' odd sizes as candle's does.
#[test]
fn odd_sized_latent_matches_candle() {
    let worst = compare(&UnetConfig::tiny(), 18, 14, Gelu::Tanh);
    assert!(worst < TOLERANCE, "relative difference {worst:e}");
}
