//! How BM25 and dense retrieval are combined: which retriever answers ([`RetrieverMode`]) and, for
//! `hybrid`, how the two ranked lists become one ([`Fusion`]).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which retriever answers a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RetrieverMode {
    /// BM25 over the tantivy index.
    #[default]
    Bm25,
    /// Exact inner-product search over the passage vectors.
    Dense,
    /// Both, fused ([`Fusion`]).
    Hybrid,
}

impl RetrieverMode {
    /// The name used in settings and replies (`bm25`, `dense`, `hybrid`).
    pub fn name(self) -> &'static str {
        match self {
            RetrieverMode::Bm25 => "bm25",
            RetrieverMode::Dense => "dense",
            RetrieverMode::Hybrid => "hybrid",
        }
    }

    /// True when questions must be encoded (dense or hybrid).
    pub fn needs_vectors(self) -> bool {
        self != RetrieverMode::Bm25
    }
}

impl fmt::Display for RetrieverMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RetrieverMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "bm25" => Ok(RetrieverMode::Bm25),
            "dense" => Ok(RetrieverMode::Dense),
            "hybrid" => Ok(RetrieverMode::Hybrid),
            other => Err(format!(
                "unknown retriever {other:?} (bm25, dense or hybrid)"
            )),
        }
    }
}

/// How a hybrid retriever merges the BM25 and dense lists (each `depth` passages deep).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fusion", rename_all = "lowercase")]
pub enum Fusion {
    /// Reciprocal-rank fusion: `Σ 1 / (c + rank)` over the lists a passage is in (Cormack et
    /// al. 2009; c = 60 there).
    Rrf {
        /// The constant `c`.
        c: f32,
    },
    /// `w · dense + (1 − w) · bm25`, each score min-max normalised over its own list (0 for a
    /// passage missing from a list).
    Linear {
        /// The dense score's weight `w`, in [0, 1].
        weight: f32,
    },
}

impl Default for Fusion {
    fn default() -> Self {
        Fusion::Rrf { c: 60.0 }
    }
}

impl Fusion {
    /// Checks the constant or weight.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Fusion::Rrf { c } if !(c.is_finite() && c >= 0.0) => {
                Err(format!("the RRF constant must be ≥ 0, not {c}"))
            }
            Fusion::Linear { weight } if !(0.0..=1.0).contains(&weight) => Err(format!(
                "the dense weight must be between 0 and 1, not {weight}"
            )),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Fusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fusion::Rrf { c } => write!(f, "rrf (c {c})"),
            Fusion::Linear { weight } => write!(f, "linear (dense weight {weight})"),
        }
    }
}

/// One passage of a fused list: its key (an index into the caller's passages), fused score and
/// the scores it had in each list.
#[derive(Debug, Clone, PartialEq)]
pub struct Fused<K> {
    /// The caller's key of the passage.
    pub key: K,
    /// The fused score.
    pub score: f32,
    /// Its BM25 score, when BM25 listed it.
    pub bm25: Option<f32>,
    /// Its dense score, when dense search listed it.
    pub dense: Option<f32>,
}

/// Fuses two ranked lists of `(key, score)` (best first) into one, best first: fused score
/// descending, then the better of its two ranks, then the key.
pub fn fuse<K: Clone + Eq + std::hash::Hash + Ord>(
    bm25: &[(K, f32)],
    dense: &[(K, f32)],
    fusion: Fusion,
) -> Vec<Fused<K>> {
    let mut by_key: HashMap<K, (Fused<K>, usize)> = HashMap::new();
    let mut add = |list: &[(K, f32)], is_dense: bool| {
        let weight = match fusion {
            Fusion::Rrf { .. } => 1.0,
            Fusion::Linear { weight } if is_dense => weight,
            Fusion::Linear { weight } => 1.0 - weight,
        };
        let (lo, hi) = list
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), (_, s)| {
                (lo.min(*s), hi.max(*s))
            });
        for (rank, (key, score)) in list.iter().enumerate() {
            let part = match fusion {
                Fusion::Rrf { c } => 1.0 / (c + rank as f32 + 1.0),
                Fusion::Linear { .. } if hi > lo => (score - lo) / (hi - lo),
                Fusion::Linear { .. } => 1.0,
            };
            let entry = by_key.entry(key.clone()).or_insert_with(|| {
                let blank = Fused {
                    key: key.clone(),
                    score: 0.0,
                    bm25: None,
                    dense: None,
                };
                (blank, usize::MAX)
            });
            entry.0.score += weight * part;
            entry.1 = entry.1.min(rank);
            if is_dense {
                entry.0.dense = Some(*score);
            } else {
                entry.0.bm25 = Some(*score);
            }
        }
    };
    add(bm25, false);
    add(dense, true);
    let mut fused: Vec<(Fused<K>, usize)> = by_key.into_values().collect();
    fused.sort_by(|(a, ra), (b, rb)| {
        b.score
            .total_cmp(&a.score)
            .then(ra.cmp(rb))
            .then(a.key.cmp(&b.key))
    });
    fused.into_iter().map(|(f, _)| f).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrf_rewards_passages_both_lists_rank() {
        let bm25 = [("a", 12.0), ("b", 11.0), ("c", 3.0)];
        let dense = [("c", 0.9), ("d", 0.8), ("a", 0.7)];
        let got = fuse(&bm25, &dense, Fusion::Rrf { c: 60.0 });
        let keys: Vec<&str> = got.iter().map(|f| f.key).collect();
        // a: 1/61 + 1/63; c: 1/63 + 1/61 (same; a's best rank 0 ties c's best rank 0 → key).
        assert_eq!(keys, ["a", "c", "b", "d"]);
        assert_eq!(got[0].bm25, Some(12.0));
        assert_eq!(got[0].dense, Some(0.7));
        assert_eq!(got[2].dense, None);
    }

    #[test]
    fn linear_weight_moves_between_the_two_orders() {
        let bm25 = [("a", 10.0), ("b", 5.0), ("c", 0.0)];
        let dense = [("c", 0.9), ("b", 0.85), ("a", 0.1)];
        let order = |w| {
            fuse(&bm25, &dense, Fusion::Linear { weight: w })
                .into_iter()
                .map(|f| f.key)
                .collect::<Vec<_>>()
        };
        assert_eq!(order(0.0), ["a", "b", "c"]);
        assert_eq!(order(1.0), ["c", "b", "a"]);
        // b is second in both lists: 0.5 · 0.5 + 0.5 · 0.9375 beats a's and c's 0.5.
        assert_eq!(order(0.5), ["b", "a", "c"]);
    }

    #[test]
    fn parses_modes_and_checks_settings() {
        assert_eq!("hybrid".parse::<RetrieverMode>(), Ok(RetrieverMode::Hybrid));
        assert!("bm-25".parse::<RetrieverMode>().is_err());
        assert!(Fusion::Linear { weight: 1.5 }.validate().is_err());
        assert!(Fusion::Rrf { c: -1.0 }.validate().is_err());
        assert!(Fusion::default().validate().is_ok());
    }
}
