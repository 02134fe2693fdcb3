//! RA's model library, shared by the launcher and `ra-daemon`'s command line.
//!
//! - [`hash`]: sha256 and A1111's AutoV2 of files, streamed.
//! - [`inspect`]: what a `.safetensors` file is (kind, architecture, metadata), from its
//!   header.
//! - [`download`]: resumable, verified downloads with mirrors and a concurrency limit.
//! - [`pack`]: model pack manifests (TOML) as admins publish them.
//! - [`preview`]: a model's picture beside its file, as A1111 names it.
//! - [`install`]: a pack's plan (what to download, how much space) and its install.
//! - [`scan`]: model files found in A1111/ComfyUI folders, recorded and verified.
//! - [`store`]: the library database (SQLite, WAL) the daemon reads too.
//! - [`update`]: signed update manifests (minisign/ed25519) and the atomic swap with
//!   rollback.
//!
//! Nothing here needs an async runtime; long work runs on the caller's threads and
//! reports progress through callbacks.

pub mod download;
pub mod error;
pub mod hash;
pub mod inspect;
pub mod install;
pub mod pack;
pub mod preview;
pub mod scan;
pub mod store;
pub mod update;

pub use error::{LibraryError, Result};
