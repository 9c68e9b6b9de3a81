//! `odqa download`: a model directory from the Hugging Face hub (cargo feature `hub`).

use std::path::PathBuf;

use clap::Args;

#[cfg(not(feature = "hub"))]
use crate::args::UsageError;

/// Arguments of `odqa download`.
#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// Hugging Face model id, e.g. intfloat/multilingual-e5-small
    model_id: String,
    /// Directory to write config.json, model.safetensors and tokenizer.json to
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Branch, tag or commit
    #[arg(long, default_value = "main")]
    revision: String,
}

/// The files a model directory needs.
#[cfg_attr(not(feature = "hub"), allow(dead_code))]
const FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

#[cfg(not(feature = "hub"))]
pub fn run(args: DownloadArgs) -> anyhow::Result<()> {
    Err(UsageError(format!(
        "this odqa was built without the `hub` feature, so it cannot download {} ({}): rebuild with \
         `cargo build --release --features hub`, or put {} from the model's hub page into {} yourself",
        args.model_id,
        args.revision,
        FILES.join(", "),
        args.out.display()
    ))
    .into())
}

#[cfg(feature = "hub")]
pub fn run(args: DownloadArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    use hf_hub::api::sync::ApiBuilder;
    use hf_hub::{Repo, RepoType};

    let api = ApiBuilder::new()
        .with_progress(true)
        .build()
        .context("cannot set up the Hugging Face hub client")?;
    let repo = api.repo(Repo::with_revision(
        args.model_id.clone(),
        RepoType::Model,
        args.revision.clone(),
    ));
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    for name in FILES {
        let cached = repo.get(name).with_context(|| {
            let hint = if name == "tokenizer.json" {
                " (odqa needs the fast-tokenizer file; for a model that has only vocab.txt or a \
                 sentencepiece model, save one with transformers' AutoTokenizer.save_pretrained)"
            } else if name == "model.safetensors" {
                " (odqa reads safetensors weights only; convert pytorch_model.bin with transformers)"
            } else {
                ""
            };
            format!("cannot download {name} of {}{hint}", args.model_id)
        })?;
        let target = args.out.join(name);
        let partial = args.out.join(format!(".{name}.partial"));
        std::fs::copy(&cached, &partial)
            .and_then(|_| std::fs::rename(&partial, &target))
            .with_context(|| format!("cannot write {}", target.display()))?;
        eprintln!("{} → {}", name, target.display());
    }
    Ok(())
}
