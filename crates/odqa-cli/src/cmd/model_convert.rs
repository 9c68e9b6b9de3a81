//! `odqa model convert`: a model directory rewritten with safetensors weights.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use odqa_reader::convert::convert_model_dir;

/// Arguments of `odqa model convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Model directory (config.json, model.safetensors or pytorch_model.bin, tokenizer files)
    #[arg(value_name = "DIR")]
    model: PathBuf,
    /// Model directory to write (must not exist): config.json, model.safetensors, the tokenizer
    /// files, and tokenizer.json when the model has only vocab.txt
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Runs `odqa model convert`.
pub fn run(args: ConvertArgs) -> anyhow::Result<()> {
    odqa_core::fsio::check_outputs(&[args.model.as_path()], &[args.out.as_path()])?;
    let converted = convert_model_dir(&args.model, &args.out)
        .with_context(|| format!("cannot convert {}", args.model.display()))?;
    println!(
        "converted {} ({} tensors) → {}/model.safetensors{}",
        converted.weights.display(),
        converted.tensors,
        args.out.display(),
        if converted.tokenizer_json {
            " and tokenizer.json (built from vocab.txt)"
        } else {
            ""
        }
    );
    Ok(())
}
