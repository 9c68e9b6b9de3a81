//! `odqa download`: a model directory from the Hugging Face hub (cargo feature `hub`).
//!
//! Which files are fetched is decided from the repository's file list ([`choose_files`]), so
//! that every reader Korean users pick works: `tokenizer.json`, or `vocab.txt` with
//! `tokenizer_config.json` and `special_tokens_map.json` (KoELECTRA, klue/roberta);
//! `model.safetensors`, or `pytorch_model.bin` when a repository has no safetensors file.

use std::path::PathBuf;

use clap::Args;

#[cfg(not(feature = "hub"))]
use crate::args::UsageError;

/// Arguments of `odqa download`.
#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// Hugging Face model id, e.g. monologg/koelectra-base-v3-finetuned-korquad
    model_id: String,
    /// Directory to create (must not exist, or be empty): config.json, the weights
    /// (model.safetensors, else pytorch_model.bin) and the tokenizer files (tokenizer.json and/or
    /// vocab.txt, tokenizer_config.json, special_tokens_map.json) the repository has
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Branch, tag or commit
    #[arg(long, default_value = "main")]
    revision: String,
}

/// Tokenizer files fetched whenever the repository has them.
#[cfg_attr(not(feature = "hub"), allow(dead_code))]
const TOKENIZER_FILES: [&str; 5] = [
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
];

/// The files to fetch from a repository holding `listed`: `config.json`, one weights file
/// (`model.safetensors`, else `pytorch_model.bin`) and every tokenizer file there is. A
/// repository lacking one of the three parts is an error saying what is missing.
#[cfg_attr(not(feature = "hub"), allow(dead_code))]
pub fn choose_files(listed: &[String]) -> Result<Vec<&'static str>, String> {
    let has = |name: &str| listed.iter().any(|f| f == name);
    if !has("config.json") {
        return Err("the repository has no config.json: it is not a transformers model".into());
    }
    let weights = ["model.safetensors", "pytorch_model.bin"]
        .into_iter()
        .find(|name| has(name))
        .ok_or_else(|| {
            let sharded = listed.iter().any(|f| f.ends_with(".index.json"));
            if sharded {
                "the weights are sharded (*.index.json); odqa reads one model.safetensors or \
                 pytorch_model.bin: merge the shards with transformers first"
                    .to_string()
            } else {
                "the repository has neither model.safetensors nor pytorch_model.bin".to_string()
            }
        })?;
    let tokenizer: Vec<&'static str> = TOKENIZER_FILES.into_iter().filter(|n| has(n)).collect();
    if !tokenizer
        .iter()
        .any(|n| matches!(*n, "tokenizer.json" | "vocab.txt"))
    {
        return Err(
            "the repository has neither tokenizer.json nor vocab.txt (a sentencepiece-only \
             tokenizer): save a tokenizer.json with transformers' AutoTokenizer.save_pretrained"
                .into(),
        );
    }
    let mut files = vec!["config.json", weights];
    files.extend(tokenizer);
    Ok(files)
}

#[cfg(not(feature = "hub"))]
pub fn run(args: DownloadArgs) -> anyhow::Result<()> {
    Err(UsageError(format!(
        "this odqa was built without the `hub` feature, so it cannot download {} ({}): rebuild with \
         `cargo build --release --features hub`, or put config.json, the weights \
         (model.safetensors or pytorch_model.bin) and the tokenizer files (tokenizer.json, or \
         vocab.txt with tokenizer_config.json) from the model's hub page into {} yourself",
        args.model_id,
        args.revision,
        args.out.display()
    ))
    .into())
}

#[cfg(feature = "hub")]
pub fn run(args: DownloadArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    use hf_hub::api::sync::ApiBuilder;
    use hf_hub::{Repo, RepoType};

    let empty = std::fs::read_dir(&args.out).map_or(true, |mut d| d.next().is_none());
    if !empty {
        return Err(crate::args::UsageError(format!(
            "{} already exists and is not empty: downloading writes a new model directory",
            args.out.display()
        ))
        .into());
    }
    let api = ApiBuilder::new()
        .with_progress(true)
        .build()
        .context("cannot set up the Hugging Face hub client")?;
    let repo = api.repo(Repo::with_revision(
        args.model_id.clone(),
        RepoType::Model,
        args.revision.clone(),
    ));
    let info = repo
        .info()
        .with_context(|| format!("cannot list the files of {}", args.model_id))?;
    let listed: Vec<String> = info.siblings.into_iter().map(|s| s.rfilename).collect();
    let files = choose_files(&listed).map_err(|e| anyhow::anyhow!("{}: {e}", args.model_id))?;
    let staging = odqa_core::fsio::parent_dir(&args.out).join(format!(
        ".{}.downloading-{}",
        args.out
            .file_name()
            .map_or("model".into(), |n| n.to_string_lossy()),
        std::process::id()
    ));
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    let fetched = files.iter().try_for_each(|name| {
        let cached = repo
            .get(name)
            .with_context(|| format!("cannot download {name} of {}", args.model_id))?;
        std::fs::copy(&cached, staging.join(name))
            .with_context(|| format!("cannot write {name} into {}", staging.display()))?;
        eprintln!("{name}");
        anyhow::Ok(())
    });
    let placed = fetched.and_then(|()| {
        let _ = std::fs::remove_dir(&args.out);
        odqa_core::fsio::rename_new(&staging, &args.out)
            .with_context(|| format!("cannot move the download to {}", args.out.display()))
    });
    if placed.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    placed?;
    eprintln!("{} ({}) → {}", args.model_id, info.sha, args.out.display());
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn listed(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn koelectra_gets_its_vocab_and_safetensors() {
        let files = choose_files(&listed(&[
            ".gitattributes",
            "config.json",
            "model.safetensors",
            "pytorch_model.bin",
            "tokenizer_config.json",
            "vocab.txt",
        ]))
        .unwrap();
        assert_eq!(
            files,
            [
                "config.json",
                "model.safetensors",
                "vocab.txt",
                "tokenizer_config.json"
            ]
        );
    }

    #[test]
    fn an_old_upload_gets_its_pytorch_weights() {
        let files = choose_files(&listed(&[
            "config.json",
            "pytorch_model.bin",
            "special_tokens_map.json",
            "tokenizer.json",
            "tokenizer_config.json",
            "vocab.txt",
        ]))
        .unwrap();
        assert_eq!(files[1], "pytorch_model.bin");
        assert_eq!(files.len(), 6);
    }

    #[test]
    fn what_is_missing_is_said() {
        let no_weights = choose_files(&listed(&["config.json", "vocab.txt"])).unwrap_err();
        assert!(
            no_weights.contains("neither model.safetensors"),
            "{no_weights}"
        );
        let sharded = listed(&["config.json", "model.safetensors.index.json", "vocab.txt"]);
        assert!(choose_files(&sharded).unwrap_err().contains("sharded"));
        let spm = listed(&[
            "config.json",
            "model.safetensors",
            "sentencepiece.bpe.model",
        ]);
        assert!(choose_files(&spm).unwrap_err().contains("sentencepiece"));
    }
}
