//! WordPiece tokenizers built from `vocab.txt`, for model directories without `tokenizer.json`
//! (KoELECTRA, klue/roberta and many BERT uploads ship only `vocab.txt`,
//! `tokenizer_config.json` and `special_tokens_map.json`).
//!
//! The tokenizer is built as transformers 5's `BertTokenizer` (and `ElectraTokenizer`, the same
//! class) builds it from those files: a WordPiece model over the vocabulary (`##` continuation,
//! words over 100 characters unknown), `BertNormalizer(clean_text, handle_chinese_chars =
//! tokenize_chinese_chars, strip_accents, lowercase = do_lower_case)`, `BertPreTokenizer`, the
//! template `[CLS] A [SEP]` / `[CLS] A [SEP] B [SEP]` (type ids 0, then 1 for B) with the
//! vocabulary's own ids of `[CLS]` and `[SEP]`, and the special tokens added as special (never
//! split, never normalized). Absent keys take `BertTokenizer`'s defaults: `do_lower_case` true,
//! `tokenize_chinese_chars` true, `strip_accents` following `do_lower_case`, special tokens
//! `[UNK]`, `[SEP]`, `[PAD]`, `[CLS]`, `[MASK]`. A key of `special_tokens_map.json` is used where
//! `tokenizer_config.json` does not give it.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, Tokenizer};

use crate::error::{ReaderError, Result};

/// The vocabulary file of a WordPiece tokenizer.
pub const VOCAB_FILE: &str = "vocab.txt";
/// The tokenizer's settings, as transformers saves them.
pub const TOKENIZER_CONFIG: &str = "tokenizer_config.json";
/// The special tokens, as transformers saves them.
pub const SPECIAL_TOKENS_MAP: &str = "special_tokens_map.json";

/// The special tokens every WordPiece tokenizer has, with `BertTokenizer`'s defaults.
const SPECIALS: [(&str, &str); 5] = [
    ("unk_token", "[UNK]"),
    ("sep_token", "[SEP]"),
    ("pad_token", "[PAD]"),
    ("cls_token", "[CLS]"),
    ("mask_token", "[MASK]"),
];

/// Special tokens a configuration may add besides those of [`SPECIALS`].
const OPTIONAL_SPECIALS: [&str; 2] = ["bos_token", "eos_token"];

/// The settings of `tokenizer_config.json` laid over `special_tokens_map.json`, as read.
#[derive(Debug, Clone, Default)]
pub struct TokenizerSettings {
    keys: Map<String, Value>,
}

impl TokenizerSettings {
    /// Reads `tokenizer_config.json` and `special_tokens_map.json` of `dir` (each optional).
    pub fn read(dir: &Path) -> Result<Self> {
        let mut keys = read_object(&dir.join(SPECIAL_TOKENS_MAP))?;
        keys.extend(read_object(&dir.join(TOKENIZER_CONFIG))?);
        Ok(TokenizerSettings { keys })
    }

    /// The inputs the tokenizer gives the model (`model_input_names`), when the configuration
    /// names them.
    pub fn model_input_names(&self) -> Option<Vec<String>> {
        let names = self.keys.get("model_input_names")?.as_array()?;
        Some(
            names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect(),
        )
    }

    /// False when the configuration lists the model's inputs without `token_type_ids` (the model
    /// is then given no segment ids).
    pub fn passes_token_types(&self) -> bool {
        self.model_input_names()
            .is_none_or(|names| names.iter().any(|n| n == "token_type_ids"))
    }

    fn flag(&self, key: &str) -> Option<bool> {
        self.keys.get(key).and_then(Value::as_bool)
    }

    fn additional_tokens(&self) -> Vec<String> {
        ["additional_special_tokens", "extra_special_tokens"]
            .iter()
            .filter_map(|key| self.keys.get(*key)?.as_array())
            .flatten()
            .filter_map(token_text)
            .collect()
    }
}

/// The text of a special token as transformers writes it: `"[CLS]"` or `{"content": "[CLS]", …}`.
fn token_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}

/// The JSON object in `path`, or an empty one when the file does not exist.
fn read_object(path: &Path) -> Result<Map<String, Value>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(e) => return Err(ReaderError::io(path, e)),
    };
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(bad(path, "not a JSON object".into())),
        Err(e) => Err(bad(path, format!("not JSON: {e}"))),
    }
}

fn bad(path: &Path, message: String) -> ReaderError {
    ReaderError::BadTokenizer {
        path: path.to_path_buf(),
        message,
    }
}

/// The WordPiece tokenizer of `dir` (its `vocab.txt`, with the settings of
/// [`TokenizerSettings::read`]). A vocabulary that is not UTF-8 text, or that lacks one of the
/// special tokens the settings name, is [`ReaderError::BadTokenizer`] naming `vocab.txt`.
pub fn wordpiece_tokenizer(dir: &Path) -> Result<Tokenizer> {
    let settings = TokenizerSettings::read(dir)?;
    let path = dir.join(VOCAB_FILE);
    let bytes = std::fs::read(&path).map_err(|e| ReaderError::io(&path, e))?;
    if let Err(e) = std::str::from_utf8(&bytes) {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        return Err(bad(&path, format!("line {}: not UTF-8 text", line + 1)));
    }
    // The reading of the `tokenizers` library (and so of transformers): one token per line,
    // trailing whitespace dropped, the line number as id.
    let vocab = WordPiece::read_bytes(&bytes).map_err(|e| bad(&path, e.to_string()))?;
    let specials = special_tokens(&settings, &path, |t| vocab.get(t).copied())?;
    let id = |key: &str| {
        specials
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, text, id)| (text.clone(), *id))
    };
    let (Some((unk, _)), Some((cls, cls_id)), Some((sep, sep_id))) =
        (id("unk_token"), id("cls_token"), id("sep_token"))
    else {
        return Err(bad(&path, "no [UNK], [CLS] or [SEP] token".into()));
    };
    let model = WordPiece::builder()
        .vocab(vocab)
        .unk_token(unk)
        .continuing_subword_prefix("##".into())
        .max_input_chars_per_word(100)
        .build()
        .map_err(|e| bad(&path, e.to_string()))?;
    let lowercase = settings.flag("do_lower_case").unwrap_or(true);
    let normalizer = BertNormalizer::new(
        true,
        settings.flag("tokenize_chinese_chars").unwrap_or(true),
        settings.flag("strip_accents"),
        lowercase,
    );
    let template = TemplateProcessing::builder()
        .try_single(format!("{cls}:0 $A:0 {sep}:0"))
        .and_then(|b| b.try_pair(format!("{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1")))
        .map_err(|e| bad(&path, format!("special tokens {cls:?} / {sep:?}: {e}")))?
        .special_tokens(vec![(cls.clone(), cls_id), (sep.clone(), sep_id)])
        .build()
        .map_err(|e| bad(&path, e.to_string()))?;
    let mut tokenizer = Tokenizer::new(model);
    tokenizer
        .with_normalizer(Some(normalizer))
        .with_pre_tokenizer(Some(BertPreTokenizer))
        .with_post_processor(Some(template))
        .with_decoder(Some(WordPieceDecoder::new("##".into(), true)));
    let mut added: Vec<AddedToken> = Vec::new();
    for text in specials
        .iter()
        .map(|(_, text, _)| text.clone())
        .chain(settings.additional_tokens())
    {
        if !added.iter().any(|t| t.content == text) {
            added.push(AddedToken::from(text, true));
        }
    }
    tokenizer.add_special_tokens(&added);
    Ok(tokenizer)
}

/// The special tokens the settings name (each of [`SPECIALS`], with its default when absent;
/// `bos`/`eos` when given), as `(key, text, id in the vocabulary)`. One missing from the
/// vocabulary is an error naming it; a pad, mask, bos or eos token explicitly set to null is
/// skipped.
fn special_tokens(
    settings: &TokenizerSettings,
    path: &Path,
    lookup: impl Fn(&str) -> Option<u32>,
) -> Result<Vec<(String, String, u32)>> {
    let mut found = Vec::new();
    let required = SPECIALS.iter().map(|(k, d)| (*k, Some(*d)));
    let optional = OPTIONAL_SPECIALS.iter().map(|k| (*k, None));
    for (key, default) in required.chain(optional) {
        let text = match settings.keys.get(key) {
            Some(Value::Null) if !matches!(key, "unk_token" | "cls_token" | "sep_token") => {
                continue
            }
            Some(value) => token_text(value),
            None => default.map(str::to_string),
        };
        let Some(text) = text else { continue };
        let id = lookup(&text).ok_or_else(|| {
            bad(
                path,
                format!(
                    "the {key} {text:?} is not in the vocabulary: a question/context pair \
                     cannot be framed without it (set {key} in {TOKENIZER_CONFIG} if the \
                     vocabulary names it differently)"
                ),
            )
        })?;
        found.push((key.to_string(), text, id));
    }
    Ok(found)
}

/// Whether `dir` holds a WordPiece vocabulary (and no `tokenizer.json`, which is preferred).
pub fn has_vocab(dir: &Path) -> bool {
    dir.join(VOCAB_FILE).is_file()
}

/// `dir`'s `vocab.txt`.
pub fn vocab_path(dir: &Path) -> PathBuf {
    dir.join(VOCAB_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(vocab: &str, config: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(VOCAB_FILE), vocab).expect("vocab");
        if let Some(config) = config {
            std::fs::write(dir.path().join(TOKENIZER_CONFIG), config).expect("config");
        }
        dir
    }

    const VOCAB: &str = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n##s\nworld\n서울\n##에\n";

    fn tokens(tokenizer: &Tokenizer, a: &str, b: &str) -> (Vec<String>, Vec<u32>) {
        let e = tokenizer.encode((a, b), true).expect("encode");
        (e.get_tokens().to_vec(), e.get_type_ids().to_vec())
    }

    #[test]
    fn a_pair_is_framed_with_the_vocabularys_own_special_ids() {
        let dir = dir_with(VOCAB, Some(r#"{"do_lower_case": false}"#));
        let t = wordpiece_tokenizer(dir.path()).expect("tokenizer");
        let e = t.encode(("hellos", "서울에 world"), true).expect("encode");
        assert_eq!(e.get_ids(), &[2, 5, 6, 3, 8, 9, 7, 3]);
        assert_eq!(e.get_type_ids(), &[0, 0, 0, 0, 1, 1, 1, 1]);
    }

    #[test]
    fn lowercasing_is_the_default_and_can_be_turned_off() {
        let lower = dir_with(VOCAB, None);
        let t = wordpiece_tokenizer(lower.path()).expect("tokenizer");
        assert_eq!(tokens(&t, "HELLO", "World").0[1..3], ["hello", "[SEP]"]);
        let cased = dir_with(VOCAB, Some(r#"{"do_lower_case": false}"#));
        let t = wordpiece_tokenizer(cased.path()).expect("tokenizer");
        assert_eq!(tokens(&t, "HELLO", "World").0[1..3], ["[UNK]", "[SEP]"]);
    }

    #[test]
    fn special_tokens_in_the_text_are_kept_whole() {
        let dir = dir_with(VOCAB, Some(r#"{"do_lower_case": true}"#));
        let t = wordpiece_tokenizer(dir.path()).expect("tokenizer");
        let (toks, _) = tokens(&t, "hello [MASK] world", "x");
        assert_eq!(toks[..5], ["[CLS]", "hello", "[MASK]", "world", "[SEP]"]);
    }

    #[test]
    fn klue_order_and_object_tokens_are_read() {
        let klue = "[CLS]\n[PAD]\n[SEP]\n[UNK]\n[MASK]\nhello\n";
        let config = r#"{"do_lower_case": false, "cls_token": {"content": "[CLS]", "__type": "AddedToken"}}"#;
        let dir = dir_with(klue, Some(config));
        let t = wordpiece_tokenizer(dir.path()).expect("tokenizer");
        let e = t.encode(("hello", "hello"), true).expect("encode");
        assert_eq!(e.get_ids(), &[0, 5, 2, 5, 2]);
    }

    #[test]
    fn a_vocabulary_without_cls_is_refused_naming_the_file_and_token() {
        let dir = dir_with("[PAD]\n[UNK]\n[SEP]\n[MASK]\nhello\n", None);
        let err = wordpiece_tokenizer(dir.path()).expect_err("no [CLS]");
        let message = err.to_string();
        assert!(message.contains("vocab.txt"), "{message}");
        assert!(message.contains("cls_token \"[CLS]\""), "{message}");
    }

    #[test]
    fn a_vocabulary_that_is_not_text_is_refused_with_its_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(VOCAB_FILE), b"[PAD]\n[UNK]\n\xff\xfe\n").expect("vocab");
        let err = wordpiece_tokenizer(dir.path()).expect_err("binary");
        assert!(err.to_string().contains("line 3: not UTF-8"), "{err}");
    }

    #[test]
    fn token_types_follow_model_input_names() {
        let dir = dir_with(
            VOCAB,
            Some(r#"{"model_input_names": ["input_ids", "attention_mask"]}"#),
        );
        let settings = TokenizerSettings::read(dir.path()).expect("settings");
        assert!(!settings.passes_token_types());
        assert!(TokenizerSettings::default().passes_token_types());
    }
}
