//! Packing and unpacking safetensors files: exact round trips, base references, and damaged or
//! mismatched inputs refused with the file named.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use half::f16;
use odqa_pack::{pack, sha256_hex, unpack, PackError};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

/// Little-endian bytes of f32 values.
fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Float16 bytes of `d · k` for codes k, as a Q4_0 dequantiser stores them.
fn dequantised(n: usize, seed: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for block in 0..n / 32 {
        let d = f16::from_f32(0.001 * (1 + (block as u32 * 7 + seed) % 50) as f32).to_f32();
        for i in 0..32u32 {
            let k = ((i * 5 + block as u32 + seed) % 16) as i32 - 8;
            out.extend(f16::from_f32(d * k as f32).to_bits().to_le_bytes());
        }
    }
    out
}

/// Writes a safetensors file of `(name, dtype, shape, bytes)` tensors.
fn write_safetensors(path: &Path, tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            (
                name.to_string(),
                TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

/// An "encoder" checkpoint: a dequantised f16 matrix, an f16 LayerNorm, an f16 tensor of 40 values.
fn encoder(dir: &Path) -> PathBuf {
    let path = dir.join("encoder.safetensors");
    let norm: Vec<u8> = (0..64)
        .flat_map(|i| f16::from_f32(1.0 + i as f32 * 1e-3).to_bits().to_le_bytes())
        .collect();
    let odd: Vec<u8> = (0..40)
        .flat_map(|i| f16::from_f32(i as f32).to_bits().to_le_bytes())
        .collect();
    write_safetensors(
        &path,
        &[
            (
                "embeddings.word_embeddings.weight",
                Dtype::F16,
                vec![8, 64],
                dequantised(512, 1),
            ),
            (
                "layer.0.dense.weight",
                Dtype::F16,
                vec![64, 32],
                dequantised(2048, 3),
            ),
            ("layer.0.LayerNorm.weight", Dtype::F16, vec![64], norm),
            ("odd", Dtype::F16, vec![40], odd),
        ],
    );
    path
}

#[test]
fn an_f16_checkpoint_round_trips_bit_for_bit_and_packs_smaller() {
    let dir = tempfile::tempdir().unwrap();
    let src = encoder(dir.path());
    let packed = dir.path().join("encoder.odqapack");
    let summary = pack(&src, None, &packed, 3).unwrap();
    let original = std::fs::read(&src).unwrap();
    assert_eq!(summary.sha256, sha256_hex(&original));
    assert_eq!(summary.q4_tensors, 4);
    // 16 + 64 dequantised blocks coded; the LayerNorm's 2 blocks and "odd"'s one block kept raw.
    assert_eq!((summary.coded_blocks, summary.raw_blocks), (80, 3));
    assert!(summary.packed_bytes * 2 < original.len(), "{summary:?}");
    let restored = dir.path().join("restored.safetensors");
    let unpacked = unpack(&packed, None, &restored).unwrap();
    assert_eq!(std::fs::read(&restored).unwrap(), original);
    assert_eq!(unpacked.sha256, summary.sha256);
}

#[test]
fn a_fine_tuned_checkpoint_refers_to_its_frozen_base_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let base = encoder(dir.path());
    // Saved in f32 after training, with the QA model's `bert.` prefix: the frozen word embeddings
    // are the base's values widened, the dense weight changed, a head tensor is new.
    let words: Vec<f32> = dequantised(512, 1)
        .chunks_exact(2)
        .map(|c| f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32())
        .collect();
    let dense: Vec<f32> = (0..2048).map(|i| (i as f32 * 0.37).sin()).collect();
    let tuned = dir.path().join("tuned.safetensors");
    write_safetensors(
        &tuned,
        &[
            (
                "embeddings.word_embeddings.weight",
                Dtype::F32,
                vec![8, 64],
                f32_bytes(&words),
            ),
            (
                "layer.0.dense.weight",
                Dtype::F32,
                vec![64, 32],
                f32_bytes(&dense),
            ),
            (
                "qa_outputs.weight",
                Dtype::F32,
                vec![2, 64],
                f32_bytes(&[0.5; 128]),
            ),
        ],
    );
    let packed = dir.path().join("tuned.odqapack");
    let summary = pack(&tuned, Some(&base), &packed, 3).unwrap();
    // Embeddings from the base, the dense weight as its XOR with the base's, the head as it is.
    assert_eq!(
        (
            summary.base_tensors,
            summary.xor_tensors,
            summary.raw_tensors
        ),
        (1, 1, 1)
    );

    let restored = dir.path().join("restored.safetensors");
    let err = unpack(&packed, None, &restored).unwrap_err();
    assert!(matches!(err, PackError::BaseRequired { .. }), "{err}");
    let other = dir.path().join("other.safetensors");
    write_safetensors(&other, &[("x", Dtype::F32, vec![1], f32_bytes(&[1.0]))]);
    let err = unpack(&packed, Some(&other), &restored).unwrap_err();
    assert!(matches!(err, PackError::BaseMismatch { .. }), "{err}");
    assert!(err.to_string().contains("other.safetensors"), "{err}");
    assert!(!restored.exists());

    unpack(&packed, Some(&base), &restored).unwrap();
    assert_eq!(
        std::fs::read(&restored).unwrap(),
        std::fs::read(&tuned).unwrap()
    );
}

#[test]
fn damaged_or_foreign_files_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let src = encoder(dir.path());
    let packed = dir.path().join("encoder.odqapack");
    pack(&src, None, &packed, 3).unwrap();
    let bytes = std::fs::read(&packed).unwrap();
    let restored = dir.path().join("restored.safetensors");

    // Cut off inside the compressed body.
    let cut = dir.path().join("cut.odqapack");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let err = unpack(&cut, None, &restored).unwrap_err();
    assert!(matches!(err, PackError::NotPacked { .. }), "{err}");
    assert!(err.to_string().contains("cut.odqapack"), "{err}");

    // The recorded hash changed: the restored bytes no longer match it.
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let sha = sha256_hex(&std::fs::read(&src).unwrap());
    let at = text.find(&sha).expect("manifest holds the sha256");
    let mut tampered = bytes.clone();
    tampered[at] = if tampered[at] == b'0' { b'1' } else { b'0' };
    let bad = dir.path().join("bad.odqapack");
    std::fs::write(&bad, &tampered).unwrap();
    let err = unpack(&bad, None, &restored).unwrap_err();
    assert!(matches!(err, PackError::HashMismatch { .. }), "{err}");

    // Not a packed file; not a safetensors file.
    let err = unpack(&src, None, &restored).unwrap_err();
    assert!(matches!(err, PackError::NotPacked { .. }), "{err}");
    let err = pack(&packed, None, &dir.path().join("x.odqapack"), 3).unwrap_err();
    assert!(matches!(err, PackError::NotSafetensors { .. }), "{err}");
    assert!(err.is_bad_input());
    assert!(!restored.exists());
}
