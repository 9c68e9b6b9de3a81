//! Reading and writing checkpoints by Hugging Face tensor name: safetensors files, and PyTorch's
//! `pytorch_model.bin` ([`pytorch`]) read into the same index, so every loader takes either.
//!
//! Each module describes its parameters once, by the names they have in the checkpoint
//! (`embeddings.LayerNorm`, `encoder.layer.3.attention.self.query`, `qa_outputs`, …) and the
//! shapes the config gives them, to a [`ParamVisitor`]; loading, saving and the list of tensors a
//! config expects are visitors of that one description ([`crate::params`]). The only renames, all
//! here (the provided methods of [`ParamVisitor`]):
//!
//! | checkpoint | odqa |
//! |---|---|
//! | `bert.` / `roberta.` / `electra.` prefix, or none (encoder-only checkpoints) | the encoder |
//! | `*.weight` of a Linear, `[out, in]` (PyTorch) | burn's `[in, out]` (transposed on load and save) |
//! | LayerNorm `weight` / `bias` | burn's `gamma` / `beta` |
//! | Embedding and Conv1d `weight` / `bias` | the same names and layout |
//!
//! | file ([`Checkpoint::open`] tells them by their first bytes) | read |
//! |---|---|
//! | safetensors (`model.safetensors`) | header validated, tensors mapped |
//! | PyTorch zip (`torch.save`, torch ≥ 1.6; `pytorch_model.bin`) | [`pytorch`]: the pickle parsed as data (nothing run), classes allow-listed, storages mapped, views gathered by their strides |
//! | PyTorch's legacy format (torch < 1.6) | refused, naming `odqa model convert` and re-saving |
//!
//! Tensors are converted to f32 on load whatever their stored type (f32, f16, bf16) and written back
//! in the checkpoint's type, so load → save is bit-exact. The file is memory-mapped and each tensor
//! decoded only when the model takes it, so loading holds the mapping and the model's f32 tensors
//! but never a second decoded copy of the whole checkpoint. Integer buffers named `*position_ids`
//! are skipped (buffers, not parameters); any other non-float tensor is refused, naming it.
//! [`convert_to_safetensors`] writes any checkpoint's tensors, bit for bit, to a safetensors file.
//!
//! A tensor holding a NaN or an infinity is refused when it is decoded
//! ([`ReaderError::NonFiniteWeight`], naming it): every
//! answer read with it would be NaN.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::TensorData;
use half::{bf16, f16};
use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};

use crate::error::{ReaderError, Result};

mod pickle;
pub mod pytorch;
mod view;
mod visitor;
mod write;

pub use visitor::ParamVisitor;
pub use write::{convert_to_safetensors, CheckpointWriter, ConvertSummary};

/// The prefixes of an encoder's tensors in a task model's checkpoint (the first one present wins),
/// for both formats.
pub const ENCODER_PREFIXES: [&str; 3] = ["bert.", "roberta.", "electra."];

/// Storage type of a checkpoint's floating-point tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredType {
    /// 32-bit float.
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    Bf16,
}

impl StoredType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            StoredType::F32 => 4,
            StoredType::F16 | StoredType::Bf16 => 2,
        }
    }

    /// The safetensors type.
    pub(crate) fn dtype(self) -> Dtype {
        match self {
            StoredType::F32 => Dtype::F32,
            StoredType::F16 => Dtype::F16,
            StoredType::Bf16 => Dtype::BF16,
        }
    }
}

/// The format of a checkpoint file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointFormat {
    /// safetensors.
    Safetensors,
    /// PyTorch's zip format (`torch.save`).
    Pytorch,
}

/// Where one floating-point tensor lies in the mapped file.
struct Stored {
    ty: StoredType,
    shape: Vec<usize>,
    /// The bytes its elements are read from: exactly the tensor's, row-major (`view` is `None`), or
    /// the whole storage of a view.
    bytes: Range<usize>,
    view: Option<view::View>,
}

/// The tensors of a checkpoint file as its format reader found them.
#[derive(Default)]
struct Index {
    /// Floating-point tensors in file order (the first one gives [`Checkpoint::stored_type`]).
    tensors: Vec<(String, Stored)>,
    /// Integer buffers skipped (`*position_ids`).
    skipped: Vec<String>,
}

/// A checkpoint opened for loading: the file mapped, every floating-point tensor indexed by name
/// and decoded to f32 when it is taken (moved out), at most once.
pub struct Checkpoint {
    path: PathBuf,
    map: Mmap,
    format: CheckpointFormat,
    tensors: HashMap<String, Stored>,
    skipped: Vec<String>,
    /// One of [`ENCODER_PREFIXES`] or empty: the prefix of the encoder's tensors.
    pub encoder_prefix: String,
    /// The stored type (of the first floating-point tensor; odqa writes one type per file).
    pub stored_type: StoredType,
}

/// A tensor's elements as stored, row-major (for [`convert_to_safetensors`]).
struct RawTensor<'a> {
    name: &'a str,
    ty: StoredType,
    shape: &'a [usize],
    bytes: Cow<'a, [u8]>,
}

/// Maps `path` read-only.
fn map_file(path: &Path) -> Result<Mmap> {
    let file = File::open(path).map_err(|e| ReaderError::io(path, e))?;
    // SAFETY: the mapping is read-only and lives as long as the `Checkpoint`; every read of it is
    // bounds-checked against the validated header. If another process truncates or rewrites the
    // file while it is mapped, reads may fault or see the new bytes: checkpoints are not written in
    // place while a model loads (odqa itself writes a new file and renames it).
    #[allow(unsafe_code)]
    let map = unsafe { Mmap::map(&file) };
    map.map_err(|e| ReaderError::io(path, e))
}

/// `raw` (little-endian values of type `ty`) as f32.
fn decode(raw: &[u8], ty: StoredType) -> Vec<f32> {
    match ty {
        StoredType::F32 => raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        StoredType::F16 => raw
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        StoredType::Bf16 => raw
            .chunks_exact(2)
            .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
    }
}

/// The floating-point tensors of a safetensors file, after validating its header.
fn index_safetensors(path: &Path, map: &[u8]) -> Result<Index> {
    let (header_len, metadata) = SafeTensors::read_metadata(map).map_err(|e| {
        ReaderError::bad_model(
            path,
            format!("not a safetensors file ({e}), nor a PyTorch checkpoint"),
        )
    })?;
    let data_start = 8 + header_len;
    let mut index = Index::default();
    let mut infos: Vec<_> = metadata.tensors().into_iter().collect();
    infos.sort_by_key(|(_, info)| info.data_offsets);
    for (name, info) in infos {
        let ty = match info.dtype {
            Dtype::F32 => StoredType::F32,
            Dtype::F16 => StoredType::F16,
            Dtype::BF16 => StoredType::Bf16,
            // Integer buffers (e.g. `position_ids` of old checkpoints) are not parameters.
            _ if name.ends_with("position_ids") => {
                index.skipped.push(name);
                continue;
            }
            other => {
                return Err(ReaderError::bad_model(
                    path,
                    format!("tensor {name}: unsupported type {other:?}"),
                ))
            }
        };
        let (start, end) = info.data_offsets;
        let stored = Stored {
            ty,
            shape: info.shape.clone(),
            bytes: data_start + start..data_start + end,
            view: None,
        };
        index.tensors.push((name, stored));
    }
    Ok(index)
}

impl Checkpoint {
    /// Opens a checkpoint, safetensors or PyTorch's zip format (told apart by the file's first
    /// bytes, whatever its name): maps it and reads (and validates) its index of tensors.
    pub fn open(path: &Path) -> Result<Checkpoint> {
        let map = map_file(path)?;
        let (format, index) = if pytorch::is_zip(&map) {
            (CheckpointFormat::Pytorch, pytorch::index(path, &map)?)
        } else if pytorch::is_legacy(&map) {
            return Err(pytorch::legacy_error(path));
        } else {
            (
                CheckpointFormat::Safetensors,
                index_safetensors(path, &map)?,
            )
        };
        let stored_type = index.tensors.first().map_or(StoredType::F32, |(_, s)| s.ty);
        let tensors: HashMap<String, Stored> = index.tensors.into_iter().collect();
        let encoder_prefix = ENCODER_PREFIXES
            .into_iter()
            .find(|p| tensors.keys().any(|k| k.starts_with(p)))
            .unwrap_or("")
            .to_string();
        Ok(Checkpoint {
            path: path.to_path_buf(),
            map,
            format,
            tensors,
            skipped: index.skipped,
            encoder_prefix,
            stored_type,
        })
    }

    /// The file's format.
    pub fn format(&self) -> CheckpointFormat {
        self.format
    }

    /// Integer buffers the checkpoint holds that are not loaded (`*position_ids`), in file order.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// `stored`'s elements as stored, row-major: borrowed from the mapping unless a view's are
    /// gathered by its strides.
    fn raw<'a>(&'a self, name: &str, stored: &Stored) -> Result<Cow<'a, [u8]>> {
        let outside =
            || ReaderError::bad_model(&self.path, format!("tensor {name}: data outside the file"));
        let bytes = self.map.get(stored.bytes.clone()).ok_or_else(outside)?;
        match &stored.view {
            None => Ok(Cow::Borrowed(bytes)),
            Some(view) => view
                .gather(bytes, stored.ty.size(), &stored.shape)
                .map(Cow::Owned)
                .ok_or_else(outside),
        }
    }

    /// Every tensor not taken yet, as stored, sorted by name.
    fn raw_tensors(&self) -> Result<Vec<RawTensor<'_>>> {
        let mut names: Vec<&String> = self.tensors.keys().collect();
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let stored = &self.tensors[name];
                Ok(RawTensor {
                    name,
                    ty: stored.ty,
                    shape: &stored.shape,
                    bytes: self.raw(name, stored)?,
                })
            })
            .collect()
    }

    /// The checkpoint file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Shape of `name`, if present.
    pub fn shape_of(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|s| s.shape.as_slice())
    }

    /// True when some tensor's name starts with `prefix`.
    pub fn holds_prefix(&self, prefix: &str) -> bool {
        self.tensors.keys().any(|k| k.starts_with(prefix))
    }

    /// Checks that tensor `name` is there (not taken yet) with `shape`, from the header alone.
    pub fn expect(&self, name: &str, shape: &[usize]) -> Result<()> {
        self.stored(name, shape).map(|_| ())
    }

    /// Where tensor `name` lies, after checking its shape.
    fn stored(&self, name: &str, shape: &[usize]) -> Result<&Stored> {
        let stored = self.tensors.get(name).ok_or_else(|| {
            ReaderError::bad_model(
                &self.path,
                format!("missing tensor {name} (expected shape {shape:?})"),
            )
        })?;
        if stored.shape != shape {
            return Err(ReaderError::bad_model(
                &self.path,
                format!(
                    "tensor {name} has shape {:?}, the model expects {shape:?}",
                    stored.shape
                ),
            ));
        }
        Ok(stored)
    }

    /// Moves tensor `name` out of the checkpoint after checking its shape; a NaN or infinite
    /// element is an error naming the tensor (one pass over values just decoded).
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let stored = self.stored(name, shape)?;
        let data = decode(&self.raw(name, stored)?, stored.ty);
        if let Some(index) = data.iter().position(|x| !x.is_finite()) {
            return Err(ReaderError::NonFiniteWeight {
                path: self.path.clone(),
                tensor: name.to_string(),
                index,
                value: data[index],
            });
        }
        self.tensors.remove(name);
        Ok(data)
    }

    /// Takes tensor `name`, which must have `shape`.
    pub fn tensor<B: Backend, const D: usize>(
        &mut self,
        name: &str,
        shape: [usize; D],
        device: &B::Device,
    ) -> Result<Tensor<B, D>> {
        let data = self.take(name, &shape)?;
        Ok(Tensor::from_data(TensorData::new(data, shape), device))
    }

    /// Takes tensor `name` as a parameter.
    pub fn param<B: Backend, const D: usize>(
        &mut self,
        name: &str,
        shape: [usize; D],
        device: &B::Device,
    ) -> Result<Param<Tensor<B, D>>> {
        Ok(Param::from_tensor(self.tensor(name, shape, device)?))
    }

    /// Takes a PyTorch Linear weight `[out, in]` as burn's `[in, out]`, transposed in memory (a
    /// transposed view would be copied again on every forward pass).
    pub fn linear_weight<B: Backend>(
        &mut self,
        name: &str,
        d_in: usize,
        d_out: usize,
        device: &B::Device,
    ) -> Result<Param<Tensor<B, 2>>> {
        let data = self.take(name, &[d_out, d_in])?;
        let mut transposed = vec![0f32; data.len()];
        for o in 0..d_out {
            for i in 0..d_in {
                transposed[i * d_out + o] = data[o * d_in + i];
            }
        }
        Ok(Param::from_tensor(Tensor::from_data(
            TensorData::new(transposed, [d_in, d_out]),
            device,
        )))
    }

    /// Tensors never taken, sorted.
    pub fn unused(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tensors.keys().cloned().collect();
        names.sort();
        names
    }
}
