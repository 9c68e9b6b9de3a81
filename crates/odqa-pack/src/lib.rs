//! Exact, compact packing of safetensors checkpoints, for moving odqa models between machines
//! (a GPU box that receives at most a few tens of MiB, a trained model sent back in parts).
//!
//! [`pack`] writes a file that [`unpack`] turns back into the **same bytes**: the restored file's
//! sha256 is checked against the one recorded at packing time, so a restored checkpoint is the
//! original bit for bit or an error. Inside, each tensor is stored the cheapest exact way
//! ([`segments::Encoding`]): float16 tensors dequantised from 4-bit Q4_0 weights as their scales and
//! codes ([`q4`]), tensors equal to a base checkpoint's (e.g. the encoder a model was fine-tuned
//! from, with frozen word embeddings) as a reference to it, everything else as it is; then the
//! whole body is zstd-compressed.
//!
//! ```no_run
//! # fn main() -> Result<(), odqa_pack::PackError> {
//! use std::path::Path;
//! let packed = odqa_pack::pack(Path::new("model.safetensors"), None, Path::new("model.odqapack"), 9)?;
//! println!("{} → {} bytes", packed.original_bytes, packed.packed_bytes);
//! odqa_pack::unpack(Path::new("model.odqapack"), None, Path::new("restored.safetensors"))?;
//! # Ok(()) }
//! ```
//!
//! Layout of a packed file: `ODQAPACK`, a u32 format version, a u64 manifest length, the manifest
//! (JSON: size and sha256 of the original, of the base if any, and the [`segments::Segment`]s),
//! then one zstd frame holding the original header bytes followed by each segment's payload.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod q4;
pub mod segments;

mod error;
mod file;
mod packer;

pub use error::PackError;
pub use file::{pack, sha256_hex, unpack, PackSummary, UnpackSummary};
