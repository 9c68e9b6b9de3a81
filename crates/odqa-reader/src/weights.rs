//! Reading and writing safetensors checkpoints by Hugging Face tensor name.
//!
//! Each module describes its parameters once, by the names they have in the checkpoint
//! (`embeddings.LayerNorm`, `encoder.layer.3.attention.self.query`, `qa_outputs`, …) and the
//! shapes the config gives them, to a [`ParamVisitor`]; loading, saving and the list of tensors a
//! config expects are visitors of that one description ([`crate::params`]). The only renames, all
//! here (the provided methods of [`ParamVisitor`]):
//!
//! | checkpoint | odqa |
//! |---|---|
//! | `bert.` / `roberta.` prefix, or none (encoder-only checkpoints) | the encoder |
//! | `*.weight` of a Linear, `[out, in]` (PyTorch) | burn's `[in, out]` (transposed on load and save) |
//! | LayerNorm `weight` / `bias` | burn's `gamma` / `beta` |
//! | Embedding and Conv1d `weight` / `bias` | the same names and layout |
//!
//! Tensors are converted to f32 on load whatever their stored type (f32, f16, bf16) and written back
//! in the checkpoint's type, so load → save is bit-exact. The file is memory-mapped and each tensor
//! decoded only when the model takes it, so loading holds the mapping and the model's f32 tensors
//! but never a second decoded copy of the whole checkpoint.
//!
//! A tensor holding a NaN or an infinity is refused when it is decoded
//! ([`ReaderError::NonFiniteWeight`], naming it): every
//! answer read with it would be NaN.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::conv::Conv1d;
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::prelude::*;
use burn::tensor::TensorData;
use half::{bf16, f16};
use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};

use crate::error::{ReaderError, Result};
use crate::lora::LoraPair;

/// What is done with each parameter of a module, given its checkpoint name and its shape as
/// stored (PyTorch layout). Modules describe their parameters through the provided methods, which
/// hold the checkpoint's names and layouts; a visitor implements the two tensor methods.
pub trait ParamVisitor<B: Backend> {
    /// A tensor stored as burn holds it, `shape` in both.
    fn tensor<const D: usize>(
        &mut self,
        name: &str,
        param: &mut Param<Tensor<B, D>>,
        shape: [usize; D],
    ) -> Result<()>;

    /// A Linear weight stored `[out, in]` (PyTorch, `stored`) that burn holds `[in, out]`.
    fn transposed(
        &mut self,
        name: &str,
        param: &mut Param<Tensor<B, 2>>,
        stored: [usize; 2],
    ) -> Result<()>;

    /// A Linear `d_in → d_out`: `{path}.weight` `[d_out, d_in]` (transposed), `{path}.bias`.
    fn linear(
        &mut self,
        path: &str,
        linear: &mut Linear<B>,
        d_in: usize,
        d_out: usize,
    ) -> Result<()> {
        self.transposed(&format!("{path}.weight"), &mut linear.weight, [d_out, d_in])?;
        match &mut linear.bias {
            Some(bias) => self.tensor(&format!("{path}.bias"), bias, [d_out]),
            None => Ok(()),
        }
    }

    /// A LoRA update of the Linear `{path}` (`d_in → d_out`): PEFT's `{path}.lora_A.weight`
    /// `[r, d_in]` and `{path}.lora_B.weight` `[d_out, r]`, both transposed as Linear weights.
    fn lora(
        &mut self,
        path: &str,
        pair: &mut LoraPair<B>,
        d_in: usize,
        d_out: usize,
    ) -> Result<()> {
        let r = pair.rank();
        self.transposed(&format!("{path}.lora_A.weight"), &mut pair.a, [r, d_in])?;
        self.transposed(&format!("{path}.lora_B.weight"), &mut pair.b, [d_out, r])
    }

    /// A LayerNorm over `d`: `{path}.weight` is burn's `gamma`, `{path}.bias` its `beta`.
    fn layer_norm(&mut self, path: &str, norm: &mut LayerNorm<B>, d: usize) -> Result<()> {
        self.tensor(&format!("{path}.weight"), &mut norm.gamma, [d])?;
        match &mut norm.beta {
            Some(beta) => self.tensor(&format!("{path}.bias"), beta, [d]),
            None => Ok(()),
        }
    }

    /// A Conv1d whose weight is `[c_out, c_in, k]` (both layouts): `{path}.weight`, `{path}.bias`.
    fn conv1d(&mut self, path: &str, conv: &mut Conv1d<B>, weight: [usize; 3]) -> Result<()> {
        self.tensor(&format!("{path}.weight"), &mut conv.weight, weight)?;
        match &mut conv.bias {
            Some(bias) => self.tensor(&format!("{path}.bias"), bias, [weight[0]]),
            None => Ok(()),
        }
    }

    /// An Embedding of `n` rows of `d`: `{path}.weight` `[n, d]`.
    fn embedding(
        &mut self,
        path: &str,
        table: &mut Embedding<B>,
        n: usize,
        d: usize,
    ) -> Result<()> {
        self.tensor(&format!("{path}.weight"), &mut table.weight, [n, d])
    }
}

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

/// Where one floating-point tensor lies in the mapped file.
struct Stored {
    ty: StoredType,
    shape: Vec<usize>,
    bytes: Range<usize>,
}

/// A checkpoint opened for loading: the file mapped, every floating-point tensor indexed by name
/// and decoded to f32 when it is taken (moved out), at most once.
pub struct Checkpoint {
    path: PathBuf,
    map: Mmap,
    tensors: HashMap<String, Stored>,
    /// `bert.`, `roberta.` or empty: the prefix of the encoder's tensors.
    pub encoder_prefix: String,
    /// The stored type (of the first floating-point tensor; odqa writes one type per file).
    pub stored_type: StoredType,
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

impl Checkpoint {
    /// Opens `model.safetensors`: maps it and reads (and validates) its header.
    pub fn open(path: &Path) -> Result<Checkpoint> {
        let map = map_file(path)?;
        let (header_len, metadata) = SafeTensors::read_metadata(&map)
            .map_err(|e| ReaderError::bad_model(path, format!("not a safetensors file: {e}")))?;
        let data_start = 8 + header_len;
        let mut tensors = HashMap::new();
        let mut stored_type = None;
        let mut infos: Vec<_> = metadata.tensors().into_iter().collect();
        infos.sort_by_key(|(_, info)| info.data_offsets);
        for (name, info) in infos {
            let ty = match info.dtype {
                Dtype::F32 => StoredType::F32,
                Dtype::F16 => StoredType::F16,
                Dtype::BF16 => StoredType::Bf16,
                // Integer buffers (e.g. `position_ids` of old checkpoints) are not parameters.
                _ if name.ends_with("position_ids") => continue,
                other => {
                    return Err(ReaderError::bad_model(
                        path,
                        format!("tensor {name}: unsupported type {other:?}"),
                    ))
                }
            };
            stored_type.get_or_insert(ty);
            let (start, end) = info.data_offsets;
            let stored = Stored {
                ty,
                shape: info.shape.clone(),
                bytes: data_start + start..data_start + end,
            };
            tensors.insert(name, stored);
        }
        let encoder_prefix = ["bert.", "roberta."]
            .into_iter()
            .find(|p| tensors.keys().any(|k| k.starts_with(p)))
            .unwrap_or("")
            .to_string();
        Ok(Checkpoint {
            path: path.to_path_buf(),
            map,
            tensors,
            encoder_prefix,
            stored_type: stored_type.unwrap_or(StoredType::F32),
        })
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
        let raw = self.map.get(stored.bytes.clone()).ok_or_else(|| {
            ReaderError::bad_model(&self.path, format!("tensor {name}: data outside the file"))
        })?;
        let data = decode(raw, stored.ty);
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
        let encoded: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(name, (shape, data))| {
                let (dtype, bytes) = match ty {
                    StoredType::F32 => (
                        Dtype::F32,
                        data.iter().flat_map(|x| x.to_le_bytes()).collect(),
                    ),
                    StoredType::F16 => (
                        Dtype::F16,
                        data.iter()
                            .flat_map(|x| f16::from_f32(*x).to_le_bytes())
                            .collect(),
                    ),
                    StoredType::Bf16 => (
                        Dtype::BF16,
                        data.iter()
                            .flat_map(|x| bf16::from_f32(*x).to_le_bytes())
                            .collect(),
                    ),
                };
                (name.clone(), dtype, shape.clone(), bytes)
            })
            .collect();
        let mut views = Vec::with_capacity(encoded.len());
        for (name, dtype, shape, bytes) in &encoded {
            let view = safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes)
                .map_err(|e| ReaderError::bad_model(path, format!("tensor {name}: {e}")))?;
            views.push((name.as_str(), view));
        }
        let metadata = Some(HashMap::from([("format".to_string(), "pt".to_string())]));
        let bytes = safetensors::serialize(views, metadata)
            .map_err(|e| ReaderError::bad_model(path, e.to_string()))?;
        std::fs::write(path, bytes).map_err(|e| ReaderError::io(path, e))
    }
}
