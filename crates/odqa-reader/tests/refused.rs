//! Model directories that must be refused with a clear error before any work: sizes in
//! `config.json` that would allocate petabytes or loop for ever, layers the checkpoint does not
//! hold, non-finite weights, an unreadable tokenizer file and a model path that is a file.

#![allow(clippy::unwrap_used)]

mod common;

use burn::backend::Flex;
use odqa_reader::features::WindowSettings;
use odqa_reader::read::Reader;
use odqa_reader::{QaModel, ReaderError};

use common::{copy_model, fixture, set_config, set_element};

type B = Flex;

/// The error of loading `dir`, which must be one of bad input (exit status 2).
fn load_error(dir: &std::path::Path) -> ReaderError {
    match QaModel::<B>::load_dir(dir, &Default::default()) {
        Ok(_) => panic!("loading {} should fail", dir.display()),
        Err(e) => {
            assert!(e.is_bad_input(), "not bad input: {e}");
            e
        }
    }
}

#[test]
fn sizes_beyond_the_limits_are_refused_naming_config_json_and_the_field() {
    // Each would allocate petabytes (layers, sizes) or loop for ever (cnn_blocks) if accepted.
    #[rustfmt::skip]
    let cases = [
        ("tiny-bert-qa", "num_hidden_layers", "1000000000000"),
        ("tiny-bert-qa", "hidden_size", "1099511627776"),
        ("tiny-bert-qa", "intermediate_size", "1000000000000"),
        ("tiny-bert-qa", "vocab_size", "1000000000000"),
        ("tiny-bert-qa", "max_position_embeddings", "1000000000000"),
        ("tiny-bert-qa", "type_vocab_size", "1000000000000"),
        ("tiny-bert-qa", "num_attention_heads", "1000000000000"),
        ("tiny-bert-cnn", "cnn_blocks", "1000000000"),
        ("tiny-bert-cnn", "cnn_channels", "1000000000000"),
    ];
    for (model, field, value) in cases {
        let dir = copy_model(model);
        set_config(dir.path(), field, value);
        let err = load_error(dir.path()).to_string();
        assert!(
            err.contains("config.json") && err.contains(&format!("{field} = {value}")),
            "{field}: {err}"
        );
    }
}

#[test]
fn layers_missing_from_the_checkpoint_are_named_with_the_configured_count() {
    let dir = copy_model("tiny-bert-qa");
    set_config(dir.path(), "num_hidden_layers", "3");
    let err = load_error(dir.path()).to_string();
    assert!(
        err.contains("missing tensor bert.encoder.layer.2.attention.self.query.weight")
            && err.contains("num_hidden_layers = 3")
            && err.contains("holds 2 layers"),
        "{err}"
    );
    // Unshared CNN blocks the checkpoint does not hold: the first missing block is named.
    let dir = copy_model("tiny-bert-cnn");
    set_config(dir.path(), "cnn_shared", "false");
    let err = load_error(dir.path()).to_string();
    assert!(
        err.contains("missing tensor cnn_blocks.0.conv1.weight"),
        "{err}"
    );
}

#[test]
fn an_unreadable_tokenizer_and_a_model_path_that_is_a_file_are_bad_input() {
    let windows = WindowSettings {
        max_seq_len: 64,
        doc_stride: 16,
    };
    let device = Default::default();
    // Not UTF-8, then not JSON, then JSON that is not a tokenizer.
    for garbage in [&b"\xff\xfe\x00garbage"[..], b"{not json", b"[1, 2, 3]"] {
        let dir = copy_model("tiny-bert-qa");
        std::fs::write(dir.path().join("tokenizer.json"), garbage).unwrap();
        let err = Reader::<B>::load(dir.path(), windows, &device)
            .err()
            .unwrap();
        assert!(err.is_bad_input(), "{err}");
        assert!(err.to_string().contains("tokenizer.json"), "{err}");
    }
    let file = fixture("tiny-bert-qa").join("config.json");
    let err = load_error(&file).to_string();
    assert!(err.contains("config.json: not a directory"), "{err}");
}

#[test]
fn non_finite_weights_are_refused_naming_the_tensor() {
    for (model, tensor, index, value) in [
        (
            "tiny-bert-qa",
            "bert.encoder.layer.1.output.dense.weight",
            7,
            f32::NAN,
        ),
        ("tiny-bert-qa", "qa_outputs.bias", 1, f32::INFINITY),
        ("tiny-bert-cnn", "conv1.weight", 0, f32::NEG_INFINITY),
        (
            "tiny-roberta-qa",
            "roberta.embeddings.word_embeddings.weight",
            100,
            f32::NAN,
        ),
    ] {
        let dir = copy_model(model);
        set_element(dir.path(), tensor, index, value);
        let err = load_error(dir.path()).to_string();
        assert!(
            err.contains("model.safetensors")
                && err.contains(&format!("tensor {tensor}"))
                && err.contains(&format!("element {index}")),
            "{err}"
        );
    }
}
