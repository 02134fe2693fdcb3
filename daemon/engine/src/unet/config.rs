//! What a UNet is: the fields of diffusers' `UNet2DConditionModel` config that SD 1.x and
//! 2.x use, with the published sizes as presets. [`crate::arch::infer_unet`] fills the
//! same structs from a checkpoint's tensors.

/// One resolution level of the UNet (a down block and its mirrored up block).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockConfig {
    pub out_channels: usize,
    /// `Some(depth)`: the level has spatial transformers of `depth` blocks each;
    /// `None`: resnets only.
    pub use_cross_attn: Option<usize>,
    /// How many attention heads the level's transformers split their channels into.
    /// diffusers' config calls this `attention_head_dim`, but SD 1.x's releases (and
    /// diffusers itself) read that number as a head count, so that is what this holds.
    pub heads: usize,
}

/// The block structure and constants of the UNet body.
#[derive(Debug, Clone, PartialEq)]
pub struct Structure {
    pub center_input_sample: bool,
    pub flip_sin_to_cos: bool,
    pub freq_shift: f64,
    pub blocks: Vec<BlockConfig>,
    pub layers_per_block: usize,
    pub downsample_padding: usize,
    pub mid_block_scale_factor: f64,
    pub norm_num_groups: usize,
    pub norm_eps: f64,
    /// Width of the text encoder's hidden states that cross-attention reads.
    pub cross_attention_dim: usize,
    /// SD 2.x: the transformers' `proj_in`/`proj_out` are linear layers, not 1×1 convs.
    pub use_linear_projection: bool,
}

impl Structure {
    /// The constants every SD 1.x/2.x UNet shares, around the parts that differ.
    pub fn sd(
        blocks: Vec<BlockConfig>,
        layers_per_block: usize,
        cross_attention_dim: usize,
        use_linear_projection: bool,
    ) -> Self {
        Self {
            center_input_sample: false,
            flip_sin_to_cos: true,
            freq_shift: 0.,
            blocks,
            layers_per_block,
            downsample_padding: 1,
            mid_block_scale_factor: 1.,
            norm_num_groups: 32,
            norm_eps: 1e-5,
            cross_attention_dim,
            use_linear_projection,
        }
    }
}

/// A whole UNet: its body and the channels of what it reads and writes.
#[derive(Debug, Clone, PartialEq)]
pub struct UnetConfig {
    /// 4 for text-to-image, 5 for depth (latent, depth map), 9 for inpainting (latent,
    /// mask, masked image's latent): see [`crate::arch::UnetConditioning`].
    pub in_channels: usize,
    pub out_channels: usize,
    pub inner: Structure,
}

fn level(out_channels: usize, attn: bool, heads: usize) -> BlockConfig {
    BlockConfig {
        out_channels,
        use_cross_attn: attn.then_some(1),
        heads,
    }
}

impl UnetConfig {
    fn latent(inner: Structure) -> Self {
        Self {
            in_channels: 4,
            out_channels: 4,
            inner,
        }
    }

    /// Stable Diffusion 1.x at its published size.
    pub fn sd15() -> Self {
        let blocks = vec![
            level(320, true, 8),
            level(640, true, 8),
            level(1280, true, 8),
            level(1280, false, 8),
        ];
        Self::latent(Structure::sd(blocks, 2, 768, false))
    }

    /// Stable Diffusion 2.x at its published size (64-channel heads).
    pub fn sd21() -> Self {
        let blocks = vec![
            level(320, true, 5),
            level(640, true, 10),
            level(1280, true, 20),
            level(1280, false, 20),
        ];
        Self::latent(Structure::sd(blocks, 2, 1024, true))
    }

    /// An SD 1.x-shaped UNet small enough for tests to run in seconds.
    pub fn tiny() -> Self {
        let blocks = vec![level(32, true, 8), level(64, true, 8), level(64, false, 8)];
        Self::latent(Structure::sd(blocks, 1, 64, false))
    }

    /// [`UnetConfig::tiny`] shaped like SD 2.x: linear projections, one head per level.
    pub fn tiny_sd2() -> Self {
        let blocks = vec![level(32, true, 1), level(64, true, 1), level(64, false, 1)];
        Self::latent(Structure::sd(blocks, 1, 64, true))
    }
}
