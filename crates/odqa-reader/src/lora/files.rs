//! Model directories that are LoRA adapters: finding the base they name, checking it is the base
//! they were trained on, applying their tensors to a loaded model, and writing them.

use std::io::Read;
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::prelude::*;
use sha2::{Digest, Sha256};

use super::adapter::{AdapterConfig, ADAPTER_CONFIG, ADAPTER_WEIGHTS, PEFT_PREFIX};
use super::{LoraPair, LoraSpec};
use crate::config::{HeadKind, ReaderConfig};
use crate::error::{ReaderError, Result};
use crate::model::{check_model_dir, head_kind_of, QaModel};
use crate::model_files::{weights_file, TokenizerFiles};
use crate::params::{Loader, Saver};
use crate::weights::{Checkpoint, CheckpointWriter, ParamVisitor, StoredType};

/// Where a model is: a model directory, or a LoRA adapter directory and, optionally, the base to
/// apply it to (instead of the one its configuration names).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelSource {
    /// The model or adapter directory.
    pub dir: PathBuf,
    /// The adapter's base model directory, overriding `base_model_name_or_path`.
    pub base: Option<PathBuf>,
    /// Accept a base whose sha256 differs from the one the adapter recorded (with a warning).
    pub base_mismatch_ok: bool,
}

impl ModelSource {
    /// The model in `dir`, its base (if an adapter) found from its configuration.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ModelSource {
            dir: dir.into(),
            ..Self::default()
        }
    }
}

impl From<&Path> for ModelSource {
    fn from(dir: &Path) -> Self {
        ModelSource::new(dir)
    }
}

impl From<&PathBuf> for ModelSource {
    fn from(dir: &PathBuf) -> Self {
        ModelSource::new(dir)
    }
}

impl From<&ModelSource> for ModelSource {
    fn from(source: &ModelSource) -> Self {
        source.clone()
    }
}

/// An adapter directory, read.
#[derive(Debug, Clone)]
pub struct AdapterDir {
    /// The directory.
    pub dir: PathBuf,
    /// Its `adapter_config.json`.
    pub config: AdapterConfig,
    /// The update it describes.
    pub spec: LoraSpec,
    /// The base model directory it is applied to.
    pub base: PathBuf,
}

/// A model directory as found: where the full checkpoint and the tokenizer are, and the adapter
/// to apply, if the directory is one.
#[derive(Debug, Clone)]
pub struct ModelDir {
    /// The directory holding `config.json` and the weights (the base, for an adapter).
    pub weights: PathBuf,
    /// The tokenizer to read with (the adapter's own, else the base's).
    pub tokenizer: TokenizerFiles,
    /// The adapter, when the directory is one.
    pub adapter: Option<AdapterDir>,
    /// Things accepted that the user should hear about (a base other than the recorded one).
    pub warnings: Vec<String>,
    /// The sha256 of the weights file ([`weights_file`]), when opening computed it (to check an
    /// adapter's base).
    pub base_sha256: Option<String>,
}

impl ModelDir {
    /// The sha256 of the weights file (computed once: reused when opening
    /// computed it).
    pub fn weights_sha256(&self) -> Result<String> {
        match &self.base_sha256 {
            Some(sha) => Ok(sha.clone()),
            None => file_sha256(&weights_file(&self.weights)),
        }
    }

    /// The model's configuration: the weights' `config.json`, with an adapter's head keys laid
    /// over it.
    pub fn read_config(&self) -> Result<ReaderConfig> {
        let overlay = match &self.adapter {
            Some(adapter) => adapter.config.odqa_head_config.clone().unwrap_or_default(),
            None => Default::default(),
        };
        ReaderConfig::read_overlaid(&self.weights.join("config.json"), &overlay)
    }

    /// The kind of head stored: the adapter's when it holds one, else the weights' (`None` for
    /// an encoder-only model), from the safetensors headers only.
    pub fn stored_head(&self) -> Result<Option<HeadKind>> {
        if let Some(adapter) = &self.adapter {
            let ckpt = Checkpoint::open(&adapter.dir.join(ADAPTER_WEIGHTS))?;
            let names = ckpt.unused();
            let kind = head_kind_of(names.iter().filter_map(|n| n.strip_prefix(PEFT_PREFIX)));
            if kind.is_some() {
                return Ok(kind);
            }
        }
        crate::model::stored_head_kind(&self.weights)
    }
}

/// Whether `dir` is a LoRA adapter directory (it holds `adapter_config.json`).
pub fn is_adapter_dir(dir: &Path) -> bool {
    dir.join(ADAPTER_CONFIG).is_file()
}

/// Finds what `source` names: a full model directory as it is, or an adapter with its base
/// (given, else `base_model_name_or_path` resolved against the adapter directory, else against
/// the current directory), after checking the base's sha256 against the recorded one.
pub fn open_model_dir(source: &ModelSource) -> Result<ModelDir> {
    let dir = &source.dir;
    check_model_dir(dir)?;
    if !is_adapter_dir(dir) {
        if let Some(base) = &source.base {
            return Err(ReaderError::BadInput(format!(
                "{} is a full model, not a LoRA adapter: a base model ({}) applies only to an \
                 adapter directory (one holding {ADAPTER_CONFIG})",
                dir.display(),
                base.display()
            )));
        }
        return Ok(ModelDir {
            weights: dir.clone(),
            tokenizer: TokenizerFiles::in_dir(dir),
            adapter: None,
            warnings: Vec::new(),
            base_sha256: None,
        });
    }
    let config_path = dir.join(ADAPTER_CONFIG);
    let (config, spec) = AdapterConfig::read(&config_path)?;
    let base = resolve_base(dir, &config, source.base.as_deref())?;
    let mut warnings = Vec::new();
    let mut base_sha256 = None;
    if let Some(recorded) = &config.odqa_base_sha256 {
        let found = base_sha256.insert(file_sha256(&weights_file(&base))?);
        if found != recorded {
            let message = format!(
                "the base {} (weights sha256 {found}) is not the one the adapter was \
                 trained on (sha256 {recorded}, recorded in {})",
                base.display(),
                config_path.display()
            );
            if !source.base_mismatch_ok {
                return Err(ReaderError::BadInput(format!(
                    "{message}; give the right base, or accept this one explicitly"
                )));
            }
            warnings.push(message);
        }
    }
    let own_tokenizer = TokenizerFiles::in_dir(dir);
    Ok(ModelDir {
        tokenizer: if own_tokenizer.is_present() {
            own_tokenizer
        } else {
            TokenizerFiles::in_dir(&base)
        },
        adapter: Some(AdapterDir {
            dir: dir.clone(),
            config,
            spec,
            base: base.clone(),
        }),
        weights: base,
        warnings,
        base_sha256,
    })
}

/// The base directory of the adapter in `dir`: `given`, else its `base_model_name_or_path`
/// relative to `dir`, else as written (relative to the current directory).
fn resolve_base(dir: &Path, config: &AdapterConfig, given: Option<&Path>) -> Result<PathBuf> {
    let base =
        match (given, &config.base_model_name_or_path) {
            (Some(given), _) => given.to_path_buf(),
            (None, Some(name)) => {
                let candidates = [dir.join(name), PathBuf::from(name)];
                match candidates.iter().find(|c| c.join("config.json").is_file()) {
                    Some(found) => found.clone(),
                    None => {
                        return Err(ReaderError::BadInput(format!(
                            "{}: the adapter's base {name:?} is not a model directory (looked for \
                         {} and {}); download it or give its directory explicitly",
                            dir.join(ADAPTER_CONFIG).display(),
                            candidates[0].join("config.json").display(),
                            candidates[1].join("config.json").display()
                        )))
                    }
                }
            }
            (None, None) => return Err(ReaderError::bad_model(
                dir.join(ADAPTER_CONFIG),
                "no base_model_name_or_path: give the adapter's base model directory explicitly",
            )),
        };
    check_model_dir(&base)?;
    if is_adapter_dir(&base) {
        return Err(ReaderError::BadInput(format!(
            "{}: the base of an adapter must be a full model, not another adapter",
            base.display()
        )));
    }
    Ok(base)
}

/// The sha256 of a file, lowercase hex.
pub fn file_sha256(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| ReaderError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| ReaderError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// A visitor that forwards to `inner` with every name under `prefix` (PEFT's
/// `base_model.model.`).
struct Prefixed<'p, V> {
    prefix: &'p str,
    inner: V,
}

impl<B: Backend, V: ParamVisitor<B>> ParamVisitor<B> for Prefixed<'_, V> {
    fn tensor<const D: usize>(
        &mut self,
        name: &str,
        param: &mut Param<Tensor<B, D>>,
        shape: [usize; D],
    ) -> Result<()> {
        self.inner
            .tensor(&format!("{}{name}", self.prefix), param, shape)
    }

    fn transposed(
        &mut self,
        name: &str,
        param: &mut Param<Tensor<B, 2>>,
        stored: [usize; 2],
    ) -> Result<()> {
        self.inner
            .transposed(&format!("{}{name}", self.prefix), param, stored)
    }
}

/// The encoder prefix (`bert.`, `roberta.` or none) of an adapter file's tensor names.
fn adapter_encoder_prefix(ckpt: &Checkpoint) -> &'static str {
    ["bert.", "roberta."]
        .into_iter()
        .find(|p| ckpt.holds_prefix(&format!("{PEFT_PREFIX}{p}")))
        .unwrap_or("")
}

/// What applying an adapter found.
pub(crate) struct Applied {
    /// The adapter held the head (otherwise the base's, or a fresh one, stays).
    pub(crate) head: bool,
}

/// Applies the adapter in `adapter` to `model` (loaded from its base with `config`): attaches its
/// updates (unmerged), replaces the LayerNorms and the head it stores. Missing, mis-shaped or
/// unexpected tensors are errors naming the tensor.
pub(crate) fn apply_adapter<B: Backend>(
    model: &mut QaModel<B>,
    config: &ReaderConfig,
    adapter: &AdapterDir,
    device: &B::Device,
) -> Result<Applied> {
    let mut ckpt = Checkpoint::open(&adapter.dir.join(ADAPTER_WEIGHTS))?;
    let prefix = adapter_encoder_prefix(&ckpt);
    let spec = &adapter.spec;
    let layer_norms = spec.layer_norms
        || ckpt
            .unused()
            .iter()
            .any(|n| n.ends_with("LayerNorm.weight"));
    let stored_head = head_kind_of(
        ckpt.unused()
            .iter()
            .filter_map(|n| n.strip_prefix(PEFT_PREFIX)),
    );
    if let Some(stored) = stored_head.filter(|k| *k != config.head()) {
        return Err(ReaderError::bad_model(
            ckpt.path(),
            format!(
                "the adapter holds a {stored} head but its configuration asks for a {} head",
                config.head()
            ),
        ));
    }
    let (encoder, head) = model.parts_mut();
    let (r, scale) = (spec.rank, spec.scale());
    // A target matching no layer of this model has no tensors to load: nothing to apply.
    encoder.attach_lora(config, spec, prefix, |_, d_in, d_out| {
        LoraPair::zeros(d_in, d_out, r, scale, device)
    });
    let mut loader = Prefixed {
        prefix: PEFT_PREFIX,
        inner: Loader::new(&mut ckpt, device),
    };
    encoder.visit_adapter_params(config, &mut loader, prefix, layer_norms)?;
    if stored_head.is_some() {
        *head = crate::head::QaHead::skeleton(config, device);
        head.visit_params(config, &mut loader)?;
    }
    let unused = ckpt.unused();
    if !unused.is_empty() {
        crate::model::check_unused(&ckpt, &unused, config.head())?;
    }
    Ok(Applied {
        head: stored_head.is_some(),
    })
}

/// Writes the adapter of `model` (its updates, its LayerNorms when `spec.layer_norms`, its head)
/// into `dir` as PEFT does (`adapter_model.safetensors`, f32, and `adapter_config.json`), each
/// file through a temporary one renamed into place. `base` is written as
/// `base_model_name_or_path`, `base_sha256` as `odqa_base_sha256`.
pub fn save_adapter_dir<B: Backend>(
    model: &QaModel<B>,
    config: &ReaderConfig,
    spec: &LoraSpec,
    base: Option<String>,
    base_sha256: Option<String>,
    dir: &Path,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| ReaderError::io(dir, e))?;
    let prefix = crate::model::save_prefix(config, "");
    let mut w = CheckpointWriter::default();
    let (mut encoder, mut head) = (model.encoder().clone(), model.head().clone());
    let mut saver = Prefixed {
        prefix: PEFT_PREFIX,
        inner: Saver::new(&mut w),
    };
    encoder.visit_adapter_params(config, &mut saver, prefix, spec.layer_norms)?;
    head.visit_params(config, &mut saver)?;
    // PEFT's own QA head; odqa's CNN tensors sit beside it in the file, outside
    // `modules_to_save` (PEFT looks those modules up in the base and has no CNN head).
    let mut modules = vec!["qa_outputs".to_string()];
    if spec.layer_norms {
        modules.push("LayerNorm".into());
    }
    let adapter = AdapterConfig::new(spec, base, base_sha256, config.head_keys(), modules);
    let tmp = dir.join(format!(".{ADAPTER_WEIGHTS}.tmp"));
    w.write(&tmp, StoredType::F32)?;
    let target = dir.join(ADAPTER_WEIGHTS);
    std::fs::rename(&tmp, &target).map_err(|e| ReaderError::io(&target, e))?;
    adapter.write(&dir.join(ADAPTER_CONFIG))
}
