//! Dense and hybrid retrieval on an opened index: the passage vectors of `dense/`, a
//! [`QueryEncoder`] for questions (the same model that computed the vectors), and the mode and
//! fusion [`Retriever::search`] follows.

use std::sync::Arc;

use rayon::prelude::*;

use super::{Hit, Retriever};
use crate::dense::{DenseIndex, DenseMeta, Scored};
use crate::error::{Result, RetrieverError};
use crate::fusion::{fuse, Fusion, RetrieverMode};

/// Turns texts (already prefixed, see [`crate::dense::DenseEncoder::query_text`]) into unit
/// vectors, as the model that computed the passage vectors does.
pub trait QueryEncoder: Send + Sync {
    /// The vectors of `texts`, in order; an error says why they cannot be computed.
    fn encode(&self, texts: &[String]) -> std::result::Result<Vec<Vec<f32>>, String>;
}

/// How [`Retriever::search`] retrieves when the index has passage vectors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DenseSettings {
    /// Which retriever answers.
    pub mode: RetrieverMode,
    /// How hybrid fuses the lists.
    pub fusion: Fusion,
    /// Passages taken from each list before fusion (at least the `k` asked for).
    pub depth: usize,
}

impl Default for DenseSettings {
    fn default() -> Self {
        DenseSettings {
            mode: RetrieverMode::Hybrid,
            fusion: Fusion::default(),
            depth: 100,
        }
    }
}

/// The dense side of a retriever.
pub(super) struct DenseSide {
    index: DenseIndex,
    encoder: Arc<dyn QueryEncoder>,
    settings: DenseSettings,
}

impl Retriever {
    /// Adds the index's passage vectors and the question encoder, searching as `settings` say.
    /// Settings of mode `bm25` keep the vectors loaded for questions that ask for another
    /// retriever ([`Self::search_with`]).
    pub fn with_dense(
        mut self,
        index: DenseIndex,
        encoder: Arc<dyn QueryEncoder>,
        settings: DenseSettings,
    ) -> Result<Retriever> {
        self.set_dense(index, encoder, settings)?;
        Ok(self)
    }

    /// [`Self::with_dense`] in place.
    pub fn set_dense(
        &mut self,
        index: DenseIndex,
        encoder: Arc<dyn QueryEncoder>,
        settings: DenseSettings,
    ) -> Result<()> {
        settings
            .fusion
            .validate()
            .map_err(RetrieverError::InvalidArgument)?;
        if index.meta().count != self.num_passages() {
            return Err(RetrieverError::BadIndex {
                path: self.dir.clone(),
                message: format!(
                    "{} passage vectors for {} passages",
                    index.meta().count,
                    self.num_passages()
                ),
            });
        }
        self.dense = Some(DenseSide {
            index,
            encoder,
            settings,
        });
        Ok(())
    }

    /// True when the passage vectors are loaded.
    pub fn has_vectors(&self) -> bool {
        self.dense.is_some()
    }

    /// The retriever that answers by default: `bm25` without vectors.
    pub fn mode(&self) -> RetrieverMode {
        self.dense
            .as_ref()
            .map_or(RetrieverMode::Bm25, |d| d.settings.mode)
    }

    /// The dense settings, when the index's vectors are loaded.
    pub fn dense_settings(&self) -> Option<DenseSettings> {
        self.dense.as_ref().map(|d| d.settings)
    }

    /// The passage vectors' metadata, when loaded.
    pub fn dense_meta(&self) -> Option<&DenseMeta> {
        self.dense.as_ref().map(|d| d.index.meta())
    }

    /// The top `k` passages for `question` by the retriever in use ([`Self::mode`]).
    pub fn search(&self, question: &str, k: usize) -> Result<Vec<Hit>> {
        self.search_with(question, k, self.mode())
    }

    /// The top `k` passages for `question` by the retriever `mode` (dense and hybrid need the
    /// index's vectors, loaded by [`Self::with_dense`]).
    pub fn search_with(&self, question: &str, k: usize, mode: RetrieverMode) -> Result<Vec<Hit>> {
        let Some(side) = self.side_for(mode)? else {
            return self.search_bm25(question, k);
        };
        self.check_question(question)?;
        let vector = self.encode(side, &[question])?.pop().unwrap_or_default();
        let dense = side.index.search(&vector, side.settings.depth.max(k))?;
        self.combine(side, mode, question, dense, k)
    }

    /// [`Self::search`] for many questions, in order: questions encoded together, the vectors
    /// searched in one pass, the rest in parallel on the current rayon pool.
    pub fn search_batch<S: AsRef<str> + Sync>(
        &self,
        questions: &[S],
        k: usize,
    ) -> Vec<Result<Vec<Hit>>> {
        self.search_batch_with(questions, k, self.mode())
    }

    /// [`Self::search_batch`] by the retriever `mode`.
    pub fn search_batch_with<S: AsRef<str> + Sync>(
        &self,
        questions: &[S],
        k: usize,
        mode: RetrieverMode,
    ) -> Vec<Result<Vec<Hit>>> {
        let side = match self.side_for(mode) {
            Ok(Some(side)) => side,
            Ok(None) => {
                return questions
                    .par_iter()
                    .map(|q| self.search_bm25(q.as_ref(), k))
                    .collect()
            }
            Err(_) => return questions.iter().map(|_| Err(no_vectors(mode))).collect(),
        };
        let valid: Vec<usize> = (0..questions.len())
            .filter(|&i| self.check_question(questions[i].as_ref()).is_ok())
            .collect();
        let texts: Vec<&str> = valid.iter().map(|&i| questions[i].as_ref()).collect();
        let lists = self.encode(side, &texts).and_then(|vectors| {
            let refs: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
            side.index.search_batch(&refs, side.settings.depth.max(k))
        });
        let lists = match lists {
            Ok(lists) => lists,
            Err(e) => {
                // The encoder's own message, not wrapped a second time.
                let message = match e {
                    RetrieverError::Encoding(m) => m,
                    other => other.to_string(),
                };
                return questions
                    .iter()
                    .map(|_| Err(RetrieverError::Encoding(message.clone())))
                    .collect();
            }
        };
        let mut dense: Vec<Option<Vec<Scored>>> = vec![None; questions.len()];
        for (&i, list) in valid.iter().zip(lists) {
            dense[i] = Some(list);
        }
        questions
            .par_iter()
            .zip(dense)
            .map(|(q, list)| match list {
                Some(list) => self.combine(side, mode, q.as_ref(), list, k),
                None => self.check_question(q.as_ref()).map(|()| Vec::new()),
            })
            .collect()
    }

    /// The dense side `mode` searches with: none for BM25, an error when the vectors are not
    /// loaded.
    fn side_for(&self, mode: RetrieverMode) -> Result<Option<&DenseSide>> {
        match (&self.dense, mode.needs_vectors()) {
            (_, false) => Ok(None),
            (Some(side), true) => Ok(Some(side)),
            (None, true) => Err(no_vectors(mode)),
        }
    }

    /// The question vectors of `questions` (prefixed as the vectors' encoder wants).
    fn encode(&self, side: &DenseSide, questions: &[&str]) -> Result<Vec<Vec<f32>>> {
        let meta = side.index.meta();
        let texts: Vec<String> = questions
            .iter()
            .map(|q| meta.encoder.query_text(q))
            .collect();
        let vectors = side
            .encoder
            .encode(&texts)
            .map_err(RetrieverError::Encoding)?;
        if vectors.len() != texts.len() || vectors.iter().any(|v| v.len() != meta.dim) {
            return Err(RetrieverError::Encoding(format!(
                "the question encoder gave vectors of another size than the passages' {}",
                meta.dim
            )));
        }
        Ok(vectors)
    }

    /// The final `k` hits of a question from its dense list (and, for hybrid, its BM25 list).
    fn combine(
        &self,
        side: &DenseSide,
        mode: RetrieverMode,
        question: &str,
        dense: Vec<Scored>,
        k: usize,
    ) -> Result<Vec<Hit>> {
        if mode == RetrieverMode::Dense {
            return dense
                .iter()
                .take(k)
                .enumerate()
                .map(|(i, s)| {
                    let mut hit = self.hit_by_order(s.row, i + 1, s.score)?;
                    hit.dense_score = Some(s.score);
                    Ok(hit)
                })
                .collect();
        }
        let depth = side.settings.depth.max(k);
        let bm25_hits = self.search_bm25(question, depth)?;
        let bm25: Vec<(String, f32)> = bm25_hits.iter().map(|h| (h.id.clone(), h.score)).collect();
        let mut dense_hits = Vec::with_capacity(dense.len());
        for s in &dense {
            dense_hits.push(self.hit_by_order(s.row, 0, s.score)?);
        }
        let dense_list: Vec<(String, f32)> =
            dense_hits.iter().map(|h| (h.id.clone(), h.score)).collect();
        let floor = bm25.last().map(|(_, s)| *s);
        let fused = fuse(&bm25, &dense_list, side.settings.fusion);
        let mut by_id: std::collections::HashMap<String, Hit> = bm25_hits
            .into_iter()
            .chain(dense_hits)
            .map(|h| (h.id.clone(), h))
            .collect();
        Ok(fused
            .into_iter()
            .take(k)
            .enumerate()
            .filter_map(|(i, f)| {
                let mut hit = by_id.remove(&f.key)?;
                hit.rank = i + 1;
                hit.score = f.score;
                hit.bm25_score = f.bm25;
                hit.dense_score = f.dense;
                hit.bm25_floor = floor;
                Some(hit)
            })
            .collect())
    }
}

/// The error for a dense or hybrid search on an index without vectors.
pub(super) fn no_vectors(mode: RetrieverMode) -> RetrieverError {
    RetrieverError::InvalidArgument(format!(
        "{mode} retrieval needs the index's passage vectors; compute them with `odqa index-dense`"
    ))
}
