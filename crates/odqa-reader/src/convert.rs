//! `odqa model convert`: a model directory rewritten with safetensors weights (from PyTorch's
//! `pytorch_model.bin`), so that tools reading safetensors only, and later loads, skip the
//! pickle.

use std::path::{Path, PathBuf};

use crate::error::{ReaderError, Result};
use crate::model_files::{weights_file, TokenizerFiles, SAFETENSORS_WEIGHTS, TOKENIZER_JSON};
use crate::weights::convert_to_safetensors;

/// What [`convert_model_dir`] wrote.
#[derive(Debug, Clone)]
pub struct Converted {
    /// The weights file read.
    pub weights: PathBuf,
    /// Tensors written to `model.safetensors`.
    pub tensors: usize,
    /// Whether a `tokenizer.json` was written (built from `vocab.txt`).
    pub tokenizer_json: bool,
}

/// Writes `src` (a model directory: `config.json`, weights in either format, tokenizer files) as
/// a new directory `out` with `model.safetensors` (the same tensors, names and stored types),
/// `config.json`, every tokenizer file and, for a `vocab.txt`-only tokenizer, the
/// `tokenizer.json` it is read as. `out` is assembled in a hidden sibling directory and renamed
/// into place: a failure leaves nothing at `out`. `out` must not exist yet.
pub fn convert_model_dir(src: &Path, out: &Path) -> Result<Converted> {
    if out.exists() {
        return Err(ReaderError::BadInput(format!(
            "{} already exists: converting writes a new model directory",
            out.display()
        )));
    }
    let weights = weights_file(src);
    let tokenizer = TokenizerFiles::in_dir(src);
    let name = out
        .file_name()
        .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
    let tmp =
        odqa_core::fsio::parent_dir(out).join(format!(".{name}.converting-{}", std::process::id()));
    let written = write_converted(src, &weights, &tokenizer, &tmp).and_then(|c| {
        odqa_core::fsio::rename_new(&tmp, out)
            .map(|()| c)
            .map_err(|e| ReaderError::io(out, e))
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written
}

/// The converted directory's files in `dir`.
fn write_converted(
    src: &Path,
    weights: &Path,
    tokenizer: &TokenizerFiles,
    dir: &Path,
) -> Result<Converted> {
    std::fs::create_dir_all(dir).map_err(|e| ReaderError::io(dir, e))?;
    let config = src.join("config.json");
    // Checked as a model configuration before anything is written.
    crate::config::ReaderConfig::read(&config)?;
    let summary = convert_to_safetensors(weights, &dir.join(SAFETENSORS_WEIGHTS))?;
    odqa_core::fsio::copy_atomic(&config, &dir.join("config.json"))?;
    tokenizer.copy_into(dir)?;
    let tokenizer_json = !src.join(TOKENIZER_JSON).is_file();
    if tokenizer_json {
        let built = tokenizer.load()?;
        let json = built
            .to_string(true)
            .map_err(|e| ReaderError::BadTokenizer {
                path: tokenizer.main_file(),
                message: format!("cannot write it as tokenizer.json: {e}"),
            })?;
        let path = dir.join(TOKENIZER_JSON);
        std::fs::write(&path, json).map_err(|e| ReaderError::io(&path, e))?;
    }
    Ok(Converted {
        weights: weights.to_path_buf(),
        tensors: summary.tensors,
        tokenizer_json,
    })
}
