//! model.safetensors, laid out as the `safetensors` crate (and the Python package, its binding)
//! lays it out: tensors sorted by name (all float16), the header JSON compact and padded with
//! spaces to a multiple of 8 bytes, `__metadata__` first.
//!
//! The header is written here rather than by `safetensors::serialize` because that takes the
//! metadata as a `HashMap`, whose order changes from run to run; here it is the order given, so
//! the file is the same bytes every time.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::tensors::Tensor;
use crate::ImportError;

/// Size and sha256 of a written checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Bytes in the file.
    pub bytes: u64,
    /// sha256 of the file, lowercase hex.
    pub sha256: String,
}

/// The header bytes (without the length prefix) for `tensors`, already sorted by name.
pub fn header(tensors: &[Tensor], metadata: &[(&str, &str)]) -> Vec<u8> {
    let string = |s: &str| serde_json::Value::from(s).to_string();
    let mut out = String::from("{");
    if !metadata.is_empty() {
        let entries: Vec<String> = metadata
            .iter()
            .map(|(k, v)| format!("{}:{}", string(k), string(v)))
            .collect();
        out.push_str(&format!("\"__metadata__\":{{{}}}", entries.join(",")));
    }
    let mut offset = 0;
    for t in tensors {
        if out.len() > 1 {
            out.push(',');
        }
        let shape: Vec<String> = t.shape.iter().map(usize::to_string).collect();
        let end = offset + t.data.len();
        out.push_str(&format!(
            "{}:{{\"dtype\":\"F16\",\"shape\":[{}],\"data_offsets\":[{offset},{end}]}}",
            string(&t.name),
            shape.join(",")
        ));
        offset = end;
    }
    out.push('}');
    let mut bytes = out.into_bytes();
    bytes.resize(bytes.len().next_multiple_of(8), b' ');
    bytes
}

/// Sorts `tensors` by name and writes them to `path` (synced); returns its size and sha256.
pub fn write(
    path: &Path,
    tensors: &mut [Tensor],
    metadata: &[(&str, &str)],
) -> Result<Written, ImportError> {
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    let header = header(tensors, metadata);
    let fail = |e| ImportError::write(path, e);
    let file = std::fs::File::create(path).map_err(fail)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut hash = Sha256::new();
    let mut bytes = 0u64;
    let prefix = (header.len() as u64).to_le_bytes();
    let parts = [&prefix[..], &header[..]]
        .into_iter()
        .chain(tensors.iter().map(|t| &t.data[..]));
    for part in parts {
        out.write_all(part).map_err(fail)?;
        hash.update(part);
        bytes += part.len() as u64;
    }
    let file = out.into_inner().map_err(|e| fail(e.into_error()))?;
    file.sync_all().map_err(fail)?;
    Ok(Written {
        bytes,
        sha256: hex::encode(hash.finalize()),
    })
}
