//! The model configuration, read from a Hugging Face `config.json` as it is.
//!
//! Field names are Hugging Face's (`hidden_size`, `layer_norm_eps`, …). The reader's head is chosen
//! by the odqa keys `odqa_head` (`"linear"` or `"cnn"`) and `cnn_*`; unknown keys are kept and
//! written back on save, so a round trip loses nothing.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ReaderError, Result};

/// Which span-scoring head sits on the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeadKind {
    /// Hugging Face `qa_outputs`: Linear(hidden → 2).
    Linear,
    /// odqa CNN head: shared Conv1d blocks, then Linear(hidden → 2).
    Cnn,
}

impl std::fmt::Display for HeadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HeadKind::Linear => "linear",
            HeadKind::Cnn => "cnn",
        })
    }
}

fn default_gelu() -> String {
    "gelu".into()
}
fn default_eps() -> f64 {
    1e-12
}
fn default_dropout() -> f64 {
    0.1
}
fn default_cnn_channels() -> usize {
    128
}
fn default_cnn_kernel() -> usize {
    3
}
fn default_cnn_padding() -> usize {
    1
}
fn default_cnn_blocks() -> usize {
    5
}
fn default_true() -> bool {
    true
}
fn default_cnn_eps() -> f64 {
    1e-5
}
fn default_type_vocab() -> usize {
    2
}

/// The encoder families odqa reads: they differ in checkpoint prefix, position ids and
/// embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// BERT (and multilingual BERT, e5): absolute positions from 0, prefix `bert.`.
    Bert,
    /// RoBERTa / XLM-R / klue-roberta: positions from `pad_token_id + 1`, prefix `roberta.`.
    Roberta,
    /// ELECTRA (KoELECTRA): embeddings of `embedding_size`, projected to the hidden size,
    /// prefix `electra.`.
    Electra,
}

impl Family {
    /// The checkpoint prefix of the encoder's tensors (`bert.`, `roberta.`, `electra.`).
    pub fn prefix(self) -> &'static str {
        match self {
            Family::Bert => "bert.",
            Family::Roberta => "roberta.",
            Family::Electra => "electra.",
        }
    }

    /// The Hugging Face class-name stem (`Bert`, `Roberta`, `Electra`).
    pub fn class_stem(self) -> &'static str {
        match self {
            Family::Bert => "Bert",
            Family::Roberta => "Roberta",
            Family::Electra => "Electra",
        }
    }
}

/// A BERT/RoBERTa/ELECTRA encoder configuration plus the odqa head settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReaderConfig {
    /// `bert`, `roberta`, `xlm-roberta`, `electra`, … (decides the position-id scheme, the
    /// embeddings and the checkpoint prefix; see [`ReaderConfig::family`]).
    #[serde(default)]
    pub model_type: String,
    /// Vocabulary size (rows of the word embedding matrix).
    pub vocab_size: usize,
    /// Hidden size.
    pub hidden_size: usize,
    /// ELECTRA: width of the embeddings (and their LayerNorm); a Linear `embeddings_project`
    /// maps them to `hidden_size` when the two differ. Absent for BERT/RoBERTa (= hidden).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_size: Option<usize>,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Feed-forward inner size.
    pub intermediate_size: usize,
    /// Activation of the feed-forward layer (`gelu` = exact erf GELU).
    #[serde(default = "default_gelu")]
    pub hidden_act: String,
    /// Dropout on hidden states (training only).
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities (training only).
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Number of position embeddings.
    pub max_position_embeddings: usize,
    /// Number of token types (1 for RoBERTa).
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon of the encoder.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Padding token id.
    #[serde(default)]
    pub pad_token_id: usize,
    /// Head kind; absent in plain Hugging Face configs (then `linear`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub odqa_head: Option<HeadKind>,
    /// CNN head: channels of the first convolution.
    #[serde(default = "default_cnn_channels")]
    pub cnn_channels: usize,
    /// CNN head: kernel size of the first convolution.
    #[serde(default = "default_cnn_kernel")]
    pub cnn_kernel_size: usize,
    /// CNN head: padding of the first convolution.
    #[serde(default = "default_cnn_padding")]
    pub cnn_padding: usize,
    /// CNN head: number of block applications.
    #[serde(default = "default_cnn_blocks")]
    pub cnn_blocks: usize,
    /// CNN head: one block applied `cnn_blocks` times (true) or distinct blocks.
    #[serde(default = "default_true")]
    pub cnn_shared: bool,
    /// CNN head: LayerNorm epsilon (PyTorch's default 1e-5, not the encoder's).
    #[serde(default = "default_cnn_eps")]
    pub cnn_layer_norm_eps: f64,
    /// Every other key of `config.json`, written back unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ReaderConfig {
    /// Reads `config.json`: sizes beyond [`ReaderConfig::limits`] are refused here, before
    /// anything is allocated from them.
    pub fn read(path: &Path) -> Result<ReaderConfig> {
        Self::read_overlaid(path, &Map::new())
    }

    /// As [`ReaderConfig::read`], with the keys of `overlay` (e.g. a LoRA adapter's head keys)
    /// laid over the file's before it is checked.
    pub fn read_overlaid(path: &Path, overlay: &Map<String, Value>) -> Result<ReaderConfig> {
        let bytes = std::fs::read(path).map_err(|e| ReaderError::io(path, e))?;
        let bad = |e: serde_json::Error| ReaderError::BadModel {
            path: path.to_path_buf(),
            message: format!("config.json: {e}"),
        };
        let config: ReaderConfig = if overlay.is_empty() {
            serde_json::from_slice(&bytes).map_err(bad)?
        } else {
            let mut value: Value = serde_json::from_slice(&bytes).map_err(bad)?;
            if let Value::Object(map) = &mut value {
                map.extend(overlay.clone());
            }
            serde_json::from_value(value).map_err(bad)?
        };
        if let Some((field, value, limit)) = config
            .limits()
            .into_iter()
            .find(|(_, value, limit)| value > limit)
        {
            return Err(ReaderError::ConfigLimit {
                path: path.to_path_buf(),
                field,
                value,
                limit,
            });
        }
        config.validate().map_err(|message| ReaderError::BadModel {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(config)
    }

    /// Writes `config.json` (pretty-printed).
    pub fn write(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(|e| ReaderError::io(path, e.into()))?;
        std::fs::write(path, json).map_err(|e| ReaderError::io(path, e))
    }

    /// Every size field with its value and the largest value odqa accepts. The limits are far above
    /// any released BERT/RoBERTa (24 layers, hidden 1,024, 250,002 word pieces, 8,192 positions)
    /// and the odqa head's defaults (5 blocks of 128 channels), and far below what would exhaust
    /// memory (a 10¹²-layer config asked for 5 PB) or loop for ever (10⁹ CNN blocks).
    pub fn limits(&self) -> [(&'static str, usize, usize); 12] {
        [
            ("num_hidden_layers", self.num_hidden_layers, 512),
            ("hidden_size", self.hidden_size, 65_536),
            ("embedding_size", self.embedding_dim(), 65_536),
            ("num_attention_heads", self.num_attention_heads, 1_024),
            ("intermediate_size", self.intermediate_size, 262_144),
            ("vocab_size", self.vocab_size, 4_194_304),
            (
                "max_position_embeddings",
                self.max_position_embeddings,
                1_048_576,
            ),
            ("type_vocab_size", self.type_vocab_size, 1_024),
            ("cnn_blocks", self.cnn_blocks, 64),
            ("cnn_channels", self.cnn_channels, 16_384),
            ("cnn_kernel_size", self.cnn_kernel_size, 65),
            ("cnn_padding", self.cnn_padding, 32),
        ]
    }

    /// Whether `key` is one of the head's keys (`odqa_head`, `cnn_*`): the only keys a LoRA
    /// adapter may lay over its base's `config.json`.
    pub fn is_head_key(key: &str) -> bool {
        key.starts_with("odqa_") || key.starts_with("cnn_")
    }

    /// The head's keys (see [`ReaderConfig::is_head_key`]), as `config.json` writes them.
    pub fn head_keys(&self) -> Map<String, Value> {
        let Ok(Value::Object(all)) = serde_json::to_value(self) else {
            return Map::new();
        };
        all.into_iter()
            .filter(|(k, _)| Self::is_head_key(k))
            .collect()
    }

    /// The head: `odqa_head`, or `linear` when absent.
    pub fn head(&self) -> HeadKind {
        self.odqa_head.unwrap_or(HeadKind::Linear)
    }

    /// The encoder family, from `model_type`: ELECTRA for `electra`, RoBERTa for the
    /// RoBERTa-style position schemes, BERT otherwise.
    pub fn family(&self) -> Family {
        if self.model_type == "electra" {
            Family::Electra
        } else if self.roberta_positions() {
            Family::Roberta
        } else {
            Family::Bert
        }
    }

    /// Width of the embeddings: for ELECTRA `embedding_size` (128 when absent, transformers'
    /// default), for the other families `hidden_size` (an `embedding_size` key is ignored there,
    /// as transformers ignores it).
    pub fn embedding_dim(&self) -> usize {
        match self.family() {
            Family::Electra => self.embedding_size.unwrap_or(128),
            Family::Bert | Family::Roberta => self.hidden_size,
        }
    }

    /// Whether the embeddings are projected to the hidden size (ELECTRA with `embedding_size`
    /// other than `hidden_size`, as transformers' `ElectraModel` decides).
    pub fn projects_embeddings(&self) -> bool {
        self.embedding_dim() != self.hidden_size
    }

    /// RoBERTa-style position ids (`pad_token_id + 1 + cumsum(mask)`, pads at `pad_token_id`).
    pub fn roberta_positions(&self) -> bool {
        matches!(
            self.model_type.as_str(),
            "roberta" | "xlm-roberta" | "camembert"
        )
    }

    /// Size of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads.max(1)
    }

    /// How many positions past a token the head looks at: `cnn_blocks · cnn_padding` for the CNN
    /// head (each block's first convolution sees `padding` neighbours per side), 0 for the linear
    /// head. Cutting a batch's padding keeps this many pads so real tokens' logits do not change.
    pub fn receptive_margin(&self) -> usize {
        match self.head() {
            HeadKind::Cnn => self.cnn_blocks * self.cnn_padding,
            HeadKind::Linear => 0,
        }
    }

    /// Longest sequence the position embeddings allow.
    pub fn max_sequence_len(&self) -> usize {
        if self.roberta_positions() {
            self.max_position_embeddings
                .saturating_sub(self.pad_token_id + 1)
        } else {
            self.max_position_embeddings
        }
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.embedding_dim() == 0 {
            return Err("embedding_size must be positive".into());
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if !matches!(
            self.hidden_act.as_str(),
            "gelu" | "gelu_new" | "gelu_pytorch_tanh" | "relu"
        ) {
            return Err(format!(
                "unsupported hidden_act {:?} (gelu, gelu_new, relu)",
                self.hidden_act
            ));
        }
        if self.head() == HeadKind::Cnn
            && (self.cnn_blocks == 0 || self.cnn_channels == 0 || self.cnn_kernel_size == 0)
        {
            return Err("cnn_blocks, cnn_channels and cnn_kernel_size must be positive".into());
        }
        if self.head() == HeadKind::Cnn && self.cnn_kernel_size != 2 * self.cnn_padding + 1 {
            return Err(format!(
                "cnn_kernel_size {} with cnn_padding {} changes the sequence length; use kernel = 2·padding + 1",
                self.cnn_kernel_size, self.cnn_padding
            ));
        }
        Ok(())
    }
}
