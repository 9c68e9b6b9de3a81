//! `odqa model merge`: a LoRA adapter folded into its base, written as a full model directory.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use odqa_reader::lora::merge_adapter;
use odqa_reader::DefaultBackend;

use crate::args::BaseArgs;

/// Arguments of `odqa model merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// LoRA adapter directory (adapter_config.json, adapter_model.safetensors)
    #[arg(value_name = "ADAPTER")]
    adapter: PathBuf,
    #[command(flatten)]
    base: BaseArgs,
    /// Model directory to write (must not exist): config.json, model.safetensors (f32), the
    /// tokenizer files
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Runs `odqa model merge`.
pub fn run(args: MergeArgs) -> anyhow::Result<()> {
    let source = args.base.source(&args.adapter);
    let mut inputs = vec![args.adapter.as_path()];
    inputs.extend(args.base.base.as_deref());
    odqa_core::fsio::check_outputs(&inputs, &[args.out.as_path()])?;
    let merged = merge_adapter::<DefaultBackend>(&source, &args.out, &Default::default())
        .with_context(|| format!("cannot merge {}", args.adapter.display()))?;
    for warning in &merged.warnings {
        eprintln!("warning: {warning}");
    }
    println!(
        "merged {} onto {} → {} (f32; reads exactly as the adapter does)",
        args.adapter.display(),
        merged.base.display(),
        args.out.display()
    );
    Ok(())
}
