//! Checkpoint loading and saving: missing, mis-shaped and unexpected tensors, encoder-only
//! checkpoints, a tokenizer larger than the embedding matrix, and bit-exact round trips.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use burn::backend::Flex;
use odqa_reader::features::WindowSettings;
use odqa_reader::read::Reader;
use odqa_reader::weights::StoredType;
use odqa_reader::{QaModel, ReaderError};
use safetensors::Dtype;

use common::{copy_model, edit, fixture, read_tensors, truncate};

type B = Flex;

fn load_err(dir: &Path) -> String {
    match QaModel::<B>::load_dir(dir, &Default::default()) {
        Ok(_) => panic!("loading should fail"),
        Err(e) => {
            assert!(
                matches!(e, ReaderError::BadModel { .. }) && e.is_bad_input(),
                "{e}"
            );
            e.to_string()
        }
    }
}

#[test]
fn missing_tensor_is_named_with_its_shape() {
    let dir = copy_model("tiny-bert-qa");
    edit(dir.path(), |t| {
        t.remove("bert.encoder.layer.1.output.dense.bias");
    });
    let err = load_err(dir.path());
    assert!(
        err.contains("missing tensor bert.encoder.layer.1.output.dense.bias")
            && err.contains("[32]"),
        "{err}"
    );
}

#[test]
fn misshaped_tensor_names_both_shapes() {
    let dir = copy_model("tiny-bert-qa");
    truncate(dir.path(), "qa_outputs.weight", vec![2, 16]);
    let err = load_err(dir.path());
    assert!(
        err.contains("qa_outputs.weight") && err.contains("[2, 16]") && err.contains("[2, 32]"),
        "{err}"
    );
}

#[test]
fn unexpected_tensor_is_an_error_but_pooler_is_ignored() {
    let dir = copy_model("tiny-bert-qa");
    edit(dir.path(), |t| {
        t.insert(
            "bert.pooler.dense.bias".into(),
            (Dtype::F32, vec![32], vec![0; 128]),
        );
    });
    let loaded = QaModel::<B>::load_dir(dir.path(), &Default::default()).unwrap();
    assert_eq!(loaded.ignored, vec!["bert.pooler.dense.bias".to_string()]);
    edit(dir.path(), |t| {
        t.insert(
            "bert.encoder.layer.9.output.dense.bias".into(),
            (Dtype::F32, vec![32], vec![0; 128]),
        );
    });
    let err = load_err(dir.path());
    assert!(
        err.contains("unexpected tensor")
            && err.contains("bert.encoder.layer.9.output.dense.bias [32]"),
        "{err}"
    );
}

#[test]
fn cnn_config_on_a_linear_checkpoint_names_both_heads() {
    let dir = copy_model("tiny-bert-qa");
    let config = std::fs::read_to_string(fixture("tiny-bert-cnn").join("config.json")).unwrap();
    std::fs::write(dir.path().join("config.json"), config).unwrap();
    let err = load_err(dir.path());
    assert!(
        err.contains("holds a linear head") && err.contains("\"odqa_head\": \"linear\""),
        "{err}"
    );
}

#[test]
fn a_cnn_checkpoint_missing_one_convolution_names_it() {
    let dir = copy_model("tiny-bert-cnn");
    edit(dir.path(), |t| {
        t.remove("conv2.weight");
    });
    let err = load_err(dir.path());
    assert!(
        err.contains("missing tensor conv2.weight") && err.contains("[32, 128, 1]"),
        "{err}"
    );
}

#[test]
fn encoder_only_checkpoint_gets_a_fresh_head() {
    let dir = copy_model("tiny-bert-cnn");
    edit(dir.path(), |t| {
        t.retain(|name, _| name.starts_with("bert."))
    });
    let loaded = QaModel::<B>::load_dir(dir.path(), &Default::default()).unwrap();
    assert!(loaded.fresh_head);
    // The fresh CNN head has the configured shapes and saves under the checkpoint names.
    let out = tempfile::tempdir().unwrap();
    loaded
        .model
        .save_dir(
            &loaded.config,
            out.path(),
            &loaded.encoder_prefix,
            StoredType::F32,
        )
        .unwrap();
    let saved = read_tensors(&out.path().join("model.safetensors"));
    assert_eq!(saved["conv1.weight"].1, vec![128, 32, 3]);
    assert_eq!(saved["qa_outputs.weight"].1, vec![2, 32]);
    let reloaded = QaModel::<B>::load_dir(out.path(), &Default::default()).unwrap();
    assert!(!reloaded.fresh_head);
    // The fresh head is seeded: loading twice gives the same head.
    let again = QaModel::<B>::load_dir(dir.path(), &Default::default()).unwrap();
    let out2 = tempfile::tempdir().unwrap();
    again
        .model
        .save_dir(
            &again.config,
            out2.path(),
            &again.encoder_prefix,
            StoredType::F32,
        )
        .unwrap();
    assert_eq!(read_tensors(&out2.path().join("model.safetensors")), saved);
}

#[test]
fn save_round_trip_is_bit_exact_in_f32_and_f16() {
    for name in ["tiny-bert-qa", "tiny-roberta-qa", "tiny-bert-cnn"] {
        let loaded = QaModel::<B>::load_dir(&fixture(name), &Default::default()).unwrap();
        let out = tempfile::tempdir().unwrap();
        loaded
            .model
            .save_dir(
                &loaded.config,
                out.path(),
                &loaded.encoder_prefix,
                loaded.stored_type,
            )
            .unwrap();
        let original = read_tensors(&fixture(name).join("model.safetensors"));
        assert_eq!(
            read_tensors(&out.path().join("model.safetensors")),
            original,
            "{name}"
        );
        // Hugging Face keys survive in config.json.
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.path().join("config.json")).unwrap())
                .unwrap();
        assert_eq!(config["hidden_size"], 32);
        assert!(config["architectures"][0]
            .as_str()
            .unwrap()
            .ends_with("ForQuestionAnswering"));
    }
    // f16 and bf16: the same file once converted; load (to f32) and save back give identical bytes.
    for (dtype, stored) in [
        (Dtype::F16, StoredType::F16),
        (Dtype::BF16, StoredType::Bf16),
    ] {
        let dir = copy_model("tiny-bert-qa");
        edit(dir.path(), |t| {
            for (d, _, bytes) in t.values_mut() {
                let floats = bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                *bytes = match dtype {
                    Dtype::F16 => floats
                        .flat_map(|x| half::f16::from_f32(x).to_le_bytes())
                        .collect(),
                    _ => floats
                        .flat_map(|x| half::bf16::from_f32(x).to_le_bytes())
                        .collect(),
                };
                *d = dtype;
            }
        });
        let loaded = QaModel::<B>::load_dir(dir.path(), &Default::default()).unwrap();
        assert_eq!(loaded.stored_type, stored);
        let out = tempfile::tempdir().unwrap();
        loaded
            .model
            .save_dir(
                &loaded.config,
                out.path(),
                &loaded.encoder_prefix,
                loaded.stored_type,
            )
            .unwrap();
        let saved = read_tensors(&out.path().join("model.safetensors"));
        assert_eq!(
            saved,
            read_tensors(&dir.path().join("model.safetensors")),
            "{dtype:?}"
        );
    }
}

#[test]
fn tokenizer_larger_than_the_embedding_matrix_is_refused() {
    let dir = copy_model("tiny-bert-qa");
    truncate(
        dir.path(),
        "bert.embeddings.word_embeddings.weight",
        vec![1000, 32],
    );
    let config = std::fs::read_to_string(dir.path().join("config.json"))
        .unwrap()
        .replace("\"vocab_size\": 1276", "\"vocab_size\": 1000");
    std::fs::write(dir.path().join("config.json"), config).unwrap();
    let err = match Reader::<B>::load(
        dir.path(),
        WindowSettings {
            max_seq_len: 64,
            doc_stride: 16,
        },
        &Default::default(),
    ) {
        Ok(_) => panic!("should fail"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("1276 entries") && err.contains("1000 rows"),
        "{err}"
    );
}

#[test]
fn window_longer_than_the_position_table_is_refused() {
    let result = Reader::<B>::load(
        &fixture("tiny-bert-qa"),
        WindowSettings {
            max_seq_len: 384,
            doc_stride: 128,
        },
        &Default::default(),
    );
    let err = result.err().unwrap().to_string();
    assert!(
        err.contains("max_seq_len 384") && err.contains("128"),
        "{err}"
    );
}

/// The stored head is found from the header alone; asking for the other kind is a clear error.
#[test]
fn stored_head_kind_and_a_mismatched_head_request() {
    use odqa_reader::model::stored_head_kind;
    use odqa_reader::HeadKind;
    assert_eq!(
        stored_head_kind(&fixture("tiny-bert-qa")).unwrap(),
        Some(HeadKind::Linear)
    );
    assert_eq!(
        stored_head_kind(&fixture("tiny-bert-cnn")).unwrap(),
        Some(HeadKind::Cnn)
    );
    let device = Default::default();
    let err =
        QaModel::<B>::load_dir_with_head(&fixture("tiny-bert-qa"), Some(HeadKind::Cnn), 1, &device)
            .unwrap_err();
    assert!(err.is_bad_input());
    assert!(
        err.to_string().contains("holds a trained linear head")
            && err.to_string().contains("ask for the linear head"),
        "{err}"
    );
    // Same head kind: loads the stored head, not a fresh one.
    let loaded = QaModel::<B>::load_dir_with_head(
        &fixture("tiny-bert-qa"),
        Some(HeadKind::Linear),
        1,
        &device,
    )
    .unwrap();
    assert!(!loaded.fresh_head);
}

#[test]
fn a_question_that_leaves_less_context_than_the_stride_is_an_error_not_a_panic() {
    use odqa_reader::features::FeatureTokenizer;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/reader-parity/tiny-bert-qa");
    let settings = WindowSettings {
        max_seq_len: 32,
        doc_stride: 16,
    };
    let config = odqa_reader::ReaderConfig::read(&dir.join("config.json")).unwrap();
    let files = odqa_reader::TokenizerFiles::in_dir(&dir);
    let tokenizer = FeatureTokenizer::open(&files, &config, settings).unwrap();
    let question = "when was the tower built and who designed it and why was it built";
    let context =
        "the tower was built in 1889 by gustave eiffel for the world fair in paris. ".repeat(4);
    let err = tokenizer.features(0, question, &context, None).unwrap_err();
    assert!(err.to_string().contains("too long"), "{err}");
    // The same question with a context that fits one window is read.
    let windows = tokenizer.features(0, question, "in 1889.", None).unwrap();
    assert_eq!(windows.len(), 1);
}

#[test]
fn a_cut_off_or_empty_checkpoint_file_is_an_error_naming_it() {
    let dir = copy_model("tiny-bert-qa");
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).expect("fixture readable");
    // Cut inside the tensor data, then an empty file: both are refused before any tensor is read.
    for len in [bytes.len() - 10, 0] {
        std::fs::write(&path, &bytes[..len]).expect("fixture writable");
        let err = load_err(dir.path());
        assert!(
            err.contains("not a safetensors file") && err.contains("model.safetensors"),
            "{err}"
        );
    }
}

/// Every encoder parameter has a depth (embeddings 0, layer i at i + 1), in visiting order.
#[test]
fn encoder_parameter_depths_cover_every_parameter_in_order() {
    let loaded = QaModel::<B>::load_dir(&fixture("tiny-bert-qa"), &Default::default()).unwrap();
    let encoder = loaded.model.encoder();
    let depths = encoder.parameter_depths();
    assert_eq!(
        depths.len(),
        odqa_reader::encoder::param_tensor_count(encoder)
    );
    assert_eq!(depths.iter().max(), Some(&2), "two layers");
    assert!(depths.windows(2).all(|w| w[0] <= w[1]), "{depths:?}");
    for depth in 0..=2 {
        assert!(depths.contains(&depth), "{depths:?}");
    }
}
