//! Dense retrieval with the reader's encoder code: computing an index's passage vectors
//! ([`build_dense`], resumable) and giving a [`Retriever`] its question encoder ([`attach_dense`]).

use odqa_reader::precision::Precision;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use odqa_core::control::Observer;
use odqa_core::shard::Shard;
use odqa_reader::embed::{Embedder, DEFAULT_MAX_LEN};
use odqa_reader::lora::{file_sha256, is_adapter_dir};
use odqa_reader::model_files::weights_file;
use odqa_reader::{ReaderBackend, ReaderError};
use odqa_retriever::dense::build::{index_checksum, DenseBuild};
use odqa_retriever::dense::shards::merge_shards;
use odqa_retriever::FileSum;
use odqa_retriever::{DenseEncoder, DenseIndex, DenseMeta, QueryEncoder, Retriever};

use crate::error::{PipelineError, Result};
use crate::settings::PipelineSettings;

/// How passage vectors are computed.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseBuildOptions {
    /// Texts per forward pass.
    pub batch_size: usize,
    /// Tokens read per text at most.
    pub max_len: usize,
    /// Passages embedded between two saves of the partial state.
    pub chunk: usize,
    /// Prefix of passages (`"passage: "`, e5's).
    pub passage_prefix: String,
    /// Prefix of questions (`"query: "`, e5's), recorded for search.
    pub query_prefix: String,
    /// Precision of the encoder's products (see [`Precision`]).
    pub precision: Precision,
}

impl Default for DenseBuildOptions {
    fn default() -> Self {
        DenseBuildOptions {
            batch_size: 32,
            max_len: DEFAULT_MAX_LEN,
            chunk: 4096,
            passage_prefix: "passage: ".into(),
            query_prefix: "query: ".into(),
            precision: Precision::Auto,
        }
    }
}

/// What [`build_dense`] did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DenseBuildSummary {
    /// Vectors in the index (one per distinct passage).
    pub passages: u64,
    /// Vectors found already computed by an interrupted run.
    pub resumed: u64,
    /// Values per vector.
    pub dim: usize,
    /// Seconds of this run.
    pub seconds: f64,
    /// Seconds over every run of this build.
    pub total_seconds: f64,
    /// Size of the vectors file.
    pub bytes: u64,
}

/// Told the passages embedded so far (of the whole index), asked whether to stop.
struct Offset<'a> {
    inner: &'a dyn Observer,
    base: usize,
    total: usize,
}

impl Observer for Offset<'_> {
    fn progress(&self, done: usize, _: usize) {
        self.inner.progress(self.base + done, self.total)
    }

    fn resumed(&self, done: usize, total: usize) {
        self.inner.resumed(done, total)
    }

    fn should_stop(&self) -> bool {
        self.inner.should_stop()
    }
}

/// Computes the vectors of every passage of the index `index` with the encoder of `model` and
/// installs them as the index's `dense/`. An interrupted run (Ctrl-C through `observer`, a failure,
/// `kill -9`) keeps what it computed; the next run with the same model and options on the same
/// index resumes there. `observer` is told the passages done (of all).
pub fn build_dense<B: ReaderBackend>(
    index: &Path,
    model: &Path,
    options: &DenseBuildOptions,
    observer: &dyn Observer,
    device: &B::Device,
) -> Result<DenseBuildSummary> {
    build_with::<B>(index, model, options, observer, device, |setup| {
        DenseBuild::start(
            index,
            setup.encoder,
            setup.dim,
            setup.count,
            setup.index_meta,
        )
    })
    .and_then(|(build, mut summary)| {
        let meta = build.finish(env!("CARGO_PKG_VERSION"))?;
        summary.bytes = meta.vectors.bytes;
        Ok(summary)
    })
}

/// Computes shard `shard` of the passage vectors of `index` into the folder `parts` shared by the
/// shards' tasks (the index itself is only read), resumable as [`build_dense`];
/// [`merge_dense_shards`] installs them once every shard is done. `observer` is told the
/// passages done of the shard's.
pub fn build_dense_shard<B: ReaderBackend>(
    index: &Path,
    model: &Path,
    parts: &Path,
    shard: Shard,
    options: &DenseBuildOptions,
    observer: &dyn Observer,
    device: &B::Device,
) -> Result<DenseBuildSummary> {
    build_with::<B>(index, model, options, observer, device, |setup| {
        DenseBuild::start_shard(
            index,
            parts,
            shard,
            setup.encoder,
            setup.dim,
            setup.count,
            setup.index_meta,
        )
    })
    .and_then(|(build, summary)| {
        build.finish_shard()?;
        Ok(summary)
    })
}

/// Installs the `shards` finished shards of `parts` as `dense/` of `index` (byte for byte what
/// [`build_dense`] writes); refused when one is missing or they are not of one build.
pub fn merge_dense_shards(index: &Path, parts: &Path, shards: usize) -> Result<DenseMeta> {
    Ok(merge_shards(
        index,
        parts,
        shards,
        env!("CARGO_PKG_VERSION"),
    )?)
}

/// What a dense build is started from.
struct BuildSetup {
    encoder: DenseEncoder,
    dim: usize,
    /// Passages of the whole index.
    count: u64,
    index_meta: FileSum,
}

/// Loads the encoder, starts the build with `start` and computes its rows (chunk by chunk,
/// saved after each); the caller installs the complete build.
fn build_with<B: ReaderBackend>(
    index: &Path,
    model: &Path,
    options: &DenseBuildOptions,
    observer: &dyn Observer,
    device: &B::Device,
    start: impl FnOnce(BuildSetup) -> odqa_retriever::Result<DenseBuild>,
) -> Result<(DenseBuild, DenseBuildSummary)> {
    // Taken before the index is opened: the build refuses to install rows of another build.
    let index_meta = index_checksum(index)?;
    let retriever = Retriever::open(index)?;
    let embedder =
        Embedder::<B>::load(model, options.max_len, device)?.with_precision(options.precision);
    let encoder = DenseEncoder {
        model: odqa_core::fsio::resolve(model),
        sha256: encoder_sha256(model)?,
        query_prefix: options.query_prefix.clone(),
        passage_prefix: options.passage_prefix.clone(),
        pooling: "mean".into(),
        normalized: true,
        max_len: options.max_len,
    };
    let mut build = start(BuildSetup {
        encoder: encoder.clone(),
        dim: embedder.dim(),
        count: retriever.num_passages(),
        index_meta,
    })?;
    let (first, count) = (build.first_row(), build.row_count());
    let resumed = build.rows_done();
    if resumed > 0 {
        observer.resumed(resumed as usize, count as usize);
    }
    let started = Instant::now();
    let chunk = options.chunk.max(1) as u64;
    while build.rows_done() < count {
        let from = build.rows_done();
        let rows = first + from..first + (from + chunk).min(count);
        let passages = retriever.passages_in_order(rows)?;
        let texts: Vec<String> = passages
            .iter()
            .map(|(title, text)| encoder.passage_text(title, text))
            .collect();
        let watch = Offset {
            inner: observer,
            base: from as usize,
            total: count as usize,
        };
        let t = Instant::now();
        let vectors = embedder
            .embed(&texts, options.batch_size, &watch)
            .map_err(|e| match e {
                ReaderError::Interrupted => PipelineError::Interrupted,
                other => other.into(),
            })?;
        build.append(&vectors, t.elapsed().as_secs_f64())?;
    }
    let summary = DenseBuildSummary {
        passages: count,
        resumed,
        dim: embedder.dim(),
        seconds: started.elapsed().as_secs_f64(),
        total_seconds: build.seconds(),
        bytes: count * embedder.dim() as u64 * 2,
    };
    Ok((build, summary))
}

/// The identity of an encoder: the sha256 of its weights file (for a LoRA adapter directory, of
/// the adapter's own file only: its base is not part of it).
pub fn encoder_sha256(model: &Path) -> Result<String> {
    let file = if is_adapter_dir(model) {
        model.join("adapter_model.safetensors")
    } else {
        weights_file(model)
    };
    Ok(file_sha256(&file)?)
}

/// A question encoder over an [`Embedder`]. Each question is encoded alone (a batch of one, no
/// padding), so its vector — and the passages it retrieves — are bit for bit the same whether it
/// is asked alone (`ask`), in a file (`predict`, `tune`) or beside other clients' questions
/// (`serve`); the questions of a batch still run side by side on the rayon pool.
pub struct EmbedderEncoder<B: ReaderBackend> {
    embedder: Embedder<B>,
}

/// Questions per forward pass of [`EmbedderEncoder`]: one.
const QUESTIONS_PER_PASS: usize = 1;

impl<B: ReaderBackend> QueryEncoder for EmbedderEncoder<B> {
    fn encode(&self, texts: &[String]) -> std::result::Result<Vec<Vec<f32>>, String> {
        self.embedder
            .embed(texts, QUESTIONS_PER_PASS, &odqa_core::control::Unobserved)
            .map_err(|e| e.to_string())
    }
}

/// Opens the index `index` for the retriever `settings` name: BM25 alone, or with the index's
/// passage vectors and their question encoder (`settings.dense_model`, else the one the index
/// records) for dense and hybrid retrieval.
pub fn open_retriever<B: ReaderBackend>(
    index: &Path,
    settings: &PipelineSettings,
    device: &B::Device,
) -> Result<Retriever> {
    let mut retriever = Retriever::open(index)?;
    if settings.retriever.needs_vectors() {
        attach_dense::<B>(&mut retriever, settings, device)?;
    }
    Ok(retriever)
}

/// Gives `retriever` its index's passage vectors and question encoder, searching as
/// `settings` say. The encoder is loaded from `settings.dense_model` when given, else from where
/// the vectors' metadata says; either way its weights must be the ones that computed the vectors.
pub fn attach_dense<B: ReaderBackend>(
    retriever: &mut Retriever,
    settings: &PipelineSettings,
    device: &B::Device,
) -> Result<()> {
    let vectors = DenseIndex::open(retriever.dir())?;
    let meta = vectors.meta().encoder.clone();
    let dir: PathBuf = settings
        .dense_model
        .clone()
        .unwrap_or_else(|| meta.model.clone());
    let sha = encoder_sha256(&dir).map_err(|e| {
        PipelineError::BadInput(format!(
            "cannot load the question encoder of the index's dense vectors ({e}); name a copy of \
             that model"
        ))
    })?;
    if sha != meta.sha256 {
        return Err(PipelineError::BadInput(format!(
            "{} is not the encoder that computed the index's passage vectors (its weights' sha256 \
             is {sha}, the vectors' encoder's {})",
            dir.display(),
            meta.sha256
        )));
    }
    let embedder =
        Embedder::<B>::load(&dir, meta.max_len, device)?.with_precision(settings.precision);
    let encoder = Arc::new(EmbedderEncoder { embedder });
    Ok(retriever.set_dense(vectors, encoder, settings.dense())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use odqa_reader::CpuBackend;

    #[test]
    fn a_question_gets_the_same_vector_alone_and_beside_others() {
        let model = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/reader-parity/tiny-bert-qa");
        let embedder = Embedder::<CpuBackend>::load(&model, 128, &Default::default()).unwrap();
        let encoder = EmbedderEncoder { embedder };
        let questions: Vec<String> = [
            "query: 임종석이 여의도 농민 폭력 시위를 주도한 혐의로 지명수배된 연도는?",
            "query: 누구?",
            "query: Whose company designed and built the Eiffel Tower in Paris?",
        ]
        .map(String::from)
        .to_vec();
        let together = encoder.encode(&questions).unwrap();
        for (q, v) in questions.iter().zip(&together) {
            let alone = encoder.encode(std::slice::from_ref(q)).unwrap();
            assert_eq!(&alone[0], v, "{q}");
        }
    }
}
