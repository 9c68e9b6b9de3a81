//! Writing checkpoints: the tensors a model saves ([`CheckpointWriter`]), and any checkpoint's
//! tensors copied to a safetensors file as stored ([`convert_to_safetensors`]).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use burn::prelude::*;
use half::{bf16, f16};
use safetensors::tensor::TensorView;

use super::{Checkpoint, CheckpointFormat, StoredType};
use crate::error::{ReaderError, Result};

/// Tensors collected for saving, by checkpoint name.
#[derive(Default)]
pub struct CheckpointWriter {
    tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl CheckpointWriter {
    /// Adds a tensor under `name`.
    pub fn add<B: Backend, const D: usize>(
        &mut self,
        name: impl Into<String>,
        tensor: Tensor<B, D>,
    ) {
        let shape = tensor.dims().to_vec();
        let data = tensor
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .unwrap_or_default();
        self.tensors.insert(name.into(), (shape, data));
    }

    /// Adds a burn Linear weight `[in, out]` as PyTorch's `[out, in]`.
    pub fn add_linear_weight<B: Backend>(&mut self, name: impl Into<String>, weight: Tensor<B, 2>) {
        self.add(name, weight.transpose());
    }

    /// Names added so far.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Writes a safetensors file with every tensor stored as `ty` (metadata `format: pt`, as
    /// transformers writes it).
    pub fn write(&self, path: &Path, ty: StoredType) -> Result<()> {
        let encoded: Vec<(&String, &Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(name, (shape, data))| {
                let bytes = match ty {
                    StoredType::F32 => data.iter().flat_map(|x| x.to_le_bytes()).collect(),
                    StoredType::F16 => data
                        .iter()
                        .flat_map(|x| f16::from_f32(*x).to_le_bytes())
                        .collect(),
                    StoredType::Bf16 => data
                        .iter()
                        .flat_map(|x| bf16::from_f32(*x).to_le_bytes())
                        .collect(),
                };
                (name, shape, bytes)
            })
            .collect();
        let mut views = Vec::with_capacity(encoded.len());
        for (name, shape, bytes) in &encoded {
            let view = TensorView::new(ty.dtype(), shape.to_vec(), bytes)
                .map_err(|e| ReaderError::bad_model(path, format!("tensor {name}: {e}")))?;
            views.push((name.as_str(), view));
        }
        let bytes = safetensors::serialize(views, pt_metadata())
            .map_err(|e| ReaderError::bad_model(path, e.to_string()))?;
        std::fs::write(path, bytes).map_err(|e| ReaderError::io(path, e))
    }
}

/// The metadata transformers writes in a safetensors file (`format: pt`).
fn pt_metadata() -> Option<HashMap<String, String>> {
    Some(HashMap::from([("format".to_string(), "pt".to_string())]))
}

/// What [`convert_to_safetensors`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertSummary {
    /// The format of the file read.
    pub source_format: CheckpointFormat,
    /// Floating-point tensors written.
    pub tensors: usize,
    /// Bytes of tensor data written (the file adds its header).
    pub data_bytes: u64,
    /// Integer buffers not written (`*position_ids`, which odqa never loads).
    pub skipped: Vec<String>,
}

/// Writes every floating-point tensor of the checkpoint `src` (either format
/// [`Checkpoint::open`] reads) to a new safetensors file `dst`: the same names, shapes and stored
/// types, the values bit for bit (views made contiguous), metadata `format: pt`. Refuses when
/// `dst` exists. The file is written beside `dst` under a temporary name and renamed into place,
/// so `dst` is never a partial file. Values are copied, not checked: a NaN weight is refused when
/// the converted file is loaded, as it would be from `src`.
pub fn convert_to_safetensors(src: &Path, dst: &Path) -> Result<ConvertSummary> {
    if dst.symlink_metadata().is_ok() {
        return Err(ReaderError::bad_model(
            dst,
            "already exists (odqa does not overwrite a checkpoint; remove it or choose another name)",
        ));
    }
    let checkpoint = Checkpoint::open(src)?;
    let tensors = checkpoint.raw_tensors()?;
    let mut views = Vec::with_capacity(tensors.len());
    for t in &tensors {
        let view = TensorView::new(t.ty.dtype(), t.shape.to_vec(), &t.bytes)
            .map_err(|e| ReaderError::bad_model(src, format!("tensor {}: {e}", t.name)))?;
        views.push((t.name, view));
    }
    let tmp = temporary_beside(dst)?;
    let written = safetensors::serialize_to_file(views, pt_metadata(), &tmp)
        .map_err(|e| ReaderError::bad_model(&tmp, e.to_string()))
        .and_then(|()| odqa_core::fsio::rename_new(&tmp, dst).map_err(|e| ReaderError::io(dst, e)));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(ConvertSummary {
        source_format: checkpoint.format(),
        tensors: tensors.len(),
        data_bytes: tensors.iter().map(|t| t.bytes.len() as u64).sum(),
        skipped: checkpoint.skipped().to_vec(),
    })
}

/// A name for a temporary file in `dst`'s directory, free when chosen.
fn temporary_beside(dst: &Path) -> Result<PathBuf> {
    let name = dst
        .file_name()
        .ok_or_else(|| ReaderError::bad_model(dst, "not a file name"))?
        .to_string_lossy();
    let dir = odqa_core::fsio::parent_dir(dst);
    (0..1000)
        .map(|i| dir.join(format!(".{name}.{}.{i}.tmp", std::process::id())))
        .find(|p| p.symlink_metadata().is_err())
        .ok_or_else(|| ReaderError::bad_model(dst, "no free temporary name beside it"))
}
