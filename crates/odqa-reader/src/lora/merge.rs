//! Merging an adapter into its base: a full model directory that reads exactly as the adapter
//! does.

use std::path::{Path, PathBuf};

use crate::error::{ReaderError, Result};
use crate::fused::ReaderBackend;
use crate::lora::{is_adapter_dir, ModelSource};
use crate::model::{QaModel, FRESH_HEAD_SEED};
use crate::weights::StoredType;

/// What [`merge_adapter`] wrote.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The base the adapter was applied to.
    pub base: PathBuf,
    /// Warnings from loading (e.g. a base accepted although its sha256 differs).
    pub warnings: Vec<String>,
}

/// Writes the adapter `source` names, merged into its base, as a full model directory `out`
/// (`config.json`, `model.safetensors` and the tokenizer's files). The weights are stored in f32, the
/// values the adapter's loading computes, so the merged model's logits are the adapter's bit for
/// bit. `out` is assembled in a hidden sibling directory and renamed into place: a failure
/// leaves nothing at `out`. `out` must not exist yet.
pub fn merge_adapter<B: ReaderBackend>(
    source: &ModelSource,
    out: &Path,
    device: &B::Device,
) -> Result<Merged> {
    if !is_adapter_dir(&source.dir) {
        return Err(ReaderError::BadInput(format!(
            "{} is not a LoRA adapter directory (no adapter_config.json): nothing to merge",
            source.dir.display()
        )));
    }
    if out.exists() {
        return Err(ReaderError::BadInput(format!(
            "{} already exists: merging writes a new model directory",
            out.display()
        )));
    }
    let loaded = QaModel::<B>::load_source(source, None, FRESH_HEAD_SEED, true, device)?;
    let base = loaded
        .adapter
        .as_ref()
        .map(|a| a.base.clone())
        .unwrap_or_default();
    if loaded.fresh_head {
        return Err(ReaderError::BadInput(format!(
            "neither the adapter {} nor its base {} holds a QA head: a merged model would carry a \
             random one",
            source.dir.display(),
            base.display()
        )));
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "merged".into());
    let parent = odqa_core::fsio::parent_dir(out);
    let tmp = parent.join(format!(".{name}.merging-{}", std::process::id()));
    let written = write_merged(&loaded, &tmp)
        .and_then(|()| odqa_core::fsio::rename_new(&tmp, out).map_err(|e| ReaderError::io(out, e)));
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    Ok(Merged {
        base,
        warnings: loaded.warnings,
    })
}

/// The merged model's files in `dir`: config, weights and every tokenizer file.
fn write_merged<B: ReaderBackend>(loaded: &crate::LoadedModel<B>, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| ReaderError::io(dir, e))?;
    loaded
        .model
        .save_dir(&loaded.config, dir, &loaded.encoder_prefix, StoredType::F32)?;
    loaded.tokenizer.copy_into(dir)
}
