//! The retriever flags shared by `retrieve`, `eval retrieval`, `ask`, `predict`, `tune` and
//! `serve`: which retriever, how hybrid fuses, the question encoder.

use odqa_reader::precision::Precision;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use odqa_pipeline::{FusionKind, PipelineSettings};
use odqa_reader::DefaultBackend;
use odqa_retriever::{Retriever, RetrieverMode};

use crate::args::UsageError;

/// Which retriever finds the passages, and how hybrid fuses (`retrieve`, `eval retrieval`, `ask`,
/// `predict`, `tune`, `serve`).
#[derive(Debug, Clone, Args)]
pub struct RetrieverArgs {
    /// Retriever: bm25; dense (exact search over the index's passage vectors, from `odqa
    /// index-dense`; questions encoded with the same model); hybrid (both, fused) [default: bm25]
    #[arg(long, value_enum, value_name = "RETRIEVER")]
    pub retriever: Option<RetrieverArg>,
    /// Fusion of hybrid: rrf (Σ 1/(c + rank) over the two lists) or linear (dense weight w:
    /// w·dense + (1−w)·BM25, each min-max normalised over its list) [default: rrf]
    #[arg(long, value_enum, value_name = "FUSION")]
    pub fusion: Option<FusionArg>,
    /// The constant c of rrf [default: 60]
    #[arg(long, value_name = "C")]
    pub rrf_c: Option<f32>,
    /// Weight w of the dense score in linear fusion, 0..1 [default: 0.5]
    #[arg(long, value_name = "W")]
    pub dense_weight: Option<f32>,
    /// Passages taken from each retriever before fusion (at least --top-k) [default: 100]
    #[arg(long, value_name = "N")]
    pub dense_depth: Option<usize>,
    /// The question encoder: a copy of the model that computed the passage vectors [default: the
    /// directory the index records]
    #[arg(long, value_name = "DIR")]
    pub dense_model: Option<PathBuf>,
    /// Precision of the reader's and the question encoder's matrix products: fp32, bf16 (AMX
    /// tiles where the CPU has them, else the same rounded values in f32), int8 (AVX-512 VNNI or
    /// AVX2; KorQuAD dev EM ≈ 1 lower), auto (bf16 on a CPU with AMX-BF16, else fp32)
    /// [default: auto]
    #[arg(long, value_name = "PRECISION")]
    pub precision: Option<Precision>,
}

impl RetrieverArgs {
    /// `settings` with the flags given on top.
    pub fn apply(&self, s: &mut PipelineSettings) {
        if let Some(r) = self.retriever {
            s.retriever = r.into();
        }
        if let Some(f) = self.fusion {
            s.fusion = match f {
                FusionArg::Rrf => FusionKind::Rrf,
                FusionArg::Linear => FusionKind::Linear,
            };
        }
        s.rrf_c = self.rrf_c.unwrap_or(s.rrf_c);
        s.dense_weight = self.dense_weight.unwrap_or(s.dense_weight);
        s.dense_depth = self.dense_depth.unwrap_or(s.dense_depth);
        if let Some(m) = &self.dense_model {
            s.dense_model = Some(odqa_core::fsio::resolve(m));
        }
        s.precision = self.precision.unwrap_or(s.precision);
    }

    /// The settings of these flags alone (for commands without a --config) for retrieving `k`
    /// passages, checked.
    pub fn settings(&self, k: usize) -> Result<PipelineSettings, UsageError> {
        let mut s = PipelineSettings::default();
        s.top_k = k;
        self.apply(&mut s);
        s.validate().map_err(|e| UsageError(e.to_string()))?;
        Ok(s)
    }

    /// Opens `index` for the retriever these flags ask for, to retrieve `k` passages at most.
    pub fn open(&self, index: &Path, k: usize) -> anyhow::Result<Retriever> {
        let settings = self.settings(k)?;
        Ok(odqa_pipeline::dense::open_retriever::<DefaultBackend>(
            index,
            &settings,
            &Default::default(),
        )?)
    }
}

/// Retrievers.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RetrieverArg {
    /// BM25
    Bm25,
    /// Passage vectors
    Dense,
    /// BM25 and vectors, fused
    Hybrid,
}

impl From<RetrieverArg> for RetrieverMode {
    fn from(a: RetrieverArg) -> RetrieverMode {
        match a {
            RetrieverArg::Bm25 => RetrieverMode::Bm25,
            RetrieverArg::Dense => RetrieverMode::Dense,
            RetrieverArg::Hybrid => RetrieverMode::Hybrid,
        }
    }
}

/// Fusions of hybrid retrieval.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FusionArg {
    /// Reciprocal-rank fusion
    Rrf,
    /// Linear mix of normalised scores
    Linear,
}
