//! Argument types shared by several subcommands.

use clap::{Args, ValueEnum};
use odqa_retriever::{Bm25Overrides, Idf};

/// A usage error found after argument parsing (exit status 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Nothing found (exit status 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotFound(pub String);

/// Stopped by Ctrl-C after saving what can be resumed (exit status 130, as for SIGINT).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Interrupted(pub String);

/// BM25 parameter overrides (defaults: the index's for retrieval, the language's for indexing).
#[derive(Debug, Clone, Args)]
pub struct Bm25Args {
    /// BM25 term-frequency saturation k1 [default: the index's]
    #[arg(long, value_name = "K1")]
    pub k1: Option<f64>,
    /// BM25 length normalisation b, 0..1 [default: the index's]
    #[arg(long, value_name = "B")]
    pub b: Option<f64>,
    /// BM25+ lower bound δ added for every matching term (0 = plain BM25) [default: the index's]
    #[arg(long, value_name = "DELTA")]
    pub delta: Option<f64>,
    /// idf formula [default: the index's]
    #[arg(long, value_enum)]
    pub idf: Option<IdfArg>,
    /// Weight of title matches relative to text matches (0 = text only) [default: the index's]
    #[arg(long, value_name = "W")]
    pub title_weight: Option<f64>,
    /// Count a word repeated in the question once per occurrence (true) or once (false)
    #[arg(long, value_name = "BOOL")]
    pub query_tf: Option<bool>,
}

impl Bm25Args {
    /// The overrides given on the command line.
    pub fn overrides(&self) -> Bm25Overrides {
        Bm25Overrides {
            k1: self.k1,
            b: self.b,
            delta: self.delta,
            idf: self.idf.map(Into::into),
            title_weight: self.title_weight,
            query_tf: self.query_tf,
        }
    }
}

/// idf formulas.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum IdfArg {
    /// ln(1 + (N − df + 0.5)/(df + 0.5)) as Lucene and tantivy
    Lucene,
    /// ln(N/df) as ATIRE
    Atire,
}

impl From<IdfArg> for Idf {
    fn from(a: IdfArg) -> Idf {
        match a {
            IdfArg::Lucene => Idf::Lucene,
            IdfArg::Atire => Idf::Atire,
        }
    }
}

/// Builds a rayon pool of `threads` threads (0 = one per core) and runs `f` on it.
pub fn with_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> anyhow::Result<T> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;
    Ok(pool.install(f))
}
