//! Checksums of the files of an index, recorded in `odqa-index.json`.
//!
//! tantivy ends each segment file with a CRC32 footer, but its `meta.json` and `.managed.json`,
//! odqa's `aliases.jsonl` and `odqa-index.json` carry none. At the end of a build odqa records the
//! length and xxh3-64 of every file of the index in `odqa-index.json` (`files`), and seals
//! `odqa-index.json` itself with the xxh3-64 of its text before that seal (its last field,
//! `checksum`). Indexes built before (same format 3) have neither and are checked as far as they
//! can be.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3;

use crate::error::{Result, RetrieverError};
use crate::layout::META_FILE;

/// The length and xxh3-64 hash of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSum {
    /// Length in bytes.
    pub bytes: u64,
    /// xxh3-64 of the content, 16 hexadecimal digits.
    pub xxh3: String,
}

/// The files of an index with their checksums, by file name.
pub type FileSums = BTreeMap<String, FileSum>;

/// The files small enough to check each time an index is opened: those read whole at opening.
pub(crate) const READ_AT_OPEN: [&str; 3] =
    ["meta.json", ".managed.json", crate::layout::ALIASES_FILE];

/// Marks the `checksum` field that ends a sealed `odqa-index.json`.
const SEAL: &str = ",\n  \"checksum\": \"xxh3:";

/// The length and xxh3-64 of the file at `path`, read in 1 MiB blocks.
pub(crate) fn sum_file(path: &Path) -> Result<FileSum> {
    let mut file = std::fs::File::open(path).map_err(|e| RetrieverError::io(path, e))?;
    let mut hasher = Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| RetrieverError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok(FileSum {
        bytes,
        xxh3: format!("{:016x}", hasher.digest()),
    })
}

/// The checksums of every file of the index being built in `dir` (not `odqa-index.json`, which
/// will hold them, nor tantivy's empty lock files).
pub(crate) fn record(dir: &Path) -> Result<FileSums> {
    let mut sums = FileSums::new();
    for entry in std::fs::read_dir(dir).map_err(|e| RetrieverError::io(dir, e))? {
        let entry = entry.map_err(|e| RetrieverError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if is_file && name != META_FILE && !name.ends_with(".lock") {
            sums.insert(name, sum_file(&entry.path())?);
        }
    }
    Ok(sums)
}

/// Checks the file `name` of `dir` against its recorded checksum; its size when it matches.
pub(crate) fn check_file(dir: &Path, name: &str, recorded: &FileSum) -> Result<u64> {
    let path = dir.join(name);
    let corrupt = |message: String| RetrieverError::Corrupt {
        path: path.clone(),
        message,
    };
    let found = match sum_file(&path) {
        Ok(found) => found,
        Err(RetrieverError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Err(corrupt("missing".into()))
        }
        Err(e) => return Err(e),
    };
    check_sum(&path, &found, recorded, META_FILE)?;
    Ok(found.bytes)
}

/// The length and xxh3-64 of `bytes` (what [`sum_file`] gives for a file holding them).
pub(crate) fn sum_bytes(bytes: &[u8]) -> FileSum {
    FileSum {
        bytes: bytes.len() as u64,
        xxh3: format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes)),
    }
}

/// A [`RetrieverError::Corrupt`] naming `path` unless `found` is what the file `record` (e.g.
/// `odqa-index.json`) records for it.
pub(crate) fn check_sum(
    path: &Path,
    found: &FileSum,
    recorded: &FileSum,
    record: &str,
) -> Result<()> {
    let corrupt = |message: String| RetrieverError::Corrupt {
        path: path.to_path_buf(),
        message,
    };
    if found.bytes != recorded.bytes {
        return Err(corrupt(format!(
            "{} bytes, but {record} records {}",
            found.bytes, recorded.bytes
        )));
    }
    if found.xxh3 != recorded.xxh3 {
        return Err(corrupt(format!(
            "checksum mismatch (xxh3 {}, {record} records {})",
            found.xxh3, recorded.xxh3
        )));
    }
    Ok(())
}

/// `body` (pretty-printed JSON of an object, ending with `}`) with a last field `checksum`
/// holding the xxh3-64 of `body`.
pub(crate) fn seal(body: &[u8]) -> Vec<u8> {
    let sum = xxhash_rust::xxh3::xxh3_64(body);
    let open = body.strip_suffix(b"\n}").unwrap_or(body);
    let mut sealed = open.to_vec();
    sealed.extend_from_slice(format!("{SEAL}{sum:016x}\"\n}}\n").as_bytes());
    sealed
}

/// Checks the seal of `odqa-index.json` (read from `path`): `Ok(false)` when it has none.
pub(crate) fn check_seal(path: &Path, bytes: &[u8]) -> Result<bool> {
    let Some(at) = find_last(bytes, SEAL.as_bytes()) else {
        return Ok(false);
    };
    let rest = &bytes[at + SEAL.len()..];
    let recorded = rest.get(..16).and_then(|h| std::str::from_utf8(h).ok());
    let mut body = bytes[..at].to_vec();
    body.extend_from_slice(b"\n}");
    let found = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&body));
    let tail_ok = rest
        .get(16..)
        .is_some_and(|t| t.trim_ascii() == b"\"\n}".trim_ascii());
    if recorded == Some(found.as_str()) && tail_ok {
        return Ok(true);
    }
    Err(RetrieverError::Corrupt {
        path: path.to_path_buf(),
        message: format!(
            "checksum mismatch (xxh3 {found}, the file records {}): it changed after the index was built",
            recorded.unwrap_or("an unreadable value")
        ),
    })
}

fn find_last(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_body_checks_and_any_changed_byte_fails() {
        let body = b"{\n  \"format\": 3,\n  \"k1\": 0.45\n}";
        let sealed = seal(body);
        let text = String::from_utf8(sealed.clone()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["format"], 3, "{text}");
        assert!(value["checksum"].as_str().unwrap().starts_with("xxh3:"));
        let path = Path::new("odqa-index.json");
        assert!(check_seal(path, &sealed).unwrap());
        assert!(
            !check_seal(path, body).unwrap(),
            "an unsealed file is accepted"
        );
        let digit = text.find("0.45").unwrap() + 3;
        let mut changed = sealed.clone();
        changed[digit] = b'6';
        let err = check_seal(path, &changed).unwrap_err().to_string();
        assert!(
            err.contains("odqa-index.json") && err.contains("checksum"),
            "{err}"
        );
        let mut changed = sealed;
        let last_digit = changed.len() - 5;
        changed[last_digit] ^= 1;
        assert!(check_seal(path, &changed).is_err());
    }
}
