//! RA's first-party invisible-watermark plugin.
//!
//! [`dwtdct`] is the watermark itself (pure Rust, no dependencies); the plugin
//! glue over `ra-plugin-sdk` goes here.

pub mod dwtdct;
