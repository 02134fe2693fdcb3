//! One ONNX graph open in ONNX Runtime, fed and read as candle tensors.
//!
//! Inputs are converted to whatever element type the graph declares for them (f32, f16,
//! i32 or i64: published exports differ, e.g. int32 or int64 token ids, float or int64
//! timesteps), and f32 or f16 outputs come back as f32 candle tensors on the CPU.
//! ONNX Runtime's `run` needs exclusive access to the session, so calls are serialised.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use candle_core::{DType, Device, Tensor};
use ort::session::{Session, SessionInputValue};
use ort::value::{TensorElementType, ValueType};

use super::runtime::Runtime;
use crate::error::{EngineError, Result};

pub struct OnnxGraph {
    pub path: PathBuf,
    session: Mutex<Session>,
    /// Each input's name, element type and shape (-1 where it varies).
    pub inputs: Vec<(String, TensorElementType, Vec<i64>)>,
    pub outputs: Vec<(String, TensorElementType)>,
}

fn tensor_type(t: &ValueType) -> Option<(TensorElementType, Vec<i64>)> {
    match t {
        ValueType::Tensor { ty, shape, .. } => Some((*ty, shape.iter().copied().collect())),
        _ => None,
    }
}

impl OnnxGraph {
    pub fn open(rt: &Runtime, path: &Path) -> Result<Self> {
        let session = rt.session(path)?;
        let not_tensor = |name: &str| {
            EngineError::Onnx(format!(
                "{}: '{name}' is not a tensor; RA runs graphs of tensors only",
                path.display()
            ))
        };
        let inputs = session
            .inputs()
            .iter()
            .map(|o| {
                let (ty, shape) = tensor_type(o.dtype()).ok_or_else(|| not_tensor(o.name()))?;
                Ok((o.name().to_string(), ty, shape))
            })
            .collect::<Result<_>>()?;
        let outputs = session
            .outputs()
            .iter()
            .map(|o| {
                let (ty, _) = tensor_type(o.dtype()).ok_or_else(|| not_tensor(o.name()))?;
                Ok((o.name().to_string(), ty))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            path: path.to_path_buf(),
            session: Mutex::new(session),
            inputs,
            outputs,
        })
    }

    /// The declared shape of input `name`, if the graph has it.
    pub fn input_shape(&self, name: &str) -> Option<&[i64]> {
        self.inputs
            .iter()
            .find(|(n, ..)| n == name)
            .map(|(_, _, s)| s.as_slice())
    }

    pub fn has_input(&self, name: &str) -> bool {
        self.input_shape(name).is_some()
    }

    /// Runs the graph on `feeds` (input name, value) and returns the output `name`, or
    /// the first output when `name` is `None`.
    pub fn run(&self, feeds: &[(&str, &Tensor)], name: Option<&str>) -> Result<Tensor> {
        let failed = |e: &dyn std::fmt::Display| {
            EngineError::Onnx(format!("running {}: {e}", self.path.display()))
        };
        let mut values: Vec<(Cow<str>, SessionInputValue)> = Vec::with_capacity(feeds.len());
        for (input, t) in feeds {
            let Some((_, ty, _)) = self.inputs.iter().find(|(n, ..)| n == input) else {
                return Err(failed(&format!(
                    "the graph has no input '{input}' (it has {})",
                    self.inputs
                        .iter()
                        .map(|(n, ..)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            let shape: Vec<i64> = t.dims().iter().map(|&d| d as i64).collect();
            let data: Vec<f32> = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
            let value: SessionInputValue = match ty {
                TensorElementType::Float32 => ort::value::Tensor::from_array((shape, data))
                    .map_err(|e| failed(&e))?
                    .into(),
                TensorElementType::Float16 => {
                    let data: Vec<half::f16> =
                        data.iter().map(|&x| half::f16::from_f32(x)).collect();
                    ort::value::Tensor::from_array((shape, data))
                        .map_err(|e| failed(&e))?
                        .into()
                }
                TensorElementType::Int32 => {
                    let data: Vec<i32> = data.iter().map(|&x| x.round() as i32).collect();
                    ort::value::Tensor::from_array((shape, data))
                        .map_err(|e| failed(&e))?
                        .into()
                }
                TensorElementType::Int64 => {
                    let data: Vec<i64> = data.iter().map(|&x| x.round() as i64).collect();
                    ort::value::Tensor::from_array((shape, data))
                        .map_err(|e| failed(&e))?
                        .into()
                }
                other => {
                    return Err(failed(&format!(
                        "input '{input}' is {other:?}; RA feeds f32, f16, i32 and i64 inputs"
                    )))
                }
            };
            values.push((Cow::Owned(input.to_string()), value));
        }
        let (out_name, out_ty) = match name {
            Some(n) => self.outputs.iter().find(|(o, _)| o == n),
            None => self.outputs.first(),
        }
        .cloned()
        .ok_or_else(|| {
            failed(&format!(
                "the graph has no output {}",
                name.unwrap_or("at all")
            ))
        })?;
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = session.run(values).map_err(|e| failed(&e))?;
        let value = &outputs[out_name.as_str()];
        let (shape, data) = match out_ty {
            TensorElementType::Float32 => {
                let (s, d) = value.try_extract_tensor::<f32>().map_err(|e| failed(&e))?;
                (s.to_vec(), d.to_vec())
            }
            TensorElementType::Float16 => {
                let (s, d) = value
                    .try_extract_tensor::<half::f16>()
                    .map_err(|e| failed(&e))?;
                (s.to_vec(), d.iter().map(|x| x.to_f32()).collect())
            }
            other => {
                return Err(failed(&format!(
                    "output '{out_name}' is {other:?}; RA reads f32 and f16 outputs"
                )))
            }
        };
        let dims: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
        Ok(Tensor::from_vec(data, dims, &Device::Cpu)?)
    }
}

/// An ONNX failure inside a candle-typed call (the [`crate::parts`] traits): the message
/// is kept whole.
pub(crate) fn as_candle(e: EngineError) -> candle_core::Error {
    match e {
        EngineError::Candle(c) => c,
        other => candle_core::Error::Msg(other.to_string()),
    }
}
