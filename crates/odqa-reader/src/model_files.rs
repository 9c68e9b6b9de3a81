//! What a model directory holds besides `config.json`: the weights (`model.safetensors`, else
//! PyTorch's `pytorch_model.bin`) and the tokenizer (`tokenizer.json`, else a WordPiece
//! `vocab.txt` with `tokenizer_config.json` and `special_tokens_map.json`). Every reader of a
//! model directory finds its files here, so each rule (which file wins) is written once.

use std::path::{Path, PathBuf};

use tokenizers::Tokenizer;

use crate::error::{ReaderError, Result};
use crate::vocab::{
    self, TokenizerSettings, ADDED_TOKENS, SPECIAL_TOKENS_MAP, TOKENIZER_CONFIG, VOCAB_FILE,
};

/// The safetensors checkpoint of a model directory (preferred).
pub const SAFETENSORS_WEIGHTS: &str = "model.safetensors";
/// PyTorch's pickled state dict, read when there is no safetensors checkpoint.
pub const PYTORCH_WEIGHTS: &str = "pytorch_model.bin";
/// The `tokenizers` library's file (preferred to `vocab.txt`).
pub const TOKENIZER_JSON: &str = "tokenizer.json";

/// Every tokenizer file a model directory may hold; those present travel with the model (a
/// trained or merged model gets copies).
pub const TOKENIZER_FILES: [&str; 5] = [
    TOKENIZER_JSON,
    VOCAB_FILE,
    TOKENIZER_CONFIG,
    SPECIAL_TOKENS_MAP,
    ADDED_TOKENS,
];

/// The weights file of `dir`: `model.safetensors` when present, else `pytorch_model.bin` when
/// present, else `model.safetensors` (so that the error names the file a user should add).
pub fn weights_file(dir: &Path) -> PathBuf {
    let safetensors = dir.join(SAFETENSORS_WEIGHTS);
    let pytorch = dir.join(PYTORCH_WEIGHTS);
    if !safetensors.is_file() && pytorch.is_file() {
        pytorch
    } else {
        safetensors
    }
}

/// Whether `dir` holds weights in either format.
pub fn has_weights(dir: &Path) -> bool {
    weights_file(dir).is_file()
}

/// The tokenizer of a model directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenizerFiles {
    dir: PathBuf,
}

impl TokenizerFiles {
    /// The tokenizer files of `dir` (nothing is read yet).
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        TokenizerFiles { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the directory holds a tokenizer (`tokenizer.json` or `vocab.txt`).
    pub fn is_present(&self) -> bool {
        self.dir.join(TOKENIZER_JSON).is_file() || vocab::has_vocab(&self.dir)
    }

    /// The file the tokenizer is read from: `tokenizer.json`, else `vocab.txt` when only that
    /// is there (errors name it).
    pub fn main_file(&self) -> PathBuf {
        let json = self.dir.join(TOKENIZER_JSON);
        if !json.is_file() && vocab::has_vocab(&self.dir) {
            vocab::vocab_path(&self.dir)
        } else {
            json
        }
    }

    /// The tokenizer: `tokenizer.json` as saved, or the WordPiece tokenizer transformers builds
    /// from `vocab.txt` ([`vocab::wordpiece_tokenizer`]). A file that cannot be used is
    /// [`ReaderError::BadTokenizer`] naming it.
    pub fn load(&self) -> Result<Tokenizer> {
        let main = self.main_file();
        if main.file_name().is_some_and(|n| n == VOCAB_FILE) {
            return vocab::wordpiece_tokenizer(&self.dir);
        }
        let bad = |message: String| ReaderError::BadTokenizer {
            path: main.clone(),
            message,
        };
        let bytes = std::fs::read(&main).map_err(|e| ReaderError::io(&main, e))?;
        let json = std::str::from_utf8(&bytes)
            .map_err(|e| bad(format!("not a tokenizer file (not UTF-8 text: {e})")))?;
        Tokenizer::from_bytes(json.as_bytes())
            .map_err(|e| bad(format!("cannot load tokenizer: {e}")))
    }

    /// The settings of `tokenizer_config.json` / `special_tokens_map.json`.
    pub fn settings(&self) -> Result<TokenizerSettings> {
        TokenizerSettings::read(&self.dir)
    }

    /// The tokenizer files present, in [`TOKENIZER_FILES`] order.
    pub fn present(&self) -> Vec<PathBuf> {
        TOKENIZER_FILES
            .iter()
            .map(|name| self.dir.join(name))
            .filter(|path| path.is_file())
            .collect()
    }

    /// The bytes that decide how text is tokenized: `tokenizer.json`'s alone when present (as
    /// before `vocab.txt` was read), else those of every tokenizer file present, each after its
    /// name.
    pub fn identity_bytes(&self) -> Result<Vec<u8>> {
        let json = self.dir.join(TOKENIZER_JSON);
        if json.is_file() {
            return std::fs::read(&json).map_err(|e| ReaderError::io(&json, e));
        }
        let mut bytes = Vec::new();
        for path in self.present() {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            bytes.extend_from_slice(name.as_bytes());
            bytes.push(0);
            bytes.extend(std::fs::read(&path).map_err(|e| ReaderError::io(&path, e))?);
        }
        Ok(bytes)
    }

    /// Copies every tokenizer file present into `out` ([`odqa_core::fsio::copy_atomic`]: each
    /// written whole or not at all, with a new file's mode), so that `out` tokenizes as this
    /// directory does.
    pub fn copy_into(&self, out: &Path) -> Result<()> {
        for path in self.present() {
            odqa_core::fsio::copy_atomic(&path, &out.join(path.file_name().unwrap_or_default()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safetensors_are_preferred_and_pytorch_read_without_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(
            weights_file(dir.path()),
            dir.path().join(SAFETENSORS_WEIGHTS)
        );
        std::fs::write(dir.path().join(PYTORCH_WEIGHTS), b"x").expect("bin");
        assert_eq!(weights_file(dir.path()), dir.path().join(PYTORCH_WEIGHTS));
        std::fs::write(dir.path().join(SAFETENSORS_WEIGHTS), b"x").expect("st");
        assert_eq!(
            weights_file(dir.path()),
            dir.path().join(SAFETENSORS_WEIGHTS)
        );
    }

    #[test]
    fn tokenizer_json_is_preferred_to_vocab_txt() {
        let dir = tempfile::tempdir().expect("temp dir");
        let files = TokenizerFiles::in_dir(dir.path());
        assert!(!files.is_present());
        std::fs::write(dir.path().join(VOCAB_FILE), b"[PAD]\n").expect("vocab");
        assert_eq!(files.main_file(), dir.path().join(VOCAB_FILE));
        std::fs::write(dir.path().join(TOKENIZER_JSON), b"{}").expect("json");
        assert_eq!(files.main_file(), dir.path().join(TOKENIZER_JSON));
        assert_eq!(files.present().len(), 2);
    }

    #[test]
    fn copies_carry_every_tokenizer_file() {
        let from = tempfile::tempdir().expect("temp dir");
        let to = tempfile::tempdir().expect("temp dir");
        for name in [VOCAB_FILE, TOKENIZER_CONFIG, "unrelated.txt"] {
            let path = from.path().join(name);
            std::fs::write(&path, name).expect("write");
            // A read-only source (as ../shared's files are): the copies are new files of this
            // run, with the mode a new file gets, not the source's.
            let mut mode = std::fs::metadata(&path).expect("meta").permissions();
            mode.set_readonly(true);
            std::fs::set_permissions(&path, mode).expect("chmod");
        }
        TokenizerFiles::in_dir(from.path())
            .copy_into(to.path())
            .expect("copy");
        let mut names: Vec<_> = std::fs::read_dir(to.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [TOKENIZER_CONFIG, VOCAB_FILE]);
        for name in names {
            let mode = std::fs::metadata(to.path().join(&name)).expect("meta");
            assert!(!mode.permissions().readonly(), "{name} copied read-only");
        }
    }
}
