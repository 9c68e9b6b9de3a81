//! The tiny pipeline of the embedding tests (also included by odqa-serve's HTTP tests): the
//! committed fixture corpus indexed into a folder, read by the tiny QA model (128 positions).

use std::path::{Path, PathBuf};

use odqa_pipeline::{Pipeline, PipelineSettings};
use odqa_reader::DefaultBackend;
use odqa_retriever::{build_index, BuildOptions, CancelToken};

/// The repository's `tests/fixtures`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// Indexes the fixture corpus into `index` and opens it with the tiny model and `settings`
/// (its window lengths set to what the model allows).
pub fn tiny_pipeline(index: &Path, mut settings: PipelineSettings) -> Pipeline<DefaultBackend> {
    let corpus = fixtures().join("wikipedia_documents.json");
    build_index(
        &[corpus],
        index,
        &BuildOptions::default(),
        &CancelToken::new(),
    )
    .expect("index the fixture corpus");
    (settings.max_seq_len, settings.doc_stride) = (128, 32);
    let model = fixtures().join("reader-parity/tiny-bert-qa");
    Pipeline::open(index, &model, settings, &Default::default()).expect("open the tiny pipeline")
}
