//! The odqa reader: a BERT/RoBERTa encoder with a linear or CNN span head, in burn.
//!
//! - [`config`]: the Hugging Face `config.json` plus the head settings.
//! - [`weights`]: safetensors checkpoints by Hugging Face tensor name (f32/f16/bf16); the
//!   tensors a `config.json` needs are checked against the header before anything is allocated.
//! - [`encoder`], [`head`], [`model`]: the network, its loading/saving and the QA loss.
//! - [`params`]: loading, saving and the expected-tensor list, as visitors of each module's one
//!   parameter description ([`weights::ParamVisitor`]).
//! - [`features`]: run_qa-exact windows (384/128), offsets, labels.
//! - [`decode`]: utils_qa-exact n-best span decoding.
//! - [`read`]: batched reading comprehension over SQuAD-format examples.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod config;
pub mod decode;
pub mod encoder;
mod error;
mod expected;
pub mod features;
pub mod fused;
pub mod gpu;
pub mod head;
pub mod model;
pub mod params;
pub mod read;
pub mod weights;
pub mod window;

pub use config::{HeadKind, ReaderConfig};
pub use error::{ReaderError, Result};
pub use fused::ReaderBackend;
pub use model::{LoadedModel, QaModel};

/// The default CPU backend (burn's `flex`, with rayon and SIMD).
#[cfg(not(feature = "cuda"))]
pub type DefaultBackend = burn::backend::Flex;
/// The CUDA backend (`--features cuda`).
#[cfg(feature = "cuda")]
pub type DefaultBackend = burn::backend::Cuda;
