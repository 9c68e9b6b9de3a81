//! The `[default: …]` that `--help` shows for the pipeline flags (they are `Option`s, so clap
//! cannot show the library's defaults itself) must be `PipelineSettings::default()`'s: a test
//! reads the help text of every command that takes them.

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use odqa_pipeline::PipelineSettings;

    /// Flag, settings field.
    const FLAGS: [(&str, &str); 14] = [
        ("batch-size", "batch_size"),
        ("max-answer-len", "max_answer_len"),
        ("length-penalty", "length_penalty"),
        ("year-answers", "year_answers"),
        ("max-seq-len", "max_seq_len"),
        ("doc-stride", "doc_stride"),
        ("top-k", "top_k"),
        ("strategy", "strategy"),
        ("mu", "mu"),
        ("null-weight", "null_weight"),
        ("trim-josa", "trim_josa"),
        ("nbest", "n_best"),
        ("temperature", "temperature"),
        ("min-probability", "min_probability"),
    ];

    /// The first word of the `[default: …]` of `help`.
    fn shown_default(help: &str) -> Option<String> {
        let rest = help.rsplit_once("[default: ")?.1;
        Some(rest.split([']', ' ']).next()?.to_string())
    }

    /// A settings value as the help writes it (`0.9`, `fusion`, `1`).
    fn written(value: &serde_json::Value) -> String {
        match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 => format!("{}", f as i64),
                Some(f) => format!("{}", f as f32),
                None => n.to_string(),
            },
            other => other.to_string(),
        }
    }

    #[test]
    fn the_help_shows_the_settings_defaults() {
        let defaults = serde_json::to_value(PipelineSettings::default()).expect("settings as JSON");
        let cli = crate::Cli::command();
        let mut checked = 0;
        for command in ["ask", "predict", "serve"] {
            let Some(sub) = cli.find_subcommand(command) else {
                panic!("no {command} command");
            };
            for (flag, field) in FLAGS {
                let Some(arg) = sub.get_arguments().find(|a| a.get_long() == Some(flag)) else {
                    continue;
                };
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                let shown = shown_default(&help);
                let want = written(&defaults[field]);
                assert_eq!(
                    shown.as_deref(),
                    Some(want.as_str()),
                    "{command} --{flag}: {help}"
                );
                checked += 1;
            }
        }
        assert!(
            checked >= 2 * FLAGS.len(),
            "only {checked} flags were found"
        );
    }
}
