//! `pytorch_model.bin` through [`Checkpoint::open`]: every tensor of a `torch.save` state dict
//! (f32 / f16 / bf16, Parameters, views with strides and offsets, tied names, tensors with
//! attributes) equals its
//! safetensors copy bit for bit; [`convert_to_safetensors`] writes the stored bytes; and each
//! file that is not a plain state dict is refused with the reason, running nothing
//! (tests/fixtures/pytorch-bin/README.md).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use burn::backend::Flex;
use odqa_reader::weights::{
    convert_to_safetensors, Checkpoint, CheckpointFormat, StoredType, ENCODER_PREFIXES,
};
use odqa_reader::ReaderError;
use safetensors::SafeTensors;

type B = Flex;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/pytorch-bin")
        .join(name)
}

/// The error opening `name` gives: a bad model (exit status 2), naming the file.
fn refused(name: &str) -> String {
    let path = fixture(name);
    let err = match Checkpoint::open(&path) {
        Ok(_) => panic!("{name} should be refused"),
        Err(e) => e,
    };
    assert!(
        matches!(&err, ReaderError::BadModel { path: p, .. } if *p == path) && err.is_bad_input(),
        "{err:?}"
    );
    err.to_string()
}

/// [`refused`], checking that the message says each of `parts`.
fn refused_saying(name: &str, parts: &[&str]) {
    let err = refused(name);
    for part in parts {
        assert!(err.contains(part), "{name}: {err}\nshould say: {part}");
    }
}

/// Every tensor left in `c`, sorted by name, as f32 bits.
fn all_bits(c: &mut Checkpoint) -> Vec<(String, Vec<usize>, Vec<u32>)> {
    let device = Default::default();
    c.unused()
        .into_iter()
        .map(|name| {
            let shape = c.shape_of(&name).unwrap().to_vec();
            let values: Vec<f32> = match shape.len() {
                1 => c
                    .tensor::<B, 1>(&name, [shape[0]], &device)
                    .unwrap()
                    .into_data(),
                2 => c
                    .tensor::<B, 2>(&name, [shape[0], shape[1]], &device)
                    .unwrap()
                    .into_data(),
                n => panic!("rank {n}"),
            }
            .to_vec()
            .unwrap();
            (name, shape, values.iter().map(|x| x.to_bits()).collect())
        })
        .collect()
}

#[test]
fn state_dict_tensors_equal_their_safetensors_copy_bit_for_bit() {
    let mut bin = Checkpoint::open(&fixture("state-dict.bin")).unwrap();
    let mut expected = Checkpoint::open(&fixture("expected.safetensors")).unwrap();
    assert_eq!(bin.format(), CheckpointFormat::Pytorch);
    assert_eq!(expected.format(), CheckpointFormat::Safetensors);
    // The first tensor saved is the f32 Parameter.
    assert_eq!(bin.stored_type, StoredType::F32);
    assert_eq!(ENCODER_PREFIXES, ["bert.", "roberta.", "electra."]);
    assert_eq!(bin.encoder_prefix, "electra.");
    assert_eq!(expected.encoder_prefix, "electra.");
    assert_eq!(bin.skipped(), ["electra.embeddings.position_ids"]);
    assert_eq!(expected.skipped(), bin.skipped());
    let names = bin.unused();
    for name in [
        "electra.transposed",
        "electra.tied",
        "electra.base",
        "electra.offset",
        "electra.strided",
        "electra.half",
        "electra.bfloat",
        "electra.stateful",
        "electra.tagged",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    assert_eq!(bin.shape_of("electra.transposed"), Some(&[4, 3][..]));
    assert_eq!(bin.shape_of("electra.strided"), Some(&[2, 3][..]));
    let (got, want) = (all_bits(&mut bin), all_bits(&mut expected));
    assert_eq!(got.len(), 10);
    for ((name, shape, bits), (want_name, want_shape, want_bits)) in got.iter().zip(&want) {
        assert_eq!((name, shape), (want_name, want_shape));
        assert_eq!(bits, want_bits, "{name}");
    }
    assert!(bin.unused().is_empty());
}

#[test]
fn tied_names_and_a_transpose_share_one_storage_and_all_load() {
    let mut bin = Checkpoint::open(&fixture("state-dict.bin")).unwrap();
    let mut take = |name: &str, shape: [usize; 2]| -> Vec<f32> {
        let t = bin.tensor::<B, 2>(name, shape, &Default::default());
        t.unwrap().into_data().to_vec().unwrap()
    };
    let base = take("electra.base", [3, 4]);
    // Taking one name leaves the other, which reads the same storage.
    let tied = take("electra.tied", [3, 4]);
    let transposed = take("electra.transposed", [4, 3]);
    assert_eq!(base, tied);
    for (r, row) in base.chunks(4).enumerate() {
        for (c, x) in row.iter().enumerate() {
            assert_eq!(transposed[c * 3 + r].to_bits(), x.to_bits());
        }
    }
}

/// Every tensor of a safetensors file: name → (dtype, shape, bytes).
fn tensors_of(path: &Path) -> Vec<(String, String, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(name, t)| {
            (
                name,
                format!("{:?}", t.dtype()),
                t.shape().to_vec(),
                t.data().to_vec(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn convert_writes_every_float_tensor_as_stored() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("model.safetensors");
    let summary = convert_to_safetensors(&fixture("state-dict.bin"), &dst).unwrap();
    assert_eq!(summary.source_format, CheckpointFormat::Pytorch);
    assert_eq!(summary.tensors, 10);
    assert_eq!(summary.skipped, ["electra.embeddings.position_ids"]);
    let mut want = tensors_of(&fixture("expected.safetensors"));
    want.retain(|t| !t.0.ends_with("position_ids"));
    assert_eq!(tensors_of(&dst), want);
    let data: usize = want.iter().map(|t| t.3.len()).sum();
    assert_eq!(summary.data_bytes, data as u64);
    let bytes = std::fs::read(&dst).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(
        meta.metadata()
            .as_ref()
            .and_then(|m| m.get("format"))
            .map(String::as_str),
        Some("pt")
    );

    // An existing destination is refused and left as it was; no temporary file stays behind.
    let again = convert_to_safetensors(&fixture("state-dict.bin"), &dst).unwrap_err();
    assert!(again.to_string().contains("already exists"), "{again}");
    assert_eq!(std::fs::read(&dst).unwrap(), bytes);
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1);

    // A safetensors source converts to the same tensors; a refused source writes nothing.
    let copy = dir.path().join("copy.safetensors");
    let summary = convert_to_safetensors(&fixture("expected.safetensors"), &copy).unwrap();
    assert_eq!(summary.source_format, CheckpointFormat::Safetensors);
    assert_eq!(tensors_of(&copy), want);
    let evil = dir.path().join("evil.safetensors");
    assert!(convert_to_safetensors(&fixture("evil.bin"), &evil).is_err());
    assert!(!evil.exists());
}

#[test]
fn a_pickle_calling_os_system_is_refused_and_nothing_runs() {
    let marker = Path::new("/tmp/odqa-pwned");
    let _ = std::fs::remove_file(marker);
    let err = refused("evil.bin");
    assert!(
        err.ends_with(
            "evil.bin: refusing to load: the pickle references posix.system, which is not part \
             of a PyTorch state dict (nothing was run)"
        ),
        "{err}"
    );
    assert!(!marker.exists(), "the pickle's command ran");
}

#[test]
fn a_pickled_module_is_refused_naming_its_class() {
    refused_saying(
        "module.bin",
        &["the pickle references torch.nn.modules.linear.Linear"],
    );
}

#[test]
fn what_is_not_a_dict_of_tensors_is_not_a_state_dict() {
    refused_saying(
        "not-a-state-dict.bin",
        &["not a state dict: the pickle holds a list"],
    );
    refused_saying(
        "training-checkpoint.bin",
        &["not a state dict: its dict holds no tensors (keys: epoch, state_dict)"],
    );
}

#[test]
fn other_types_are_named_with_their_tensor() {
    refused_saying("float64.bin", &["tensor weight: unsupported type float64"]);
    refused_saying("uint16.bin", &["tensor weight: unsupported type uint16"]);
}

#[test]
fn a_storage_shorter_than_its_tensor_is_an_error_naming_it() {
    refused_saying(
        "short-storage.bin",
        &[
            "tensor electra.embeddings.word_embeddings.weight: its storage",
            "holds 12 elements",
            "reaches element 20",
        ],
    );
}

#[test]
fn an_expanded_view_is_refused_before_it_is_gathered() {
    // Gathering it would take 4 TiB; its storage holds one element.
    refused_saying("expanded.bin", &["has 1099511627776 elements", "holds 1"]);
}

#[test]
fn damaged_or_foreign_files_say_what_they_are() {
    refused_saying("truncated.bin", &["damaged or truncated zip archive"]);
    refused_saying("compressed.bin", &["is compressed"]);
    refused_saying("big-endian.bin", &["stored big (byteorder)"]);
    refused_saying(
        "not-zip.bin",
        &["not a safetensors file", "nor a PyTorch checkpoint"],
    );
}

#[test]
fn the_legacy_format_says_how_to_resave() {
    refused_saying(
        "legacy.bin",
        &[
            "legacy checkpoint format (torch < 1.6)",
            "odqa model convert",
        ],
    );
}
