//! The tensors a configuration needs, by checkpoint name and PyTorch shape, checked against the
//! checkpoint's header before the model allocates anything: a `config.json` that disagrees with
//! `model.safetensors` (more layers than it holds, other sizes) is an error naming the first
//! missing or mis-shaped tensor, never an allocation of the configured size. The list is the
//! modules' own parameter description ([`Encoder::visit_params`], [`QaHead::visit_params`]) visited by
//! [`Expect`] on a skeleton whose parameters are never allocated.

use burn::prelude::*;

use crate::config::ReaderConfig;
use crate::encoder::{layer_path, Encoder};
use crate::error::{ReaderError, Result};
use crate::head::QaHead;
use crate::params::{Expect, ExpectedTensor};
use crate::weights::Checkpoint;

/// The encoder's tensors under `prefix`, in checkpoint order.
fn encoder_tensors<B: Backend>(
    config: &ReaderConfig,
    prefix: &str,
    device: &B::Device,
) -> Result<Vec<ExpectedTensor>> {
    let mut expect = Expect::default();
    Encoder::<B>::skeleton(config, device).visit_params(config, &mut expect, prefix)?;
    Ok(expect.into_tensors())
}

/// The head's tensors: the CNN blocks (none for the linear head), then `qa_outputs`.
fn head_tensors<B: Backend>(
    config: &ReaderConfig,
    device: &B::Device,
) -> Result<Vec<ExpectedTensor>> {
    let mut expect = Expect::default();
    QaHead::<B>::skeleton(config, device).visit_params(config, &mut expect)?;
    Ok(expect.into_tensors())
}

/// When `name` belongs to an encoder layer the checkpoint holds no tensor of, the error naming it
/// with the configured and the stored layer counts.
fn missing_layer(
    config: &ReaderConfig,
    ckpt: &Checkpoint,
    prefix: &str,
    (name, shape): &ExpectedTensor,
) -> Option<ReaderError> {
    let layers = config.num_hidden_layers;
    // Layers are checked in order, so the layers before this one are all held: `i` of them.
    let i = (0..layers).find(|&i| name.starts_with(&layer_path(prefix, i)))?;
    (!ckpt.holds_prefix(&layer_path(prefix, i))).then(|| {
        ReaderError::bad_model(
            ckpt.path(),
            format!(
                "missing tensor {name} (expected shape {shape:?}): config.json has \
                 num_hidden_layers = {layers} but the checkpoint holds {i} layers"
            ),
        )
    })
}

/// The encoder's tensors (embeddings and `num_hidden_layers` layers under `prefix`) are all in
/// `ckpt` with the configured shapes. A layer the checkpoint does not hold at all is named with
/// the configured and the stored layer counts.
pub(crate) fn check_encoder<B: Backend>(
    config: &ReaderConfig,
    ckpt: &Checkpoint,
    prefix: &str,
    device: &B::Device,
) -> Result<()> {
    encoder_tensors::<B>(config, prefix, device)?
        .iter()
        .try_for_each(|tensor| {
            let (name, shape) = tensor;
            ckpt.expect(name, shape)
                .map_err(|e| missing_layer(config, ckpt, prefix, tensor).unwrap_or(e))
        })
}

/// The head's tensors are all in `ckpt` with the configured shapes.
pub(crate) fn check_head<B: Backend>(
    config: &ReaderConfig,
    ckpt: &Checkpoint,
    device: &B::Device,
) -> Result<()> {
    head_tensors::<B>(config, device)?
        .iter()
        .try_for_each(|(name, shape)| ckpt.expect(name, shape))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::DefaultBackend;

    /// The expected tensors are exactly those of the fixture checkpoints (so they are the ones the
    /// loaders take): same names, same shapes, nothing more.
    #[test]
    fn expected_tensors_are_the_fixture_checkpoints() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/reader-parity");
        let device = Default::default();
        for name in ["tiny-bert-qa", "tiny-roberta-qa", "tiny-bert-cnn"] {
            let dir = root.join(name);
            let config = ReaderConfig::read(&dir.join("config.json")).unwrap();
            let ckpt = Checkpoint::open(&dir.join("model.safetensors")).unwrap();
            let prefix = ckpt.encoder_prefix.clone();
            let mut expected =
                encoder_tensors::<DefaultBackend>(&config, &prefix, &device).unwrap();
            expected.extend(head_tensors::<DefaultBackend>(&config, &device).unwrap());
            let mut stored: Vec<ExpectedTensor> = ckpt
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
