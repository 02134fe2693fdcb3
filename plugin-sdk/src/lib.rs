//! The crate an RA plugin depends on.
//!
//! A plugin is a type implementing [`Plugin`] (every hook has a default, so implement
//! only the ones the manifest lists) and one [`register!`] line. Built with
//! `cargo build --release --target wasm32-wasip2`, it is a WebAssembly component that
//! exports RA's contract, `wit/v0.1.0/plugin.wit`. See this crate's README for the whole
//! path from `cargo new` to a plugin running in the daemon.
//!
//! The host makes a fresh instance for every call, so a plugin keeps no state between
//! calls: whatever it needs comes in the call's arguments, its settings
//! ([`settings`]) or its data folder (`/data`, when the manifest asks for one).

mod image;
mod resize;
pub mod log;
pub mod models;
pub mod settings;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit/v0.1.0",
        world: "plugin",
        pub_export_macro: true,
        additional_derives: [PartialEq],
    });
}

pub use bindings::ra::plugin::types::{
    ActionOutput, Field, Image, Params, Postprocessed, Tensor, Upscaler,
};

/// The contract version this crate builds against; a plugin's manifest names it as `api`.
pub const API_VERSION: &str = "0.1.0";

/// One RA plugin. Each method is a hook point; the defaults leave everything as it was
/// or say that the hook is not offered.
pub trait Plugin: Default {
    /// Before sampling: read and change the generation parameters.
    fn process(&self, params: Params) -> Result<Params, String> {
        Ok(params)
    }

    /// Each finished image, with the parameters it was made with and its infotext;
    /// return a replacement of the same size and/or extra infotext fields.
    fn postprocess_image(&self, image: Image, params: &Params, infotext: &str) -> Result<Postprocessed, String> {
        let _ = (image, params, infotext);
        Ok(Postprocessed { image: None, extra: Vec::new() })
    }

    /// The upscalers this plugin offers, with their native factors.
    fn upscalers(&self) -> Vec<Upscaler> {
        Vec::new()
    }

    /// Upscales by `scale`; the host checks the result is round(w·scale) × round(h·scale).
    fn upscale(&self, name: &str, image: Image, scale: f32) -> Result<Image, String> {
        let _ = (image, scale);
        Err(format!("this plugin has no upscaler named {name:?}"))
    }

    /// Turns an input image into a control image of the same size.
    fn preprocess(&self, name: &str, image: Image) -> Result<Image, String> {
        let _ = image;
        Err(format!("this plugin has no preprocessor named {name:?}"))
    }

    /// A named action: JSON text (and images) in, JSON text (and images) out.
    fn action(&self, name: &str, input: &str, images: Vec<Image>) -> Result<ActionOutput, String> {
        let _ = (input, images);
        Err(format!("this plugin has no action named {name:?}"))
    }
}

/// Exports a [`Plugin`] implementation as the component's hooks. Use it once per crate.
///
/// ```ignore
/// #[derive(Default)]
/// struct Shout;
/// impl ra_plugin_sdk::Plugin for Shout { /* … */ }
/// ra_plugin_sdk::register!(Shout);
/// ```
#[macro_export]
macro_rules! register {
    ($plugin:ty) => {
        /// The hooks as the component exports them (public so that a native build, as
        /// `cargo test` makes, counts the plugin's code as used).
        #[doc(hidden)]
        pub struct __RaPluginExports;

        impl $crate::bindings::exports::ra::plugin::hooks::Guest for __RaPluginExports {
            fn process(params: $crate::Params) -> Result<$crate::Params, String> {
                <$plugin as $crate::Plugin>::process(&<$plugin>::default(), params)
            }
            fn postprocess_image(
                image: $crate::Image,
                params: $crate::Params,
                infotext: String,
            ) -> Result<$crate::Postprocessed, String> {
                <$plugin as $crate::Plugin>::postprocess_image(&<$plugin>::default(), image, &params, &infotext)
            }
            fn upscalers() -> Vec<$crate::Upscaler> {
                <$plugin as $crate::Plugin>::upscalers(&<$plugin>::default())
            }
            fn upscale(name: String, image: $crate::Image, scale: f32) -> Result<$crate::Image, String> {
                <$plugin as $crate::Plugin>::upscale(&<$plugin>::default(), &name, image, scale)
            }
            fn preprocess(name: String, image: $crate::Image) -> Result<$crate::Image, String> {
                <$plugin as $crate::Plugin>::preprocess(&<$plugin>::default(), &name, image)
            }
            fn action(
                name: String,
                input: String,
                images: Vec<$crate::Image>,
            ) -> Result<$crate::ActionOutput, String> {
                <$plugin as $crate::Plugin>::action(&<$plugin>::default(), &name, &input, images)
            }
        }

        // Only a WebAssembly build exports the hooks: their symbol names (`ra:plugin/…@0.1.0`)
        // are not ones a native linker accepts, and `cargo test` builds the crate natively.
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export!(__RaPluginExports with_types_in $crate::bindings);
    };
}
