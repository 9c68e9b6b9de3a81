//! Opening an index and retrieving passages for questions.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Serialize;
use tantivy::collector::sort_key::{SortBySimilarityScore, SortByStaticFastValue};
use tantivy::collector::TopDocs;
use tantivy::schema::Value;
use tantivy::{DocAddress, IndexReader, Order, Searcher, TantivyDocument};

use crate::analysis::AnalyzerConfig;
use crate::bm25::{Bm25Params, Bm25Query};
use crate::error::{Result, RetrieverError};
use crate::layout::{self, Alias, AliasTable, Fields, IndexMeta, CORPUS_ORDER_FIELD};
use crate::{guard, verify};

mod hybrid;
mod order;

pub use hybrid::{DenseSettings, QueryEncoder};

/// A retrieved passage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// 1-based rank.
    pub rank: usize,
    /// The retriever's score: BM25's, the dense inner product, or the fused score (hybrid).
    pub score: f32,
    /// BM25 score, in a hybrid list when BM25 ranked the passage among its candidates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bm25_score: Option<f32>,
    /// Dense score (cosine of question and passage vectors), in a dense or hybrid list when dense
    /// search ranked the passage among its candidates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dense_score: Option<f32>,
    /// In a hybrid list, the lowest BM25 score among BM25's candidates: a bound on the BM25 score
    /// of a passage only dense search found (what answer aggregation weighs it with). The same
    /// for every k.
    #[serde(skip)]
    pub bm25_floor: Option<f32>,
    /// Passage id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Passage text.
    pub text: String,
    /// Source document id.
    pub doc_id: String,
    /// Offset of the passage in its document, in characters.
    pub char_offset: usize,
    /// Extra fields of the source record.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub meta: serde_json::Map<String, serde_json::Value>,
    /// Other passages with exactly the same text (indexed once).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub duplicates: Vec<Alias>,
}

/// The retrievers' own scores of a passage as odqa shows them (the CLI; the web page follows the
/// same wording): `BM25 12.30`, `dense 0.871`, or both joined by ` · ` (hybrid); `None` when
/// neither is known.
pub fn score_label(bm25: Option<f32>, dense: Option<f32>) -> Option<String> {
    let parts: Vec<String> = [
        bm25.map(|s| format!("BM25 {s:.2}")),
        dense.map(|s| format!("dense {s:.3}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// An opened odqa index, ready for (parallel) retrieval.
pub struct Retriever {
    dir: PathBuf,
    meta: IndexMeta,
    fields: Fields,
    reader: IndexReader,
    aliases: AliasTable,
    params: Bm25Params,
    /// Document addresses by corpus order, read when first needed ([`Retriever::hit_by_order`]).
    by_order: OnceLock<Vec<DocAddress>>,
    /// Passage vectors and question encoder ([`Retriever::with_dense`]).
    dense: Option<hybrid::DenseSide>,
}

impl Retriever {
    /// Opens the index in `dir`, registering its analyzer again.
    ///
    /// The index is opened read-only and checked on the way, as [`crate::verify_index`] does
    /// (only the recorded checksums of tantivy's segment files are left to it, their own CRC32
    /// footers are checked): a damaged file is a [`RetrieverError::Corrupt`] naming it.
    pub fn open(dir: &Path) -> Result<Retriever> {
        let meta = IndexMeta::read(dir)?;
        verify::check_read_whole(dir, &meta)?;
        let (index, fields) = layout::open_tantivy(dir, &meta)?;
        verify::check_segments(dir, &index)?;
        let reader = verify::open_reader(dir, &index)?;
        let aliases = verify::read_aliases(dir, &meta)?;
        Ok(Retriever {
            dir: dir.to_path_buf(),
            params: meta.bm25,
            meta,
            fields,
            reader,
            aliases,
            by_order: OnceLock::new(),
            dense: None,
        })
    }

    /// Uses `params` instead of the index's defaults.
    pub fn with_params(mut self, params: Bm25Params) -> Result<Retriever> {
        params.validate().map_err(RetrieverError::InvalidArgument)?;
        self.params = params;
        Ok(self)
    }

    /// The index metadata.
    pub fn meta(&self) -> &IndexMeta {
        &self.meta
    }

    /// The BM25 parameters in use.
    pub fn params(&self) -> &Bm25Params {
        &self.params
    }

    /// The index's analyzer.
    pub fn analyzer(&self) -> &AnalyzerConfig {
        &self.meta.analyzer
    }

    /// Number of indexed (distinct) passages.
    pub fn num_passages(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// The top `k` passages for `question` by BM25, whatever [`Self::mode`] says. The question is
    /// analysed like the passages and its terms OR-ed, so any text works (quotes, `AND`, `-`, `:`
    /// … are plain characters). An empty question, or one without a single word, is an error
    /// ([`Self::check_question`]).
    pub fn search_bm25(&self, question: &str, k: usize) -> Result<Vec<Hit>> {
        let terms = self.terms_of(question)?;
        let searcher = self.reader.searcher();
        // Never ask the collector for more slots than there are passages.
        let k = k.min(searcher.num_docs() as usize);
        if k == 0 {
            return Ok(Vec::new());
        }
        let fields = vec![
            (self.fields.text, 1.0),
            (self.fields.title, self.params.title_weight),
        ];
        let query = Bm25Query::new(fields, &terms, self.params);
        // Equal scores rank in corpus order, the same in every build of the index.
        let by_score_then_corpus_order = (
            (SortBySimilarityScore, Order::Desc),
            (
                SortByStaticFastValue::<u64>::for_field(CORPUS_ORDER_FIELD),
                Order::Asc,
            ),
        );
        let collector = TopDocs::with_limit(k).order_by(by_score_then_corpus_order);
        let top = guard::catch(|| searcher.search(&query, &collector))
            .map_err(|panic| verify::damaged_index(&self.dir, &panic))??;
        top.into_iter()
            .enumerate()
            .map(|(i, ((score, _), address))| {
                let doc = self.fetch(&searcher, address)?;
                Ok(self.hit(i + 1, score, &doc))
            })
            .collect()
    }

    /// Whether `question` can be searched: [`RetrieverError::EmptyQuestion`] when it is empty or
    /// blank, [`RetrieverError::NoSearchableWords`] when its analysis leaves no term (only
    /// punctuation or symbols). The rule [`Self::search`] applies, for callers that want to refuse
    /// a question before queueing it.
    pub fn check_question(&self, question: &str) -> Result<()> {
        self.terms_of(question).map(|_| ())
    }

    /// The analysed terms of `question`, or why it cannot be searched.
    fn terms_of(&self, question: &str) -> Result<Vec<String>> {
        if question.trim().is_empty() {
            return Err(RetrieverError::EmptyQuestion);
        }
        let terms = self.meta.analyzer.terms(question);
        if terms.is_empty() {
            return Err(RetrieverError::NoSearchableWords {
                question: question.to_string(),
            });
        }
        Ok(terms)
    }

    /// The passage with id `id`, also when `id` names a duplicate of an indexed passage.
    pub fn get(&self, id: &str) -> Result<Option<Hit>> {
        let canonical = self.aliases.resolve(id);
        let searcher = self.reader.searcher();
        let term = tantivy::Term::from_field_text(self.fields.id, canonical);
        let query = tantivy::query::TermQuery::new(term, tantivy::schema::IndexRecordOption::Basic);
        let collector = TopDocs::with_limit(1).order_by_score();
        let found = guard::catch(|| searcher.search(&query, &collector))
            .map_err(|panic| verify::damaged_index(&self.dir, &panic))??;
        let Some((_, address)) = found.into_iter().next() else {
            return Ok(None);
        };
        let doc = self.fetch(&searcher, address)?;
        let mut hit = self.hit(1, 0.0, &doc);
        if let Some(alias) = hit.duplicates.iter().find(|a| a.id == id).cloned() {
            // Present the alias as itself, with the indexed passage listed as its duplicate.
            hit.duplicates.retain(|a| a.id != id);
            hit.duplicates.insert(
                0,
                Alias {
                    id: hit.id.clone(),
                    title: hit.title.clone(),
                    doc_id: hit.doc_id.clone(),
                    char_offset: hit.char_offset,
                    canonical: hit.id.clone(),
                },
            );
            hit.id = alias.id;
            hit.title = alias.title;
            hit.doc_id = alias.doc_id;
            hit.char_offset = alias.char_offset;
        }
        Ok(Some(hit))
    }

    /// The stored passage at `address`; a failure to read it (or a panic of tantivy's, the
    /// backstop behind the checksums checked at opening) names the segment's document store.
    fn fetch(&self, searcher: &Searcher, address: DocAddress) -> Result<TantivyDocument> {
        let store = || {
            let segment = searcher.segment_reader(address.segment_ord).segment_id();
            self.dir.join(format!("{}.store", segment.uuid_string()))
        };
        let corrupt = |message: String| RetrieverError::Corrupt {
            path: store(),
            message,
        };
        match guard::catch(|| searcher.doc::<TantivyDocument>(address)) {
            Ok(Ok(doc)) => Ok(doc),
            Ok(Err(e)) => Err(corrupt(format!("unreadable passage: {e}"))),
            Err(panic) => Err(corrupt(format!(
                "tantivy failed reading a passage ({panic})"
            ))),
        }
    }

    fn hit(&self, rank: usize, score: f32, doc: &TantivyDocument) -> Hit {
        let text = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let id = text(self.fields.id);
        let meta = doc
            .get_first(self.fields.meta)
            .and_then(|v| v.as_str())
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        Hit {
            rank,
            score,
            bm25_score: None,
            dense_score: None,
            bm25_floor: None,
            duplicates: self.aliases.duplicates_of(&id).to_vec(),
            title: text(self.fields.title),
            text: text(self.fields.text),
            doc_id: text(self.fields.doc_id),
            char_offset: doc
                .get_first(self.fields.char_offset)
                .and_then(|v| v.as_u64())
                .unwrap_or(0) as usize,
            meta,
            id,
        }
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}
