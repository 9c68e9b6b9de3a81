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
//! `[UNK]`, `[SEP]`, `[PAD]`, `[CLS]`, `[MASK]`. As in transformers, `tokenizer_config.json`'s
//! `added_tokens_decoder` (tokens with their ids and flags) wins over everything; without it,
//! `special_tokens_map.json` overrides `tokenizer_config.json`'s special tokens and
//! `added_tokens.json`'s tokens are added (not special).

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
/// Tokens added to the vocabulary, as older transformers saved them (`{"token": id}`).
pub const ADDED_TOKENS: &str = "added_tokens.json";

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

/// The settings of `tokenizer_config.json` (and `special_tokens_map.json`,
/// `added_tokens.json`), read as transformers 5 reads them.
#[derive(Debug, Clone, Default)]
pub struct TokenizerSettings {
    keys: Map<String, Value>,
    /// Tokens added besides the vocabulary's, with the ids they are declared with.
    added: Vec<(u32, AddedToken)>,
    /// The file the keys come from (errors name it).
    path: PathBuf,
}

impl TokenizerSettings {
    /// Reads the settings of `dir` (each file optional), as transformers does: with an
    /// `added_tokens_decoder` in `tokenizer_config.json`, its tokens (ids and flags) and nothing
    /// else; without one, the keys of `special_tokens_map.json` over those of
    /// `tokenizer_config.json`, and the tokens of `added_tokens.json` (not special).
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(TOKENIZER_CONFIG);
        let mut keys = read_object(&path)?;
        let added = match keys.get("added_tokens_decoder") {
            Some(decoder) => decoded_tokens(decoder, &path)?,
            None => {
                keys.extend(read_object(&dir.join(SPECIAL_TOKENS_MAP))?);
                listed_tokens(&dir.join(ADDED_TOKENS))?
            }
        };
        Ok(TokenizerSettings { keys, added, path })
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

    /// A boolean setting; absent or null is `None`, anything but a boolean an error naming the
    /// file (transformers refuses it too).
    fn flag(&self, key: &str) -> Result<Option<bool>> {
        match self.keys.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(bad(
                &self.path,
                format!("{key} must be true or false, not {other}"),
            )),
        }
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

/// The tokens of `tokenizer_config.json`'s `added_tokens_decoder` (`{"id": {"content": …,
/// "special": …, "normalized": …, "lstrip": …, "rstrip": …, "single_word": …}}`).
fn decoded_tokens(decoder: &Value, path: &Path) -> Result<Vec<(u32, AddedToken)>> {
    let Some(entries) = decoder.as_object() else {
        return Err(bad(path, "added_tokens_decoder is not an object".into()));
    };
    let mut tokens = Vec::with_capacity(entries.len());
    for (id, entry) in entries {
        let content = entry["content"].as_str();
        let (Ok(id), Some(content)) = (id.parse::<u32>(), content) else {
            return Err(bad(
                path,
                format!("added_tokens_decoder entry {id:?}: {entry}"),
            ));
        };
        let flag = |key: &str, default: bool| entry[key].as_bool().unwrap_or(default);
        let special = flag("special", false);
        let token = AddedToken::from(content, special)
            .single_word(flag("single_word", false))
            .lstrip(flag("lstrip", false))
            .rstrip(flag("rstrip", false))
            .normalized(flag("normalized", !special));
        tokens.push((id, token));
    }
    tokens.sort_by_key(|(id, _)| *id);
    Ok(tokens)
}

/// The tokens of `added_tokens.json` (`{"token": id}`), not special, as transformers adds them.
fn listed_tokens(path: &Path) -> Result<Vec<(u32, AddedToken)>> {
    let mut tokens = Vec::new();
    for (content, id) in read_object(path)? {
        let Some(id) = id.as_u64().and_then(|id| u32::try_from(id).ok()) else {
            return Err(bad(path, format!("token {content:?} has no id: {id}")));
        };
        tokens.push((id, AddedToken::from(content, false)));
    }
    tokens.sort_by_key(|(id, _)| *id);
    Ok(tokens)
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
    let lowercase = settings.flag("do_lower_case")?.unwrap_or(true);
    let normalizer = BertNormalizer::new(
        true,
        settings.flag("tokenize_chinese_chars")?.unwrap_or(true),
        settings.flag("strip_accents")?,
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
    add_declared(&mut tokenizer, &settings)?;
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

/// Adds the tokens the settings declare besides the vocabulary, in id order, each checked to get
/// the id it is declared with (a token past the vocabulary gets the next free id, as in
/// transformers).
fn add_declared(tokenizer: &mut Tokenizer, settings: &TokenizerSettings) -> Result<()> {
    for (id, token) in &settings.added {
        let content = token.content.clone();
        if token.special {
            tokenizer.add_special_tokens(std::slice::from_ref(token));
        } else {
            tokenizer.add_tokens(std::slice::from_ref(token));
        }
        let got = tokenizer.token_to_id(&content);
        if got != Some(*id) {
            return Err(bad(
                &settings.path,
                format!(
                    "the added token {content:?} is declared with id {id} but the vocabulary \
                     gives it {}",
                    got.map_or("none".into(), |g| g.to_string())
                ),
            ));
        }
    }
    Ok(())
}

/// The special tokens the settings name (each of [`SPECIALS`], with its default when absent;
/// `bos`/`eos` when given), as `(key, text, id in the vocabulary)`. The unknown, classifier and
/// separator tokens must be in the vocabulary (an error naming it otherwise: no pair can be
/// framed without them); a pad, mask, bos or eos token that is not (or is null) is left out —
/// transformers would add it past the vocabulary, where the model has no row for it, and odqa
/// pads with the model's `pad_token_id`.
fn special_tokens(
    settings: &TokenizerSettings,
    path: &Path,
    lookup: impl Fn(&str) -> Option<u32>,
) -> Result<Vec<(String, String, u32)>> {
    let mut found = Vec::new();
    let required = SPECIALS.iter().map(|(k, d)| (*k, Some(*d)));
    let optional = OPTIONAL_SPECIALS.iter().map(|k| (*k, None));
    for (key, default) in required.chain(optional) {
        // A null token (`token_text` gives none) is absent; for the three a pair needs, the
        // caller then refuses the vocabulary.
        let text = match settings.keys.get(key) {
            Some(value) => token_text(value),
            None => default.map(str::to_string),
        };
        let Some(text) = text else { continue };
        match lookup(&text) {
            Some(id) => found.push((key.to_string(), text, id)),
            None if matches!(key, "unk_token" | "cls_token" | "sep_token") => {
                return Err(bad(
                    path,
                    format!(
                        "the {key} {text:?} is not in the vocabulary: a question/context pair \
                         cannot be framed without it (set {key} in {TOKENIZER_CONFIG} if the \
                         vocabulary names it differently)"
                    ),
                ))
            }
            None => {}
        }
    }
    Ok(found)
}

/// Whether `dir` holds a WordPiece vocabulary (`tokenizer.json`, when there is one too, is
/// preferred to it: see [`crate::model_files::TokenizerFiles`]).
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

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).expect("write");
    }

    fn ids(dir: &Path) -> Vec<u32> {
        let t = wordpiece_tokenizer(dir).expect("tokenizer");
        let e = t
            .encode(("hello [NEW] <e1>", "world"), true)
            .expect("encode");
        e.get_ids().to_vec()
    }

    #[test]
    fn the_special_tokens_map_wins_without_a_decoder() {
        let dir = dir_with(
            VOCAB,
            Some(r#"{"do_lower_case": false, "cls_token": "[CLS]"}"#),
        );
        write(dir.path(), SPECIAL_TOKENS_MAP, r#"{"cls_token": "[MASK]"}"#);
        assert_eq!(
            ids(dir.path())[0],
            4,
            "transformers frames with [MASK] (id 4)"
        );
    }

    #[test]
    fn declared_tokens_get_their_ids_and_flags() {
        let config = r#"{"do_lower_case": false, "added_tokens_decoder": {
            "10": {"content": "[NEW]", "special": false, "normalized": true},
            "11": {"content": "<e1>", "special": true, "normalized": false}}}"#;
        let dir = dir_with(VOCAB, Some(config));
        // The map is not read when the decoder is there.
        write(dir.path(), SPECIAL_TOKENS_MAP, r#"{"cls_token": "[MASK]"}"#);
        assert_eq!(ids(dir.path()), [2, 5, 10, 11, 3, 7, 3]);
        let wrong = dir_with(
            VOCAB,
            Some(r#"{"added_tokens_decoder": {"12": {"content": "[NEW]"}}}"#),
        );
        let err = wordpiece_tokenizer(wrong.path()).expect_err("id 12 cannot be had");
        assert!(err.to_string().contains("declared with id 12"), "{err}");
    }

    #[test]
    fn added_tokens_json_adds_plain_tokens() {
        let dir = dir_with(VOCAB, Some(r#"{"do_lower_case": false}"#));
        write(dir.path(), ADDED_TOKENS, r#"{"[NEW]": 10, "<e1>": 11}"#);
        assert_eq!(ids(dir.path()), [2, 5, 10, 11, 3, 7, 3]);
    }

    #[test]
    fn a_flag_that_is_not_a_boolean_is_refused() {
        let dir = dir_with(VOCAB, Some(r#"{"do_lower_case": "false"}"#));
        let err = wordpiece_tokenizer(dir.path()).expect_err("a string");
        let message = err.to_string();
        assert!(message.contains("tokenizer_config.json"), "{message}");
        assert!(
            message.contains("do_lower_case must be true or false"),
            "{message}"
        );
    }

    #[test]
    fn optional_special_tokens_outside_the_vocabulary_are_left_out() {
        let config = r#"{"mask_token": "<mask>", "eos_token": "</s>"}"#;
        let dir = dir_with(VOCAB, Some(config));
        let t = wordpiece_tokenizer(dir.path()).expect("tokenizer");
        assert_eq!(t.get_vocab_size(true), 10);
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
