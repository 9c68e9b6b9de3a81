//! Property tests of the window builder: any question, context and answer, any window length and
//! stride, with the WordPiece and the byte-level BPE tokenizers of the fixtures. Either windows come
//! back — every one of the window length, context offsets inside the context and in order,
//! labels inside the window — or an error; never a panic of the tokenizers library.
//!
//! `scripts/fuzz-long.sh` is the long run (100,000 cases per target, in release).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use odqa_reader::features::{FeatureTokenizer, WindowSettings};
use proptest::prelude::*;

fn fixture(model: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/reader-parity")
        .join(model)
}

/// The window tokenizer of a fixture model, padding with `pad` (its config's pad id).
fn open_tokenizer(
    model: &str,
    settings: WindowSettings,
    pad: usize,
) -> odqa_reader::Result<FeatureTokenizer> {
    let dir = fixture(model);
    let config = odqa_reader::ReaderConfig::read(&dir.join("config.json"))?;
    assert_eq!(config.pad_token_id, pad, "{model}");
    FeatureTokenizer::open(&odqa_reader::TokenizerFiles::in_dir(dir), &config, settings)
}

fn check_windows(
    tokenizer: &FeatureTokenizer,
    settings: WindowSettings,
    question: &str,
    context: &str,
    answer: Option<(usize, &str)>,
) -> Result<(), TestCaseError> {
    let Ok(features) = tokenizer.features(0, question, context, answer) else {
        return Ok(());
    };
    prop_assert!(!features.is_empty());
    let context_chars = context.chars().count();
    for f in &features {
        let n = settings.max_seq_len;
        prop_assert_eq!(f.input_ids.len(), n);
        prop_assert_eq!(f.attention_mask.len(), n);
        prop_assert_eq!(f.token_type_ids.len(), n);
        prop_assert_eq!(f.offsets.len(), n);
        prop_assert_eq!(f.sequence_ids.len(), n);
        let mut previous_start = 0;
        for i in 0..n {
            if let Some((start, end)) = f.context_offset(i) {
                prop_assert!(
                    start <= end && end <= context_chars,
                    "({start}, {end}) of {context_chars} chars"
                );
                prop_assert!(
                    start >= previous_start,
                    "context offsets go back at token {}",
                    i
                );
                previous_start = start;
            }
        }
        if answer.is_some() {
            let (s, e) = (f.start_position.unwrap(), f.end_position.unwrap());
            prop_assert!(s < n && e < n, "labels ({s}, {e}) outside a window of {n}");
            prop_assert!(
                (s == 0 && e == 0) || (f.context_offset(s).is_some() && s <= e),
                "labels ({s}, {e})"
            );
        } else {
            prop_assert!(f.start_position.is_none() && f.end_position.is_none());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(odqa_testkit::config())]

    #[test]
    fn any_example_gets_valid_windows_or_an_error(
        roberta in any::<bool>(),
        max_seq_len in 4usize..96,
        stride_share in 0.0f64..1.0,
        question in odqa_testkit::text(),
        context in odqa_testkit::text(),
        answer in proptest::option::of((0usize..300, odqa_testkit::text())),
    ) {
        let doc_stride = ((max_seq_len as f64) * stride_share) as usize;
        let settings = WindowSettings { max_seq_len, doc_stride };
        let (model, pad) = if roberta { ("tiny-roberta-qa", 1) } else { ("tiny-bert-qa", 0) };
        // A stride that leaves no room next to the special tokens is refused when loading.
        let Ok(tokenizer) = open_tokenizer(model, settings, pad) else {
            prop_assert!(doc_stride + 2 >= max_seq_len, "{settings:?} refused");
            return Ok(());
        };
        let answer = answer.as_ref().map(|(start, text)| (*start, text.as_str()));
        check_windows(&tokenizer, settings, &question, &context, answer)?;
    }
}

/// Found by the target above: an empty answer at the start of the context was labelled (46, 1),
/// a start after the end (run_qa's loops walk past the context); it is now labelled CLS.
#[test]
fn an_empty_answer_is_labelled_cls() {
    let settings = WindowSettings {
        max_seq_len: 47,
        doc_stride: 0,
    };
    let tokenizer = open_tokenizer("tiny-bert-qa", settings, 0).unwrap();
    let context = "a".repeat(101);
    let features = tokenizer.features(0, "", &context, Some((0, ""))).unwrap();
    assert!(!features.is_empty());
    for f in &features {
        assert_eq!((f.start_position, f.end_position), (Some(0), Some(0)));
    }
}

/// Found by the target above: when the answer starts in the window's last context token (here a
/// 101-letter word, one `[UNK]`), run_qa's start loop walked on through `[SEP]` and the padding
/// (all at offset 0) and labelled the last padding token, after the end label. Both labels are now
/// that context token.
#[test]
fn an_answer_in_the_last_context_token_is_labelled_on_it() {
    let settings = WindowSettings {
        max_seq_len: 16,
        doc_stride: 0,
    };
    let tokenizer = open_tokenizer("tiny-bert-qa", settings, 0).unwrap();
    let context = "a".repeat(101);
    let features = tokenizer.features(0, "", &context, Some((0, "x"))).unwrap();
    let f = &features[0];
    let token = (0..16).find(|&i| f.context_offset(i).is_some()).unwrap();
    assert_eq!(
        (f.start_position, f.end_position),
        (Some(token), Some(token))
    );
}
