//! The odqa reader: a BERT/RoBERTa/ELECTRA encoder with a linear or CNN span head, in burn.
//!
//! - [`config`]: the Hugging Face `config.json` plus the head settings.
//! - [`weights`]: safetensors checkpoints by Hugging Face tensor name (f32/f16/bf16); the
//!   tensors a `config.json` needs are checked against the header before anything is allocated.
//! - [`encoder`], [`head`], [`model`]: the network, its loading/saving and the QA loss.
//! - [`params`]: loading, saving and the expected-tensor list, as visitors of each module's one
//!   parameter description ([`weights::ParamVisitor`]).
//! - [`model_files`]: which weights and tokenizer files of a model directory are read
//!   (`model.safetensors` or `pytorch_model.bin`; `tokenizer.json` or [`vocab`]'s `vocab.txt`).
//! - [`features`]: run_qa-exact windows (384/128), offsets, labels.
//! - [`decode`]: utils_qa-exact n-best span decoding.
//! - [`read`]: batched reading comprehension over SQuAD-format examples.
//! - [`embed`]: sentence embeddings (mean pooling, as multilingual-e5) for dense retrieval.
//! - [`lora`]: LoRA adapters in Hugging Face PEFT's format (training, loading, merging).

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod config;
pub mod convert;
pub mod decode;
pub mod embed;
pub mod encoder;
mod error;
mod expected;
pub mod features;
pub mod fused;
#[cfg(feature = "cuda")]
pub mod gpu;
pub mod head;
pub mod lora;
pub mod model;
pub mod model_files;
pub mod params;
pub mod precision;
pub mod read;
pub mod vocab;
pub mod weights;
pub mod window;

pub use config::{HeadKind, ReaderConfig};
pub use embed::Embedder;
pub use error::{ReaderError, Result};
pub use fused::ReaderBackend;
pub use lora::{LoraSpec, ModelSource};
pub use model::{LoadedModel, QaModel};
pub use model_files::TokenizerFiles;

/// The CPU backend (burn's `flex`, with rayon and SIMD, and odqa's fused kernels), in every build.
pub type CpuBackend = burn::backend::Flex;
/// The CUDA backend, in builds with `--features cuda` (beside [`CpuBackend`], not instead of it).
#[cfg(feature = "cuda")]
pub type CudaBackend = burn::backend::Cuda;
/// The backend the binary reads with: [`CudaBackend`] in a `cuda` build, [`CpuBackend`] otherwise.
#[cfg(not(feature = "cuda"))]
pub type DefaultBackend = CpuBackend;
/// The backend the binary reads with: [`CudaBackend`] in a `cuda` build, [`CpuBackend`] otherwise.
#[cfg(feature = "cuda")]
pub type DefaultBackend = CudaBackend;
