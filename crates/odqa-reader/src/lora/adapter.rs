//! `adapter_config.json`: Hugging Face PEFT's LoRA configuration, with odqa's keys beside PEFT's
//! (PEFT ignores keys it does not know).
//!
//! | key | meaning |
//! |---|---|
//! | `peft_type` | `LORA` (the only type read) |
//! | `task_type` | `QUESTION_ANS` |
//! | `r`, `lora_alpha`, `use_rslora` | rank and scaling: `lora_alpha / r` (rsLoRA: `/ √r`) |
//! | `target_modules` | module names updated (suffix match, as PEFT); `all-linear` |
//! | `modules_to_save` | whole modules stored in the adapter (`qa_outputs`, CNN blocks, LayerNorms) |
//! | `base_model_name_or_path` | the base: a path (relative to the adapter directory) or a hub id |
//! | `odqa_head_config` | the head's `config.json` keys (`odqa_head`, `cnn_*`) laid over the base's |
//! | `odqa_base_sha256` | sha256 of the base's `model.safetensors`; another base is refused |
//! | `odqa_layer_norms` | the LayerNorms were trained (and are stored whole) |
//!
//! Features of PEFT's LoRA that change the arithmetic and are not implemented (DoRA, bias
//! training, per-module ranks, `fan_in_fan_out`, a subset of layers) are refused by name rather than
//! read wrongly.

use std::path::Path;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use super::LoraSpec;
use crate::config::ReaderConfig;
use crate::error::{ReaderError, Result};

/// File name of the adapter's configuration.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// File name of the adapter's tensors.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
/// Prefix of every tensor name in a PEFT adapter file.
pub const PEFT_PREFIX: &str = "base_model.model.";

/// `adapter_config.json` (the keys odqa reads or writes; any other key is kept in `extra`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterConfig {
    /// `LORA`.
    pub peft_type: String,
    /// PEFT's task (`QUESTION_ANS` for a reader).
    #[serde(default)]
    pub task_type: Option<String>,
    /// Rank.
    pub r: usize,
    /// Scaling numerator.
    #[serde(serialize_with = "number")]
    pub lora_alpha: f64,
    /// Dropout on the update's input during training (inference ignores it).
    #[serde(default)]
    pub lora_dropout: f64,
    /// Module names updated (a list; `"all-linear"` as a string).
    #[serde(default)]
    pub target_modules: Value,
    /// Modules stored whole.
    #[serde(default)]
    pub modules_to_save: Option<Vec<String>>,
    /// The base model: a path or a hub id.
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    /// rsLoRA scaling.
    #[serde(default)]
    pub use_rslora: bool,
    /// PEFT's bias training (`none` is the only one read).
    #[serde(default = "bias_none")]
    pub bias: String,
    /// Weights stored `[in, out]` (GPT-2's Conv1D); not read.
    #[serde(default)]
    pub fan_in_fan_out: bool,
    /// DoRA; not read.
    #[serde(default)]
    pub use_dora: bool,
    /// Only some layers adapted; not read.
    #[serde(default)]
    pub layers_to_transform: Option<Value>,
    /// Per-module ranks; not read.
    #[serde(default)]
    pub rank_pattern: Map<String, Value>,
    /// Per-module alphas; not read.
    #[serde(default)]
    pub alpha_pattern: Map<String, Value>,
    /// odqa: the head's configuration keys laid over the base's `config.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub odqa_head_config: Option<Map<String, Value>>,
    /// odqa: sha256 of the base's `model.safetensors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub odqa_base_sha256: Option<String>,
    /// odqa: the LayerNorms trained.
    #[serde(default)]
    pub odqa_layer_norms: bool,
    /// Every other key, kept as it was.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// PEFT keys whose values do not change how a saved adapter is applied (bookkeeping, training
/// initialisation, options of features that are off).
const HARMLESS_OPTIONS: [&str; 8] = [
    "inference_mode",
    "init_lora_weights",
    "peft_version",
    "revision",
    "auto_mapping",
    "megatron_core",
    "qalora_group_size",
    "ensure_weight_tying",
];

fn bias_none() -> String {
    "none".into()
}

/// A whole number as an integer (PEFT writes `lora_alpha: 16`), anything else as a float.
fn number<S: Serializer>(x: &f64, s: S) -> std::result::Result<S::Ok, S::Error> {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        s.serialize_i64(*x as i64)
    } else {
        s.serialize_f64(*x)
    }
}

impl AdapterConfig {
    /// A configuration for an adapter of `spec` on the base named `base` (sha256 `base_sha256`)
    /// with head keys `head_config`; `modules_to_save` lists the stored modules.
    pub fn new(
        spec: &LoraSpec,
        base: Option<String>,
        base_sha256: Option<String>,
        head_config: Map<String, Value>,
        modules_to_save: Vec<String>,
    ) -> Self {
        AdapterConfig {
            peft_type: "LORA".into(),
            task_type: Some("QUESTION_ANS".into()),
            r: spec.rank,
            lora_alpha: spec.alpha,
            lora_dropout: 0.0,
            target_modules: Value::from(spec.targets.clone()),
            modules_to_save: Some(modules_to_save),
            base_model_name_or_path: base,
            use_rslora: spec.rslora,
            bias: bias_none(),
            fan_in_fan_out: false,
            use_dora: false,
            layers_to_transform: None,
            rank_pattern: Map::new(),
            alpha_pattern: Map::new(),
            odqa_head_config: Some(head_config),
            odqa_base_sha256: base_sha256,
            odqa_layer_norms: spec.layer_norms,
            extra: Map::from_iter([("inference_mode".to_string(), Value::Bool(true))]),
        }
    }

    /// Reads and checks `path`: a PEFT LoRA configuration that odqa can apply exactly, with the
    /// update it describes.
    pub fn read(path: &Path) -> Result<(Self, LoraSpec)> {
        let text = std::fs::read_to_string(path).map_err(|e| ReaderError::io(path, e))?;
        let config: AdapterConfig = serde_json::from_str(&text).map_err(|e| {
            ReaderError::bad_model(path, format!("not a PEFT adapter configuration: {e}"))
        })?;
        let spec = config.spec().map_err(|m| ReaderError::bad_model(path, m))?;
        Ok((config, spec))
    }

    /// Writes the configuration to `path` through a temporary file renamed into place.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| ReaderError::bad_model(path, e.to_string()))?;
        text.push('\n');
        Ok(odqa_core::fsio::write_atomic(path, text.as_bytes())?)
    }

    /// The update this configuration describes, or why odqa cannot apply it exactly.
    pub fn spec(&self) -> std::result::Result<LoraSpec, String> {
        self.check_supported()?;
        let spec = LoraSpec {
            rank: self.r,
            alpha: self.lora_alpha,
            rslora: self.use_rslora,
            targets: self.targets()?,
            layer_norms: self.odqa_layer_norms,
        };
        spec.validate().map_err(|e| e.to_string())?;
        Ok(spec)
    }

    /// Refuses what odqa cannot apply exactly: another PEFT type, LoRA variants and options that
    /// change the arithmetic, head keys that are not the head's.
    fn check_supported(&self) -> std::result::Result<(), String> {
        if self.peft_type != "LORA" {
            return Err(format!(
                "peft_type {:?}: only LoRA adapters (\"LORA\") are read",
                self.peft_type
            ));
        }
        let refused = [
            (self.use_dora, "use_dora (DoRA)"),
            (self.bias != "none", "bias other than \"none\""),
            (self.fan_in_fan_out, "fan_in_fan_out"),
            (
                self.layers_to_transform
                    .as_ref()
                    .is_some_and(|v| !v.is_null()),
                "layers_to_transform",
            ),
            (!self.rank_pattern.is_empty(), "rank_pattern"),
            (!self.alpha_pattern.is_empty(), "alpha_pattern"),
        ];
        if let Some((_, what)) = refused.iter().find(|(on, _)| *on) {
            return Err(format!("{what} is not supported by odqa's LoRA loader"));
        }
        // Any other PEFT option (later versions add more: LoftQ, EVA, Arrow, …) may change which
        // weights are updated or how: it must be unset (null, false, {} or []) unless known to
        // leave a saved adapter's arithmetic alone.
        let unset = |v: &Value| match v {
            Value::Null | Value::Bool(false) => true,
            Value::Object(m) => m.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        };
        if let Some((key, _)) = self
            .extra
            .iter()
            .find(|(k, v)| !HARMLESS_OPTIONS.contains(&k.as_str()) && !unset(v))
        {
            return Err(format!("{key} is not supported by odqa's LoRA loader"));
        }
        let mut head_keys = self.odqa_head_config.iter().flatten();
        if let Some((key, _)) = head_keys.find(|(k, _)| !ReaderConfig::is_head_key(k)) {
            return Err(format!(
                "odqa_head_config may hold only the head's keys (odqa_*, cnn_*), not {key:?}"
            ));
        }
        Ok(())
    }

    /// `target_modules` as a list of names (`"all-linear"` expanded).
    fn targets(&self) -> std::result::Result<Vec<String>, String> {
        match &self.target_modules {
            Value::String(s) if s == "all-linear" => Ok(LoraSpec::all_linear()),
            Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map(String::from))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| "target_modules must be a list of module names".to_string()),
            Value::String(s) => Err(format!(
                "target_modules {s:?} is a regular expression; odqa reads a list of names"
            )),
            _ => Err("target_modules must be a list of module names".into()),
        }
    }
}
