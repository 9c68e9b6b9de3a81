//! From the retriever's hits to the passages the pipeline reads: which question gets which
//! passages (or why none), and the retrieval score the answer strategies weigh.

use odqa_retriever::{Hit, RetrieverError, RetrieverMode};

use crate::ask::QuestionError;
use crate::error::PipelineError;
use crate::pipeline::QuestionReads;

/// One [`QuestionReads`] per question (with its error when nothing was found or the question
/// cannot be searched) and the (question, passage) pairs to read.
pub(crate) fn passages_to_read(
    hits: Vec<std::result::Result<Vec<Hit>, RetrieverError>>,
    mode: RetrieverMode,
) -> (Vec<QuestionReads>, Vec<(usize, Hit)>) {
    let mut results: Vec<QuestionReads> = Vec::with_capacity(hits.len());
    let mut pairs: Vec<(usize, Hit)> = Vec::new();
    for (q, found) in hits.into_iter().enumerate() {
        let mut result = QuestionReads::default();
        match found {
            Ok(hits) if hits.is_empty() => result.error = Some(QuestionError::NoPassage),
            Ok(hits) => pairs.extend(weighed(hits, mode).into_iter().map(|h| (q, h))),
            Err(e) => result.error = Some(QuestionError::from(&e)),
        }
        results.push(result);
    }
    (results, pairs)
}

/// `hits` with the score the aggregation strategies weigh against the reader's logits (`fusion`,
/// `merge`), on BM25's scale whatever the retriever: BM25's score; for dense retrieval 100 times
/// the cosine (e5's training temperature 0.01 makes that its logit); for hybrid the passage's
/// BM25 score, or for one only dense search found the lowest score of BM25's candidates (its own
/// BM25 score is below every listed one; 0 when BM25 listed none). Each score depends only on the
/// passage and the question, not on how many passages are read. The retriever's own scores stay
/// in `bm25_score` and `dense_score`.
fn weighed(mut hits: Vec<Hit>, mode: RetrieverMode) -> Vec<Hit> {
    match mode {
        RetrieverMode::Bm25 => {}
        RetrieverMode::Dense => {
            for h in &mut hits {
                h.score = 100.0 * h.dense_score.unwrap_or(h.score);
            }
        }
        RetrieverMode::Hybrid => {
            for h in &mut hits {
                h.score = h.bm25_score.or(h.bm25_floor).unwrap_or(0.0);
            }
        }
    }
    hits
}

/// A retriever error as the pipeline reports it: the question's own faults as
/// [`PipelineError::Question`], anything else as [`PipelineError::Retriever`].
pub(crate) fn question_or_search(e: RetrieverError) -> PipelineError {
    match e {
        RetrieverError::EmptyQuestion | RetrieverError::NoSearchableWords { .. } => {
            PipelineError::Question(QuestionError::from(&e))
        }
        other => PipelineError::Retriever(other),
    }
}
