//! Weight files: recognising them by content, validating safetensors before trusting
//! them, and serving their tensors to the model code under diffusers names.
//!
//! A file is memory-mapped once; each tensor is copied out (and cast) only when the model
//! asks for it, so a checkpoint in the LDM layout is read through [`crate::ldm_names`]
//! without a converted second copy.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::VarBuilder;

use crate::error::{EngineError, Result};
use crate::ldm_names::{self, LdmSource, UnetLayout};

/// The safetensors format caps its JSON header at 100 MB.
const MAX_HEADER: u64 = 100_000_000;

/// What a weight file is, judged from its bytes, never its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Safetensors,
    /// A pickle, bare or inside PyTorch's zip container.
    Pickle(&'static str),
    Unknown,
}

/// Reads the first bytes of `path` to tell its format.
pub fn sniff(path: &Path) -> Result<FileFormat> {
    let mut head = [0u8; 16];
    let mut f = File::open(path).map_err(|e| EngineError::io(path, e))?;
    let n = read_up_to(&mut f, &mut head).map_err(|e| EngineError::io(path, e))?;
    let head = &head[..n];
    Ok(if head.starts_with(b"PK\x03\x04") {
        FileFormat::Pickle("a PyTorch zip archive holding a pickle")
    } else if head.len() >= 2 && head[0] == 0x80 && (2..=5).contains(&head[1]) {
        FileFormat::Pickle("a Python pickle stream")
    } else if head.len() >= 9 && head[8] == b'{' {
        FileFormat::Safetensors
    } else {
        FileFormat::Unknown
    })
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A validated, memory-mapped safetensors file.
pub struct SafetensorsFile {
    pub path: PathBuf,
    st: MmapedSafetensors,
    /// The header's `__metadata__` strings.
    pub metadata: HashMap<String, String>,
}

impl SafetensorsFile {
    /// Opens `path` after checking that it is a complete, well-formed safetensors file;
    /// pickles and unknown formats are refused with the reason.
    pub fn open(path: &Path) -> Result<Self> {
        match sniff(path)? {
            FileFormat::Safetensors => {}
            FileFormat::Pickle(kind) => {
                return Err(EngineError::PickleRefused {
                    path: path.to_path_buf(),
                    kind,
                })
            }
            FileFormat::Unknown => {
                return Err(EngineError::UnknownFormat {
                    path: path.to_path_buf(),
                    reason: "it is neither safetensors nor a checkpoint format RA knows".into(),
                })
            }
        }
        let bad = |reason: String| EngineError::BadSafetensors {
            path: path.to_path_buf(),
            reason,
        };
        let file = File::open(path).map_err(|e| EngineError::io(path, e))?;
        let len = file.metadata().map_err(|e| EngineError::io(path, e))?.len();
        // Safety: the map is read-only; RA never writes model files while they are in use
        // (downloads go to a `.part` name and are renamed into place).
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| EngineError::io(path, e))?;
        let header_len =
            u64::from_le_bytes(mmap[..8].try_into().map_err(|_| bad("too short".into()))?);
        if header_len > MAX_HEADER || header_len + 8 > len {
            return Err(bad(format!(
                "its header claims {header_len} bytes but the file has {len}"
            )));
        }
        let (_, meta) = safetensors::SafeTensors::read_metadata(&mmap[..])
            .map_err(|e| bad(describe_st_error(&e)))?;
        let metadata = meta.metadata().clone().unwrap_or_default();
        drop(mmap);
        // Safety: as above.
        let st = unsafe { MmapedSafetensors::new(path) }.map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            path: path.to_path_buf(),
            st,
            metadata,
        })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.st.get(name).is_ok()
    }

    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.st.get(name).ok().map(|v| v.shape().to_vec())
    }

    /// Every tensor name in the file.
    pub fn names(&self) -> Vec<String> {
        self.st.tensors().into_iter().map(|(n, _)| n).collect()
    }

    fn load(&self, name: &str, dev: &Device) -> Result<Tensor> {
        Ok(self.st.load(name, dev)?)
    }

    /// One tensor as stored, on the CPU.
    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        self.load(name, &Device::Cpu)
    }
}

/// The tensors a model was built from, by the names its code asked for. Rebuilding the
/// model from them shares their storage, so a copy with a few weights replaced (a LoRA
/// applied) costs only those weights.
pub type TensorMap = HashMap<String, Tensor>;

/// Serves a model's construction from `inner` and keeps every tensor it hands out.
pub struct Recording<B> {
    inner: B,
    seen: Arc<std::sync::Mutex<TensorMap>>,
}

impl<B: SimpleBackend> Recording<B> {
    pub fn new(inner: B) -> Self {
        Self {
            inner,
            seen: Arc::default(),
        }
    }

    /// Builds with a [`VarBuilder`] over this backend, then returns what was built and
    /// the tensors it took.
    pub fn build<T>(
        self,
        dtype: DType,
        device: &Device,
        f: impl FnOnce(VarBuilder) -> Result<T>,
    ) -> Result<(T, TensorMap)>
    where
        B: 'static,
    {
        let seen = Arc::clone(&self.seen);
        let vb = VarBuilder::from_backend(Box::new(self), dtype, device.clone());
        let built = f(vb)?;
        let seen = match seen.lock() {
            Ok(mut m) => std::mem::take(&mut *m),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        Ok((built, seen))
    }

    fn keep(&self, name: &str, t: candle_core::Result<Tensor>) -> candle_core::Result<Tensor> {
        if let Ok(t) = &t {
            if let Ok(mut seen) = self.seen.lock() {
                seen.insert(name.to_string(), t.clone());
            }
        }
        t
    }
}

impl<B: SimpleBackend> SimpleBackend for Recording<B> {
    fn get(
        &self,
        s: Shape,
        name: &str,
        init: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        self.keep(name, self.inner.get(s, name, init, dtype, dev))
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.keep(name, self.inner.get_unchecked(name, dtype, dev))
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.inner.contains_tensor(name)
    }
}

/// `t` if it has the shape the model asks for. A mismatch is an error, not a reshape:
/// callers that accept two layouts (the VAE attention's linear or 1×1-conv weights)
/// try each shape in turn.
fn same_shape(name: &str, t: Tensor, s: &Shape) -> candle_core::Result<Tensor> {
    if t.shape() != s {
        return Err(candle_core::Error::Msg(format!(
            "weight '{name}' has shape {:?}, the model expects {:?}",
            t.dims(),
            s.dims()
        )));
    }
    Ok(t)
}

/// A recorded model's tensors with some replaced.
pub struct Patched {
    pub base: Arc<TensorMap>,
    pub patches: TensorMap,
}

impl Patched {
    fn lookup(&self, name: &str) -> candle_core::Result<Tensor> {
        self.patches
            .get(name)
            .or_else(|| self.base.get(name))
            .cloned()
            .ok_or_else(|| candle_core::Error::Msg(format!("weight '{name}' was not recorded")))
    }
}

impl SimpleBackend for Patched {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        _: &Device,
    ) -> candle_core::Result<Tensor> {
        same_shape(name, self.lookup(name)?, &s)?.to_dtype(dtype)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, _: &Device) -> candle_core::Result<Tensor> {
        self.lookup(name)?.to_dtype(dtype)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.patches.contains_key(name) || self.base.contains_key(name)
    }
}

fn describe_st_error(e: &safetensors::SafeTensorError) -> String {
    use safetensors::SafeTensorError as E;
    match e {
        E::MetadataIncompleteBuffer => {
            "the tensor data does not fill the file as its header says (truncated?)".into()
        }
        E::InvalidHeaderDeserialization(_) | E::InvalidHeader(_) | E::InvalidHeaderLength => {
            format!("its JSON header is corrupt ({e})")
        }
        other => other.to_string(),
    }
}

/// How diffusers names map to the names in a file.
#[derive(Debug, Clone)]
pub enum Naming {
    /// The file uses diffusers names already (a diffusers folder's component file).
    Diffusers,
    LdmUnet(UnetLayout),
    LdmVae {
        levels: usize,
    },
    /// A standalone A1111 VAE file: LDM names without `first_stage_model.`.
    LdmVaeAlone {
        levels: usize,
    },
    LdmClip,
    LdmOpenClip,
}

/// One model component's weights, served under diffusers names.
#[derive(Clone)]
pub struct Weights {
    file: Arc<SafetensorsFile>,
    naming: Naming,
}

impl Weights {
    pub fn new(file: Arc<SafetensorsFile>, naming: Naming) -> Self {
        Self { file, naming }
    }

    pub fn file(&self) -> &SafetensorsFile {
        &self.file
    }

    fn source(&self, name: &str) -> Option<LdmSource> {
        match &self.naming {
            Naming::Diffusers => Some(LdmSource::Tensor(name.to_string())),
            Naming::LdmUnet(layout) => ldm_names::unet(name, layout).map(LdmSource::Tensor),
            Naming::LdmVae { levels } => ldm_names::vae(name, *levels).map(LdmSource::Tensor),
            Naming::LdmVaeAlone { levels } => ldm_names::vae(name, *levels)
                .and_then(|n| n.strip_prefix(ldm_names::VAE_PREFIX).map(str::to_string))
                .map(LdmSource::Tensor),
            Naming::LdmClip => Some(ldm_names::clip(name)),
            Naming::LdmOpenClip => ldm_names::open_clip(name),
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        match self.source(name) {
            Some(LdmSource::Tensor(n)) | Some(LdmSource::Rows { name: n, .. }) => {
                self.file.contains(&n)
            }
            None => false,
        }
    }

    /// The shape the model would see for `name`.
    pub fn shape(&self, name: &str) -> Option<Vec<usize>> {
        match self.source(name)? {
            LdmSource::Tensor(n) => self.file.shape(&n),
            LdmSource::Rows { name, parts, .. } => {
                let mut s = self.file.shape(&name)?;
                *s.first_mut()? /= parts;
                Some(s)
            }
        }
    }

    fn load(&self, name: &str, dev: &Device) -> Result<Tensor> {
        let missing = || EngineError::MissingWeight {
            name: name.to_string(),
            detail: None,
        };
        match self.source(name).ok_or_else(missing)? {
            LdmSource::Tensor(n) => {
                if !self.file.contains(&n) {
                    return Err(EngineError::MissingWeight {
                        name: name.to_string(),
                        detail: (n != name).then(|| format!("looked for '{n}'")),
                    });
                }
                self.file.load(&n, dev)
            }
            LdmSource::Rows {
                name: n,
                part,
                parts,
            } => {
                if !self.file.contains(&n) {
                    return Err(missing());
                }
                let t = self.file.load(&n, dev)?;
                let rows = t.dim(0)? / parts;
                Ok(t.narrow(0, part * rows, rows)?.contiguous()?)
            }
        }
    }

    pub fn into_var_builder(self, dtype: DType, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self), dtype, device.clone())
    }
}

impl SimpleBackend for Weights {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let t = self.load(name, dev).map_err(candle_core::Error::wrap)?;
        same_shape(name, t, &s)?.to_dtype(dtype)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.load(name, dev)
            .map_err(candle_core::Error::wrap)?
            .to_dtype(dtype)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.contains(name)
    }
}
