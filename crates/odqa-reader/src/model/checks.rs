//! What a checkpoint holds, read from its header, and the checks a loaded model passes: the head
//! kind stored, a model path that is a directory, no tensor left unused.

use std::path::Path;

use crate::config::{HeadKind, ReaderConfig};
use crate::error::{ReaderError, Result};
use crate::model_files::weights_file;
use crate::weights::{Checkpoint, ENCODER_PREFIXES};

/// Tensors of other Hugging Face heads that a QA reader does not use (pooler, MLM/NSP heads,
/// ELECTRA's discriminator and generator heads);
/// they are skipped and reported in [`LoadedModel::ignored`].
pub(crate) fn is_other_head_tensor(name: &str) -> bool {
    let name = ENCODER_PREFIXES
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name);
    [
        "pooler.",
        "cls.",
        "lm_head.",
        "discriminator_predictions.",
        "generator_",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// Names of head tensors; a checkpoint with none of them is encoder-only.
pub(crate) fn is_head_tensor(name: &str) -> bool {
    name.starts_with("qa_outputs.")
        || name.starts_with("conv1.")
        || name.starts_with("conv2.")
        || name.starts_with("layer_norm.")
        || name.starts_with("cnn_blocks.")
}

/// The kind of head that tensors `names` hold: CNN when any CNN tensor is there, linear when only
/// `qa_outputs` is, `None` for an encoder-only checkpoint.
pub(crate) fn head_kind_of<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<HeadKind> {
    let mut kind = None;
    for name in names.into_iter().filter(|n| is_head_tensor(n)) {
        if !name.starts_with("qa_outputs.") {
            return Some(HeadKind::Cnn);
        }
        kind = Some(HeadKind::Linear);
    }
    kind
}

/// The kind of head stored in a model directory's checkpoint (`None` for an encoder-only
/// checkpoint), from the tensor names of its header (safetensors) or pickle (PyTorch) alone.
pub fn stored_head_kind(dir: &Path) -> Result<Option<HeadKind>> {
    let names = Checkpoint::open(&weights_file(dir))?.unused();
    Ok(head_kind_of(names.iter().map(String::as_str)))
}

/// A model path that exists but is not a directory (a file given as the model) is refused by
/// name; a missing one is left to the `config.json` read, which names the file.
pub fn check_model_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(ReaderError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    Ok(())
}

/// A stored head of another kind than the configured one (or than `asked`, when a kind was
/// forced) is an error naming both kinds.
pub(crate) fn check_head_kind(
    stored: Option<HeadKind>,
    config: &ReaderConfig,
    asked: Option<HeadKind>,
    path: &Path,
) -> Result<()> {
    let Some(stored) = stored.filter(|k| *k != config.head()) else {
        return Ok(());
    };
    Err(ReaderError::bad_model(
        path,
        match asked {
            Some(asked) => format!(
                "the checkpoint holds a trained {stored} head but a {asked} head was asked \
                 for; ask for the {stored} head (or start from an encoder-only checkpoint)"
            ),
            None => format!(
                "the checkpoint holds a {stored} head but config.json asks for a {} head \
                 (\"odqa_head\"); set \"odqa_head\": \"{stored}\"",
                config.head()
            ),
        },
    ))
}

/// Tensors left after loading (other than other heads') are an error listing the first five.
pub(crate) fn check_unused(ckpt: &Checkpoint, unused: &[String], head: HeadKind) -> Result<()> {
    if unused.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = unused
        .iter()
        .take(5)
        .map(|n| format!("{n} {:?}", ckpt.shape_of(n).unwrap_or_default()))
        .collect();
    Err(ReaderError::bad_model(
        ckpt.path(),
        format!(
            "{} unexpected tensor(s) for a {head} head: {}{}",
            unused.len(),
            listed.join(", "),
            if unused.len() > 5 { ", …" } else { "" }
        ),
    ))
}
