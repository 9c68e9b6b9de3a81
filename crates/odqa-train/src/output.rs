//! The output directory of a run. Before any work it is checked not to be (or to hold) the model
//! the run starts from, and not to hold anything (an earlier run, a model) unless the run resumes
//! from a checkpoint in it or [`TrainOptions::overwrite`] is set. A run that replaces what the
//! directory holds is trained in a hidden sibling directory, `.NAME.training-PID`, that takes the
//! old directory's place only when the run ends without an error (in one exchange where the file
//! system offers it, `odqa_core::fsio::exchange`): until then the old one is untouched, and a run
//! that fails leaves it as it was.

use std::path::{Path, PathBuf};

use odqa_core::fsio::{exchange, parent_dir, resolve};

use crate::error::{Result, TrainError};
use crate::settings::TrainSettings;
use crate::trainer::TrainOptions;

/// Where a run writes, decided before any work by [`Output::check`].
#[derive(Debug)]
pub(crate) struct Output {
    /// The output directory asked for.
    target: PathBuf,
    /// The hidden sibling the run writes into when it replaces what `target` holds.
    staging: Option<PathBuf>,
    /// True while `staging` exists and has not taken `target`'s place (it is removed on drop).
    created: bool,
}

impl Output {
    /// Refuses an output directory that is (or holds) the starting model or `weights` (the
    /// directory its weights come from: the base of an adapter), or that holds anything while the
    /// run neither resumes from a checkpoint in it nor may overwrite it.
    pub(crate) fn check(
        settings: &TrainSettings,
        options: &TrainOptions,
        weights: &Path,
    ) -> Result<Output> {
        let (Some(model), Some(target)) = (settings.model.as_deref(), settings.out.as_deref())
        else {
            unreachable!("validate() checks model and out");
        };
        let out = resolve(target);
        let inside = |input: &Path| resolve(input).starts_with(&out);
        let holds = |input: &Path| TrainError::OutputHoldsInput {
            dir: target.to_path_buf(),
            input: input.to_path_buf(),
        };
        if let Some(input) = [model, weights].into_iter().find(|p| inside(p)) {
            return Err(holds(input));
        }
        let output = |staging| Output {
            target: target.to_path_buf(),
            staging,
            created: false,
        };
        if is_empty_dir(target)? || options.resume.as_deref().is_some_and(inside) {
            return Ok(output(None));
        }
        if !options.overwrite {
            return Err(TrainError::OutputExists {
                dir: target.to_path_buf(),
            });
        }
        // What the directory holds is deleted at the end: no input of this run may be in it.
        let mut inputs = settings.train.iter().chain(&settings.dev);
        if let Some(input) = inputs.find(|p| inside(p)) {
            return Err(holds(input));
        }
        Ok(output(Some(sibling(target, "training")?)))
    }

    /// Creates the directory the run writes into and returns it: the output directory, or the
    /// hidden sibling when the run replaces what the output directory holds.
    pub(crate) fn create(&mut self) -> Result<PathBuf> {
        match &self.staging {
            Some(staging) => {
                std::fs::create_dir(staging).map_err(|e| TrainError::io(staging, e))?;
                self.created = true;
                Ok(staging.clone())
            }
            None => {
                let dir = &self.target;
                std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
                Ok(dir.clone())
            }
        }
    }

    /// Puts the run's directory in place of the old one (renamed aside, then deleted) and returns
    /// `path`, a file of the run, as it is named there.
    pub(crate) fn finish(&mut self, path: Option<PathBuf>) -> Result<Option<PathBuf>> {
        let Some(staging) = self.staging.clone().filter(|_| self.created) else {
            return Ok(path);
        };
        let target = &self.target;
        // One exchange where the file system offers it (the target is never missing; the old
        // run then sits at the staging name), two renames otherwise.
        let old = if exchange(&staging, target).map_err(|e| TrainError::io(target, e))? {
            staging.clone()
        } else {
            let old = sibling(target, "replaced")?;
            std::fs::rename(target, &old).map_err(|e| TrainError::io(target, e))?;
            if let Err(e) = std::fs::rename(&staging, target) {
                // The old directory back in its place; the new run is removed on drop.
                let _ = std::fs::rename(&old, target);
                return Err(TrainError::io(target, e));
            }
            old
        };
        self.created = false;
        let removed = if std::fs::symlink_metadata(&old).is_ok_and(|m| m.is_dir()) {
            std::fs::remove_dir_all(&old)
        } else {
            std::fs::remove_file(&old)
        };
        removed.map_err(|e| TrainError::io(&old, e))?;
        Ok(path.map(|p| match p.strip_prefix(&staging) {
            Ok(rest) => target.join(rest),
            Err(_) => p,
        }))
    }
}

impl Drop for Output {
    /// A run that did not finish leaves the old directory as it was: its own one goes.
    fn drop(&mut self) {
        if let (Some(staging), true) = (&self.staging, self.created) {
            let _ = std::fs::remove_dir_all(staging);
        }
    }
}

/// True when `dir` does not exist or is an empty directory.
fn is_empty_dir(dir: &Path) -> Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Ok(false),
        Err(e) => Err(TrainError::io(dir, e)),
    }
}

/// A name beside `path` that is not taken: `.NAME.WHAT-PID` (then `-2`, `-3`, …).
fn sibling(path: &Path, what: &str) -> Result<PathBuf> {
    let parent = parent_dir(path);
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let base = format!(".{name}.{what}-{}", std::process::id());
    (1..1000)
        .map(|i| match i {
            1 => parent.join(&base),
            _ => parent.join(format!("{base}-{i}")),
        })
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .ok_or_else(|| TrainError::io(parent, std::io::ErrorKind::AlreadyExists.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(model: &Path, out: &Path) -> TrainSettings {
        TrainSettings {
            model: Some(model.to_path_buf()),
            out: Some(out.to_path_buf()),
            train: vec![model.join("train.json")],
            ..TrainSettings::default()
        }
    }

    #[test]
    fn a_run_in_place_of_another_replaces_it_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let (model, out) = (dir.path().join("model"), dir.path().join("run"));
        std::fs::create_dir_all(out.join("checkpoint-9")).unwrap();
        let s = settings(&model, &out);
        let err = Output::check(&s, &TrainOptions::default(), &model).unwrap_err();
        assert!(
            matches!(err, TrainError::OutputExists { ref dir } if *dir == out),
            "{err}"
        );
        let overwrite = TrainOptions {
            overwrite: true,
            ..TrainOptions::default()
        };
        // A failed run: the old directory stays, the new one goes.
        let mut failed = Output::check(&s, &overwrite, &model).unwrap();
        std::fs::write(failed.create().unwrap().join("partial"), b"x").unwrap();
        drop(failed);
        let names = odqa_testkit::dir_names;
        assert_eq!(names(dir.path()), ["run"]);
        assert_eq!(names(&out), ["checkpoint-9"]);
        // A finished run takes its place; a path inside it is renamed with it.
        let mut done = Output::check(&s, &overwrite, &model).unwrap();
        let new = done.create().unwrap();
        std::fs::create_dir(new.join("checkpoint-1")).unwrap();
        let renamed = done.finish(Some(new.join("checkpoint-1"))).unwrap();
        assert_eq!(renamed, Some(out.join("checkpoint-1")));
        drop(done);
        assert_eq!(names(dir.path()), ["run"]);
        assert_eq!(names(&out), ["checkpoint-1"]);
    }

    #[test]
    fn an_output_holding_the_model_or_the_data_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let model = out.join("checkpoint-2");
        std::fs::create_dir_all(&model).unwrap();
        for overwrite in [false, true] {
            let options = TrainOptions {
                overwrite,
                ..TrainOptions::default()
            };
            let err = Output::check(&settings(&model, &out), &options, &model).unwrap_err();
            assert!(
                matches!(err, TrainError::OutputHoldsInput { ref input, .. } if *input == model),
                "{err}"
            );
        }
        // The data would be deleted with the old run.
        let other = dir.path().join("base");
        let mut s = settings(&other, &out);
        s.train = vec![out.join("train.json")];
        let options = TrainOptions {
            overwrite: true,
            ..TrainOptions::default()
        };
        let err = Output::check(&s, &options, &other).unwrap_err();
        let data = out.join("train.json");
        assert!(
            matches!(err, TrainError::OutputHoldsInput { ref input, .. } if *input == data),
            "{err}"
        );
        // The base of an adapter given as the model is an input too.
        let adapter = dir.path().join("adapter");
        let err = Output::check(&settings(&adapter, &out), &options, &model).unwrap_err();
        assert!(
            matches!(err, TrainError::OutputHoldsInput { ref input, .. } if *input == model),
            "{err}"
        );
        // Resuming a checkpoint of the directory continues it in place.
        let resume = TrainOptions {
            resume: Some(model.clone()),
            ..TrainOptions::default()
        };
        assert!(Output::check(&settings(&other, &out), &resume, &other).is_ok());
    }
}
