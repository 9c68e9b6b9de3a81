//! Question/context → model windows, exactly as Hugging Face's `run_qa.py` prepares features:
//! question first (left-stripped), only the context truncated, `max_seq_len` windows overlapping by
//! `doc_stride` tokens, padded to `max_seq_len`, character offsets, sequence ids, and training labels
//! (`prepare_train_features`: the first token when the answer is not inside the window).
//!
//! Token type ids follow transformers and the model, not the bare `tokenizers` library: segment
//! ids 0/1 when the tokenizer's pair template gives the second sequence type 1 (BERT WordPiece)
//! and the model has token types to look them up in, all zeros otherwise (RoBERTa/XLM-R-style
//! tokenizers; klue/roberta, a WordPiece tokenizer on a model with one token type). They are
//! computed from the sequence ids, because the library reports type id 1 for the context of every
//! overflowing window after the first.

use std::path::Path;

use rayon::prelude::*;
use tokenizers::{
    PaddingDirection, PaddingParams, PaddingStrategy, PostProcessor, Tokenizer,
    TruncationDirection, TruncationParams, TruncationStrategy,
};

use crate::config::ReaderConfig;
use crate::error::{ReaderError, Result};
use crate::model_files::TokenizerFiles;
pub use crate::window::WindowSettings;

/// One model window of one example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    /// Index of the example in the batch given to [`FeatureTokenizer::features`].
    pub example_index: usize,
    /// Token ids, padded.
    pub input_ids: Vec<u32>,
    /// Token type ids as the model should see them.
    pub token_type_ids: Vec<u32>,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Vec<u32>,
    /// Raw `[start, end)` character offsets (`(0, 0)` for specials and pads).
    pub offsets: Vec<(usize, usize)>,
    /// `None` for specials and pads, `Some(0)` question, `Some(1)` context.
    pub sequence_ids: Vec<Option<usize>>,
    /// Training labels (first token when the answer is outside the window); `None` without answer.
    pub start_position: Option<usize>,
    /// See `start_position`.
    pub end_position: Option<usize>,
}

impl Feature {
    /// Offsets of context tokens, `None` for every other token (run_qa's validation features).
    pub fn context_offset(&self, i: usize) -> Option<(usize, usize)> {
        (self.sequence_ids.get(i).copied().flatten() == Some(1)).then(|| self.offsets[i])
    }
}

/// One example to window: question, context and, for training labels, the answer's character
/// start and text.
pub type WindowInput<'a> = (&'a str, &'a str, Option<(usize, &'a str)>);

/// A tokenizer set up for QA windows.
#[derive(Clone)]
pub struct FeatureTokenizer {
    tokenizer: Tokenizer,
    /// The same tokenizer without truncation and padding (to measure a pair before windowing it).
    plain: Tokenizer,
    settings: WindowSettings,
    segment_ids: bool,
}

impl FeatureTokenizer {
    /// The tokenizer of a model directory (`tokenizer.json`, or one built from `vocab.txt`; see
    /// [`TokenizerFiles::load`]) for the model `config` describes: windows padded with the
    /// model's `pad_token_id`, and segment ids 0/1 only when the tokenizer's pair template gives
    /// the second sequence type 1, the model has more than one token type (`type_vocab_size`;
    /// klue/roberta has one) and the tokenizer configuration does not leave `token_type_ids`
    /// out of `model_input_names`. A file that is not a tokenizer is
    /// [`ReaderError::BadTokenizer`].
    pub fn open(
        files: &TokenizerFiles,
        config: &ReaderConfig,
        settings: WindowSettings,
    ) -> Result<Self> {
        let tokenizer = files.load()?;
        let segment_ids = template_gives_segments(&tokenizer)
            && config.type_vocab_size > 1
            && files.settings()?.passes_token_types();
        Self::new(
            tokenizer,
            &files.main_file(),
            settings,
            config.pad_token_id as u32,
            segment_ids,
        )
    }

    /// `tokenizer` set up for windows of `settings`, padded with `pad_id`, feeding segment ids
    /// when `segment_ids`; `origin` is the file errors name.
    pub fn new(
        mut tokenizer: Tokenizer,
        origin: &Path,
        settings: WindowSettings,
        pad_id: u32,
        segment_ids: bool,
    ) -> Result<Self> {
        let bad = |message: String| ReaderError::BadTokenizer {
            path: origin.to_path_buf(),
            message,
        };
        settings
            .validate()
            .map_err(|e| ReaderError::BadInput(e.to_string()))?;
        let plain = tokenizer.clone();
        let pad_token = tokenizer.id_to_token(pad_id).ok_or_else(|| {
            bad(format!(
                "the pad token id {pad_id} is not in the vocabulary"
            ))
        })?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: settings.max_seq_len,
                stride: settings.doc_stride,
                strategy: TruncationStrategy::OnlySecond,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| bad(e.to_string()))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::Fixed(settings.max_seq_len),
            direction: PaddingDirection::Right,
            pad_to_multiple_of: None,
            pad_id,
            pad_type_id: 0,
            pad_token,
        }));
        Ok(FeatureTokenizer {
            tokenizer,
            plain,
            settings,
            segment_ids,
        })
    }

    /// The window settings.
    pub fn settings(&self) -> WindowSettings {
        self.settings
    }

    /// Number of entries in the tokenizer's vocabulary (added tokens included).
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// True when the model is fed segment ids 0/1 (BERT WordPiece pairs).
    pub fn uses_segment_ids(&self) -> bool {
        self.segment_ids
    }

    /// Refuses a pair that needs several windows when the question leaves no more context tokens
    /// per window than the stride (the `tokenizers` library would panic on it). Costs one encoding
    /// of the question alone; the pair is encoded only when the question leaves too little room.
    fn check_room(&self, question: &str, context: &str) -> Result<()> {
        let WindowSettings {
            max_seq_len,
            doc_stride,
        } = self.settings;
        let cannot =
            |e| ReaderError::BadInput(format!("cannot tokenize question {question:?}: {e}"));
        let question_tokens = self
            .plain
            .encode_char_offsets(question, false)
            .map_err(cannot)?
            .len();
        let specials = self
            .plain
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(true));
        let fixed = question_tokens + specials;
        let room = max_seq_len.saturating_sub(fixed);
        if room > doc_stride {
            return Ok(());
        }
        let pair = self
            .plain
            .encode_char_offsets((question, context), true)
            .map_err(cannot)?;
        if pair.len() <= max_seq_len {
            return Ok(());
        }
        Err(ReaderError::BadInput(format!(
            "question {question:?} is too long for {max_seq_len}-token windows overlapping by \
             {doc_stride}: its {fixed} tokens (with the special ones) leave {room} context \
             tokens per window, fewer than the overlap; use longer windows (max_seq_len) or a \
             smaller overlap (doc_stride)"
        )))
    }

    /// The windows of one example. `answer` = (character start, answer text) adds training labels.
    pub fn features(
        &self,
        example_index: usize,
        question: &str,
        context: &str,
        answer: Option<(usize, &str)>,
    ) -> Result<Vec<Feature>> {
        let question = question.trim_start();
        self.check_room(question, context)?;
        let encoding = self
            .tokenizer
            .encode_char_offsets((question, context), true)
            .map_err(|e| {
                ReaderError::BadInput(format!(
                    "cannot tokenize question {question:?} with a {}-token window: {e}",
                    self.settings.max_seq_len
                ))
            })?;
        let mut windows = vec![encoding.clone()];
        windows.extend(encoding.get_overflowing().iter().cloned());
        let answer_span = answer.map(|(start, text)| (start, start + text.chars().count()));
        Ok(windows
            .into_iter()
            .map(|enc| {
                let sequence_ids = enc.get_sequence_ids();
                let attention_mask = enc.get_attention_mask().to_vec();
                let first_context = sequence_ids.iter().position(|s| *s == Some(1));
                let token_type_ids = (0..attention_mask.len())
                    .map(|i| {
                        let in_second =
                            first_context.is_some_and(|f| i >= f) && attention_mask[i] == 1;
                        u32::from(self.segment_ids && in_second)
                    })
                    .collect();
                let offsets = enc.get_offsets().to_vec();
                let (start_position, end_position) = match answer_span {
                    Some(span) => {
                        let (s, e) = label(&offsets, &sequence_ids, span);
                        (Some(s), Some(e))
                    }
                    None => (None, None),
                };
                Feature {
                    example_index,
                    input_ids: enc.get_ids().to_vec(),
                    token_type_ids,
                    attention_mask,
                    offsets,
                    sequence_ids,
                    start_position,
                    end_position,
                }
            })
            .collect())
    }

    /// Windows of many `(question, context, answer)` in parallel, in order; per example either its
    /// windows or the error that stopped it.
    pub fn features_batch<'a>(&self, examples: &[WindowInput<'a>]) -> Vec<Result<Vec<Feature>>> {
        examples
            .par_iter()
            .enumerate()
            .map(|(i, (q, c, a))| self.features(i, q, c, *a))
            .collect()
    }
}

/// run_qa's `prepare_train_features` labelling: the answer's first and last token, or CLS when
/// the window does not hold the whole answer. Its two loops stop at the window's context tokens,
/// where run_qa's walk on: an answer starting in the last context token got run_qa's start label
/// on the last padding token, past the end label. Where run_qa's labels lie inside the context
/// (every feature of the parity fixtures), they are the same. An empty answer is labelled CLS, and
/// a start after the end (two byte-level pieces of one character carry the same offsets) is moved
/// back to the end.
fn label(
    offsets: &[(usize, usize)],
    sequence_ids: &[Option<usize>],
    (start_char, end_char): (usize, usize),
) -> (usize, usize) {
    let cls = (0, 0);
    let first = sequence_ids.iter().position(|s| *s == Some(1));
    let last = sequence_ids.iter().rposition(|s| *s == Some(1));
    let (Some(first), Some(last)) = (first, last) else {
        return cls;
    };
    if end_char <= start_char || !(offsets[first].0 <= start_char && offsets[last].1 >= end_char) {
        return cls;
    }
    // The last context token starting at or before the answer…
    let mut start = first;
    while start < last && offsets[start + 1].0 <= start_char {
        start += 1;
    }
    // …and the first one from which every context token ends at or after it.
    let mut end = last;
    while end > first && offsets[end - 1].1 >= end_char {
        end -= 1;
    }
    (start.min(end), end)
}

/// Whether the tokenizer's pair template gives the second sequence type id 1
/// (`BertProcessing`, or a `TemplateProcessing` with a `type_id: 1` item), as transformers'
/// tokenizers then return segment ids.
fn template_gives_segments(tokenizer: &Tokenizer) -> bool {
    let Some(post) = tokenizer.get_post_processor() else {
        return false;
    };
    let Ok(post) = serde_json::to_value(post) else {
        return false;
    };
    gives_segments(&post)
}

fn gives_segments(post: &serde_json::Value) -> bool {
    match post["type"].as_str() {
        Some("BertProcessing") => true,
        Some("TemplateProcessing") => post["pair"].as_array().is_some_and(|items| {
            items.iter().any(|item| {
                item.as_object()
                    .is_some_and(|o| o.values().any(|v| v["type_id"] == 1))
            })
        }),
        Some("Sequence") => post["processors"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(gives_segments)),
        _ => false,
    }
}
