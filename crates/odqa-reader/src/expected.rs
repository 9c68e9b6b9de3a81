//! The tensors a configuration needs, by checkpoint name and PyTorch shape, checked against the
//! checkpoint's header before the model allocates anything: a `config.json` that disagrees with
//! `model.safetensors` (more layers than it holds, other sizes) is an error naming the first
//! missing or mis-shaped tensor, never an allocation of the configured size.

use crate::config::ReaderConfig;
use crate::error::{ReaderError, Result};
use crate::head::{block_count, block_prefix};
use crate::weights::Checkpoint;

/// A tensor name and its shape as stored (PyTorch layout: Linear weights `[out, in]`).
type Expected = (String, Vec<usize>);

/// The embedding tables and their LayerNorm, under `prefix`.
fn embedding_tensors(c: &ReaderConfig, prefix: &str) -> Vec<Expected> {
    let h = c.hidden_size;
    let p = |s: &str| format!("{prefix}embeddings.{s}");
    vec![
        (p("word_embeddings.weight"), vec![c.vocab_size, h]),
        (
            p("position_embeddings.weight"),
            vec![c.max_position_embeddings, h],
        ),
        (
            p("token_type_embeddings.weight"),
            vec![c.type_vocab_size, h],
        ),
        (p("LayerNorm.weight"), vec![h]),
        (p("LayerNorm.bias"), vec![h]),
    ]
}

/// The tensors of encoder layer `i`, under `prefix`.
fn layer_tensors(c: &ReaderConfig, prefix: &str, i: usize) -> Vec<Expected> {
    let (h, f) = (c.hidden_size, c.intermediate_size);
    let l = |s: &str| format!("{prefix}encoder.layer.{i}.{s}");
    let mut out = Vec::with_capacity(16);
    for (name, d_in, d_out) in [
        ("attention.self.query", h, h),
        ("attention.self.key", h, h),
        ("attention.self.value", h, h),
        ("attention.output.dense", h, h),
        ("intermediate.dense", h, f),
        ("output.dense", f, h),
    ] {
        out.push((l(&format!("{name}.weight")), vec![d_out, d_in]));
        out.push((l(&format!("{name}.bias")), vec![d_out]));
    }
    for name in ["attention.output.LayerNorm", "output.LayerNorm"] {
        out.push((l(&format!("{name}.weight")), vec![h]));
        out.push((l(&format!("{name}.bias")), vec![h]));
    }
    out
}

/// The head's tensors: the CNN blocks (none for the linear head), then `qa_outputs`.
fn head_tensors(c: &ReaderConfig) -> Vec<Expected> {
    let (h, ch, k) = (c.hidden_size, c.cnn_channels, c.cnn_kernel_size);
    let mut out = Vec::new();
    for i in 0..block_count(c) {
        let p = block_prefix(c, i);
        out.push((format!("{p}conv1.weight"), vec![ch, h, k]));
        out.push((format!("{p}conv1.bias"), vec![ch]));
        out.push((format!("{p}conv2.weight"), vec![h, ch, 1]));
        out.push((format!("{p}conv2.bias"), vec![h]));
        out.push((format!("{p}layer_norm.weight"), vec![h]));
        out.push((format!("{p}layer_norm.bias"), vec![h]));
    }
    out.push(("qa_outputs.weight".into(), vec![2, h]));
    out.push(("qa_outputs.bias".into(), vec![2]));
    out
}

/// Every tensor of `expected` is in `ckpt` with its shape.
fn check_all(ckpt: &Checkpoint, expected: Vec<Expected>) -> Result<()> {
    expected
        .iter()
        .try_for_each(|(name, shape)| ckpt.expect(name, shape))
}

/// The encoder's tensors (embeddings and `num_hidden_layers` layers under `prefix`) are all in
/// `ckpt` with the configured shapes. A layer the checkpoint does not hold at all is named with
/// the configured and the stored layer counts.
pub(crate) fn check_encoder(config: &ReaderConfig, ckpt: &Checkpoint, prefix: &str) -> Result<()> {
    check_all(ckpt, embedding_tensors(config, prefix))?;
    for i in 0..config.num_hidden_layers {
        let tensors = layer_tensors(config, prefix, i);
        if !ckpt.holds_prefix(&format!("{prefix}encoder.layer.{i}.")) {
            let (name, shape) = &tensors[0];
            return Err(ReaderError::bad_model(
                ckpt.path(),
                format!(
                    "missing tensor {name} (expected shape {shape:?}): config.json has \
                     num_hidden_layers = {} but the checkpoint holds {i} layers",
                    config.num_hidden_layers
                ),
            ));
        }
        check_all(ckpt, tensors)?;
    }
    Ok(())
}

/// The head's tensors are all in `ckpt` with the configured shapes.
pub(crate) fn check_head(config: &ReaderConfig, ckpt: &Checkpoint) -> Result<()> {
    check_all(ckpt, head_tensors(config))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// The expected tensors are exactly those of the fixture checkpoints (so they are the ones the
    /// loaders take): same names, same shapes, nothing more.
    #[test]
    fn expected_tensors_are_the_fixture_checkpoints() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/reader-parity");
        for name in ["tiny-bert-qa", "tiny-roberta-qa", "tiny-bert-cnn"] {
            let dir = root.join(name);
            let config = ReaderConfig::read(&dir.join("config.json")).unwrap();
            let ckpt = Checkpoint::open(&dir.join("model.safetensors")).unwrap();
            let prefix = ckpt.encoder_prefix.clone();
            let mut expected = embedding_tensors(&config, &prefix);
            for i in 0..config.num_hidden_layers {
                expected.extend(layer_tensors(&config, &prefix, i));
            }
            expected.extend(head_tensors(&config));
            let mut stored: Vec<Expected> = ckpt
                .unused()
                .into_iter()
                .map(|n| {
                    let shape = ckpt.shape_of(&n).unwrap().to_vec();
                    (n, shape)
                })
                .collect();
            expected.sort();
            stored.sort();
            assert_eq!(expected, stored, "{name}");
        }
    }
}
