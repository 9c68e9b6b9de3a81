//! Pipeline settings: defaults, a TOML file (`--config`, as `odqa tune` writes it) and flags on top.

use std::path::Path;

use odqa_reader::precision::Precision;
use odqa_reader::window::WindowSettings;
use odqa_retriever::{DenseSettings, Fusion, RetrieverMode};
use serde::{Deserialize, Serialize};

use crate::aggregate::{AggregateSettings, Strategy};
use crate::error::{PipelineError, Result};

/// Everything `ask` and `predict` need besides the index and the model. TOML keys are these field
/// names; unknown keys are refused. The defaults are the best of `odqa tune` on KorQuAD dev over
/// 200k Korean Wikipedia passages (fusion, μ = 0.9; josa trimming lowered EM, so it is off).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PipelineSettings {
    /// Passages retrieved and read per question.
    pub top_k: usize,
    /// Aggregation strategy: logit, softmax, fusion, merge.
    pub strategy: Strategy,
    /// Reader weight μ of `fusion`/`merge` (1 = reader only, 0 = retriever only).
    pub mu: f32,
    /// How much of a passage's no-answer score is taken off its spans' scores before passages
    /// are compared, 0..1 (0 = none, 1 = span less no-answer score, SQuAD 2.0's comparison;
    /// [`crate::aggregate::PassageRead::span_score`]).
    pub null_weight: f32,
    /// Trim trailing Korean particles (josa) from answers.
    pub trim_josa: bool,
    /// Answers kept per question (nbest_predictions.json, `ask --nbest`).
    pub n_best: usize,
    /// Spans kept per passage before pooling.
    pub passage_n_best: usize,
    /// Longest answer, in tokens.
    pub max_answer_len: usize,
    /// Taken off a span's reader score per token after its first (0 = none): a prior towards
    /// shorter answers ([`odqa_reader::decode::DecodeSettings::length_penalty`]).
    pub length_penalty: f32,
    /// A question that asks for a year answered with a full date gets the date's year
    /// ([`odqa_reader::decode::DecodeSettings::year_answers`]; KorQuAD's convention).
    pub year_answers: bool,
    /// Windows per forward pass.
    pub batch_size: usize,
    /// Window length in tokens.
    pub max_seq_len: usize,
    /// Overlap of the windows of a long passage, in tokens.
    pub doc_stride: usize,
    /// Calibration temperature of the answers' probabilities (`odqa tune` fits it; 1 = none).
    pub temperature: f32,
    /// Answer nothing when the best answer's probability is below this (0 = always answer).
    pub min_probability: f32,
    /// Retriever: bm25, dense (the index's passage vectors) or hybrid (both, fused).
    pub retriever: RetrieverMode,
    /// How hybrid fuses BM25 and dense: rrf (reciprocal ranks) or linear (normalised scores).
    pub fusion: FusionKind,
    /// The constant c of reciprocal-rank fusion, `1 / (c + rank)`.
    pub rrf_c: f32,
    /// Weight of the dense score in linear fusion (0 = BM25 only, 1 = dense only).
    pub dense_weight: f32,
    /// Passages taken from each retriever before fusion (at least top_k).
    pub dense_depth: usize,
    /// The question encoder of dense and hybrid retrieval: a copy of the model that computed the
    /// index's passage vectors (default: the directory the index records).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dense_model: Option<std::path::PathBuf>,
    /// Precision of the reader's matrix products: fp32, bf16 (AMX tiles where the CPU has them),
    /// int8 (VNNI or AVX2; answers a little off fp32's) or auto (bf16 on a CPU with AMX-BF16,
    /// fp32 elsewhere).
    pub precision: Precision,
}

/// The fusion of hybrid retrieval, as settings name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FusionKind {
    /// Reciprocal-rank fusion.
    #[default]
    Rrf,
    /// Linear mix of min-max normalised scores.
    Linear,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        PipelineSettings {
            top_k: 20,
            strategy: Strategy::Fusion,
            mu: 0.9,
            null_weight: 0.0,
            trim_josa: false,
            n_best: 20,
            passage_n_best: 20,
            max_answer_len: 30,
            length_penalty: 0.0,
            year_answers: false,
            batch_size: 16,
            max_seq_len: 384,
            doc_stride: 128,
            temperature: 1.0,
            min_probability: 0.0,
            retriever: RetrieverMode::Bm25,
            fusion: FusionKind::Rrf,
            rrf_c: 60.0,
            dense_weight: 0.5,
            dense_depth: 100,
            dense_model: None,
            precision: Precision::Auto,
        }
    }
}

impl PipelineSettings {
    /// Reads a TOML file; errors name the file (and the key).
    pub fn load(path: &Path) -> Result<PipelineSettings> {
        let bad = |message: String| PipelineError::Settings {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let mut settings: PipelineSettings =
            toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        settings.validate().map_err(|e| bad(e.to_string()))?;
        // A relative model path is relative to the file that names it (kept absolute, so that a
        // settings file written elsewhere, e.g. by `odqa tune`, still names the same folder).
        if let Some(model) = settings.dense_model.as_mut() {
            *model = odqa_core::fsio::resolve(&odqa_core::fsio::parent_dir(path).join(&*model));
        }
        Ok(settings)
    }

    /// The settings as a TOML document (what `load` reads back).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Checks value ranges.
    pub fn validate(&self) -> std::result::Result<(), SettingError> {
        let at_least_one = [
            ("top_k", self.top_k),
            ("n_best", self.n_best),
            ("passage_n_best", self.passage_n_best),
            ("batch_size", self.batch_size),
            ("max_answer_len", self.max_answer_len),
            ("dense_depth", self.dense_depth),
        ];
        if let Some((name, value)) = at_least_one.into_iter().find(|(_, v)| *v == 0) {
            return Err(SettingError::new(name, value, "at least 1"));
        }
        if self.retriever == RetrieverMode::Hybrid && self.dense_depth < self.top_k {
            // Fused lists of every k up to top_k are then prefixes of one another (tune relies
            // on it).
            let rule = format!("at least top_k {} for hybrid retrieval", self.top_k);
            return Err(SettingError::new("dense_depth", self.dense_depth, rule));
        }
        if !odqa_reader::decode::length_penalty_ok(self.length_penalty) {
            return Err(SettingError::new(
                "length_penalty",
                self.length_penalty,
                "at least 0",
            ));
        }
        if !(self.rrf_c >= 0.0 && self.rrf_c.is_finite()) {
            return Err(SettingError::new("rrf_c", self.rrf_c, "at least 0"));
        }
        for (name, value) in [
            ("mu", self.mu),
            ("null_weight", self.null_weight),
            ("min_probability", self.min_probability),
            ("dense_weight", self.dense_weight),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(SettingError::new(name, value, "between 0 and 1"));
            }
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(SettingError::new(
                "temperature",
                self.temperature,
                "positive",
            ));
        }
        let windows = WindowSettings {
            max_seq_len: self.max_seq_len,
            doc_stride: self.doc_stride,
        };
        if windows.validate().is_err() {
            let rule = format!("smaller than max_seq_len {}", self.max_seq_len);
            return Err(SettingError::new("doc_stride", self.doc_stride, rule));
        }
        Ok(())
    }

    /// What the passages retrieved depend on besides the index: the retriever and, for hybrid,
    /// its fusion and depth (`bm25`, `dense`, `hybrid rrf (c 60) depth 100`).
    pub fn retrieval_key(&self) -> String {
        let d = self.dense();
        match self.retriever {
            RetrieverMode::Bm25 => "bm25".into(),
            RetrieverMode::Dense => "dense".into(),
            RetrieverMode::Hybrid => format!("hybrid {} depth {}", d.fusion, d.depth),
        }
    }

    /// The retrieval part, for an index with passage vectors.
    pub fn dense(&self) -> DenseSettings {
        DenseSettings {
            mode: self.retriever,
            fusion: match self.fusion {
                FusionKind::Rrf => Fusion::Rrf { c: self.rrf_c },
                FusionKind::Linear => Fusion::Linear {
                    weight: self.dense_weight,
                },
            },
            depth: self.dense_depth,
        }
    }

    /// The aggregation part.
    pub fn aggregate(&self) -> AggregateSettings {
        AggregateSettings {
            strategy: self.strategy,
            mu: self.mu,
            null_weight: self.null_weight,
            top_k: self.top_k,
            n_best: self.n_best,
            trim_josa: self.trim_josa,
            temperature: self.temperature,
            min_probability: self.min_probability,
        }
    }
}

/// A setting out of its range: which, its value, and what it must be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} must be {rule}, not {value}")]
#[non_exhaustive]
pub struct SettingError {
    /// The setting's name (its TOML key).
    pub name: &'static str,
    /// The value given.
    pub value: String,
    /// What it must be.
    pub rule: String,
}

impl SettingError {
    /// `name` = `value` breaks `rule`.
    pub fn new(name: &'static str, value: impl ToString, rule: impl Into<String>) -> SettingError {
        SettingError {
            name,
            value: value.to_string(),
            rule: rule.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_config_holds_the_defaults() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/pipeline-default.toml");
        assert_eq!(
            PipelineSettings::load(&path).unwrap(),
            PipelineSettings::default()
        );
    }

    #[test]
    fn toml_round_trip_and_errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        let settings = PipelineSettings {
            strategy: Strategy::Fusion,
            mu: 0.7,
            trim_josa: true,
            ..PipelineSettings::default()
        };
        std::fs::write(&path, settings.to_toml()).unwrap();
        assert_eq!(PipelineSettings::load(&path).unwrap(), settings);
        std::fs::write(&path, "top_k = 5\nstrategy = \"best\"\n").unwrap();
        let err = PipelineSettings::load(&path).unwrap_err().to_string();
        assert!(err.contains("p.toml") && err.contains("strategy"), "{err}");
        std::fs::write(&path, "topk = 5\n").unwrap();
        let err = PipelineSettings::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("unknown field") && err.contains("topk"),
            "{err}"
        );
        std::fs::write(&path, "mu = 1.5\n").unwrap();
        let err = PipelineSettings::load(&path).unwrap_err().to_string();
        assert!(err.contains("mu must be between 0 and 1"), "{err}");
        std::fs::write(&path, "length_penalty = -0.1\n").unwrap();
        let err = PipelineSettings::load(&path).unwrap_err().to_string();
        assert!(err.contains("length_penalty must be at least 0"), "{err}");
    }
}
