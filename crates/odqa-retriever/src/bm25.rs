//! BM25 with tunable parameters, as a tantivy [`Query`].
//!
//! tantivy 0.27 fixes k1 = 1.2 and b = 0.75 in private constants. [`Bm25Query`] scores the same
//! postings and (quantised) field lengths with any k1, b, the BM25+ lower bound δ and a choice of
//! idf, over one or more weighted fields (passage text, and optionally the title), term at a time
//! into a per-segment accumulator. Because scoring happens at query time, parameters can be changed
//! without re-indexing (`odqa retrieve --k1 … --b …`).
//!
//! score(d, q) = Σ_field w_field Σ_{t ∈ q} qtf(t) · idf(t) · ( tf·(k1+1) / (tf + k1·(1 − b + b·|d|/avgdl)) + δ )

use serde::{Deserialize, Serialize};
use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::Postings;
use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, DocSet, Score, SegmentReader, TantivyError, Term, TERMINATED};

/// Which inverse document frequency to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Idf {
    /// Lucene/tantivy: ln(1 + (N − df + 0.5) / (df + 0.5)), always positive.
    Lucene,
    /// ATIRE: ln(N / df).
    Atire,
}

impl std::fmt::Display for Idf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Idf::Lucene => "lucene",
            Idf::Atire => "atire",
        })
    }
}

/// BM25 parameters. [`Bm25Params::for_language`] gives the measured defaults (see README).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Bm25Params {
    /// Term-frequency saturation.
    pub k1: f64,
    /// Length normalisation (0 = none, 1 = full).
    pub b: f64,
    /// BM25+ lower bound added to the term-frequency part of every matching term (0 = plain BM25).
    pub delta: f64,
    /// The idf formula.
    pub idf: Idf,
    /// Weight of the title field relative to the text (0 = text only).
    pub title_weight: f64,
    /// Count a term repeated in the question once per occurrence (else once).
    pub query_tf: bool,
}

impl Default for Bm25Params {
    fn default() -> Self {
        Bm25Params {
            k1: 1.2,
            b: 0.75,
            delta: 0.0,
            idf: Idf::Lucene,
            title_weight: 0.0,
            query_tf: true,
        }
    }
}

impl Bm25Params {
    /// Defaults per analyzer language. Korean: tuned for answer recall on 200k Korean Wikipedia
    /// passages with the KorQuAD train questions (`scripts/bench-retrieval.sh`); short passages and
    /// bigram-heavy terms want little length normalisation and early saturation. English: the
    /// common passage-retrieval setting k1 = 0.9, b = 0.4.
    pub fn for_language(language: crate::Language) -> Self {
        match language {
            crate::Language::Ko => Bm25Params {
                k1: 0.45,
                b: 0.1,
                title_weight: 0.2,
                ..Bm25Params::default()
            },
            crate::Language::En => Bm25Params {
                k1: 0.9,
                b: 0.4,
                ..Bm25Params::default()
            },
        }
    }

    /// Rejects parameters outside their meaningful ranges.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.k1.is_finite() && self.k1 >= 0.0) {
            return Err(format!("k1 must be ≥ 0, got {}", self.k1));
        }
        if !(0.0..=1.0).contains(&self.b) {
            return Err(format!("b must be in [0, 1], got {}", self.b));
        }
        if !(self.delta.is_finite() && self.delta >= 0.0) {
            return Err(format!("delta must be ≥ 0, got {}", self.delta));
        }
        if !(self.title_weight.is_finite() && self.title_weight >= 0.0) {
            return Err(format!(
                "title weight must be ≥ 0, got {}",
                self.title_weight
            ));
        }
        Ok(())
    }

    fn idf(&self, doc_freq: u64, num_docs: u64) -> Score {
        let (df, n) = (doc_freq as f64, num_docs.max(doc_freq) as f64);
        let idf = match self.idf {
            Idf::Lucene => (1.0 + (n - df + 0.5) / (df + 0.5)).ln(),
            Idf::Atire => (n / df.max(1.0)).ln(),
        };
        idf as Score
    }
}

/// Optional replacements for some [`Bm25Params`] fields (command-line overrides).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Bm25Overrides {
    /// k1.
    pub k1: Option<f64>,
    /// b.
    pub b: Option<f64>,
    /// BM25+ δ.
    pub delta: Option<f64>,
    /// idf formula.
    pub idf: Option<Idf>,
    /// Title weight.
    pub title_weight: Option<f64>,
    /// Count repeated question terms.
    pub query_tf: Option<bool>,
}

impl Bm25Overrides {
    /// `base` with the overrides applied.
    pub fn apply(&self, base: Bm25Params) -> Bm25Params {
        Bm25Params {
            k1: self.k1.unwrap_or(base.k1),
            b: self.b.unwrap_or(base.b),
            delta: self.delta.unwrap_or(base.delta),
            idf: self.idf.unwrap_or(base.idf),
            title_weight: self.title_weight.unwrap_or(base.title_weight),
            query_tf: self.query_tf.unwrap_or(base.query_tf),
        }
    }
}

/// A disjunction of weighted terms over weighted fields, scored with [`Bm25Params`].
#[derive(Debug, Clone)]
pub struct Bm25Query {
    fields: Vec<(Field, Score)>,
    terms: Vec<(String, Score)>,
    params: Bm25Params,
}

impl Bm25Query {
    /// A query for `terms` (analysed question terms, repeats allowed) over `fields` with their weights.
    pub fn new(fields: Vec<(Field, f64)>, terms: &[String], params: Bm25Params) -> Self {
        let mut weighted: Vec<(String, Score)> = Vec::new();
        for term in terms {
            match weighted.iter_mut().find(|(t, _)| t == term) {
                Some((_, w)) if params.query_tf => *w += 1.0,
                Some(_) => {}
                None => weighted.push((term.clone(), 1.0)),
            }
        }
        let fields = fields
            .into_iter()
            .filter(|&(_, w)| w > 0.0)
            .map(|(f, w)| (f, w as Score))
            .collect();
        Bm25Query {
            fields,
            terms: weighted,
            params,
        }
    }
}

impl Query for Bm25Query {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let EnableScoring::Enabled {
            statistics_provider: stats,
            ..
        } = enable_scoring
        else {
            return Err(TantivyError::InvalidArgument(
                "Bm25Query needs scoring enabled".into(),
            ));
        };
        let num_docs = stats.total_num_docs()?;
        let mut fields = Vec::with_capacity(self.fields.len());
        for &(field, field_weight) in &self.fields {
            let average = stats.total_num_tokens(field)? as f64 / num_docs.max(1) as f64;
            let mut terms = Vec::with_capacity(self.terms.len());
            for (text, query_weight) in &self.terms {
                let term = Term::from_field_text(field, text);
                let doc_freq = stats.doc_freq(&term)?;
                if doc_freq > 0 {
                    terms.push((
                        term,
                        field_weight * query_weight * self.params.idf(doc_freq, num_docs),
                    ));
                }
            }
            // k1·(1 − b + b·len/avg) for each of the 256 quantised field lengths.
            let norm_cache: Vec<Score> = (0..=255u8)
                .map(|id| {
                    let len = FieldNormReader::id_to_fieldnorm(id) as f64;
                    (self.params.k1
                        * (1.0 - self.params.b + self.params.b * len / average.max(1e-6)))
                        as Score
                })
                .collect();
            fields.push(FieldWeight {
                field,
                terms,
                norm_cache,
            });
        }
        Ok(Box::new(Bm25Weight {
            fields,
            k1: self.params.k1 as Score,
            delta: self.params.delta as Score,
        }))
    }

    fn query_terms<'a>(&'a self, _visitor: &mut dyn FnMut(&'a Term, bool)) {}
}

struct FieldWeight {
    field: Field,
    /// Terms present in the index with their weight (field weight × query count × idf).
    terms: Vec<(Term, Score)>,
    norm_cache: Vec<Score>,
}

struct Bm25Weight {
    fields: Vec<FieldWeight>,
    k1: Score,
    delta: Score,
}

impl Bm25Weight {
    /// Scores every matching document of the segment, term at a time.
    fn accumulate(&self, reader: &SegmentReader) -> tantivy::Result<ScoredDocs> {
        let mut scores = vec![0.0 as Score; reader.max_doc() as usize];
        let mut matched = vec![false; reader.max_doc() as usize];
        for field in &self.fields {
            let inverted = reader.inverted_index(field.field)?;
            let norms = reader.get_fieldnorms_reader(field.field)?;
            for (term, weight) in &field.terms {
                let Some(mut postings) =
                    inverted.read_postings(term, IndexRecordOption::WithFreqs)?
                else {
                    continue;
                };
                let mut doc = postings.doc();
                while doc != TERMINATED {
                    let tf = postings.term_freq() as Score;
                    let norm = field.norm_cache[norms.fieldnorm_id(doc) as usize];
                    scores[doc as usize] +=
                        weight * (tf * (self.k1 + 1.0) / (tf + norm) + self.delta);
                    matched[doc as usize] = true;
                    doc = postings.advance();
                }
            }
        }
        let docs: Vec<DocId> = (0..reader.max_doc())
            .filter(|&d| matched[d as usize])
            .collect();
        let scores = docs.iter().map(|&d| scores[d as usize]).collect();
        Ok(ScoredDocs {
            docs,
            scores,
            cursor: 0,
        })
    }
}

impl Weight for Bm25Weight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut scored = self.accumulate(reader)?;
        if boost != 1.0 {
            scored.scores.iter_mut().for_each(|s| *s *= boost);
        }
        Ok(Box::new(scored))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(TantivyError::InvalidArgument(format!(
                "document #{doc} does not match"
            )));
        }
        Ok(Explanation::new(
            "odqa BM25 (sum over fields and terms)",
            scorer.score(),
        ))
    }
}

/// The matching documents of one segment with their scores, in doc-id order.
struct ScoredDocs {
    docs: Vec<DocId>,
    scores: Vec<Score>,
    cursor: usize,
}

impl DocSet for ScoredDocs {
    fn advance(&mut self) -> DocId {
        self.cursor += 1;
        self.doc()
    }

    fn doc(&self) -> DocId {
        self.docs.get(self.cursor).copied().unwrap_or(TERMINATED)
    }

    fn size_hint(&self) -> u32 {
        (self.docs.len() - self.cursor.min(self.docs.len())) as u32
    }
}

impl Scorer for ScoredDocs {
    fn score(&mut self) -> Score {
        self.scores.get(self.cursor).copied().unwrap_or(0.0)
    }
}

#[cfg(test)]
#[path = "bm25_tests.rs"]
mod tests;
