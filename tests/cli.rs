//! Integration tests: run the real `odqa` binary on the committed sample corpus and fixtures.

#![allow(clippy::unwrap_used)]

mod common;
mod hostile;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{eval_answers, odqa, path_str, read_json, repo, stderr, stdout, write};

/// The bundled sample corpus, indexed once for all tests.
fn sample_index() -> &'static Path {
    static INDEX: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = INDEX.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("sample-index");
        let corpus = repo().join("corpus/kowiki-sample-2k.jsonl");
        let (summary, _) = index_json(&[&corpus], &index, &[]);
        assert_eq!(summary["passages"], 2000);
        assert_eq!(summary["analyzer"]["language"], "ko");
        (dir, index)
    });
    path
}

/// Runs `odqa index --corpus CORPORA… --index INDEX EXTRA… --json`, asserts success and returns
/// the JSON summary and stderr.
fn index_json(corpora: &[&Path], index: &Path, extra: &[&str]) -> (serde_json::Value, String) {
    let mut args = vec!["index", "--corpus"];
    args.extend(corpora.iter().map(|p| path_str(p)));
    args.extend(["--index", path_str(index), "--json"]);
    args.extend(extra);
    let out = odqa(&args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    (serde_json::from_slice(&out.stdout).unwrap(), stderr(&out))
}

#[test]
fn retrieve_finds_the_article_for_a_korean_question() {
    let index = sample_index();
    let out = odqa(&[
        "retrieve",
        "--index",
        path_str(index),
        "--top-k",
        "3",
        "--json",
        "임종석이 지명수배된 이유는?",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hits = json["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0]["title"], "임종석");
    assert_eq!(hits[0]["rank"], 1);
    assert!(hits[0]["score"].as_f64().unwrap() >= hits[1]["score"].as_f64().unwrap());
    // Text output: rank, score, id and title on one line.
    let out = odqa(&[
        "retrieve",
        "--index",
        path_str(index),
        "-k",
        "1",
        "알렉산더 헤이그는 어느 나라의 국무장관이었나?",
    ]);
    assert!(out.status.success());
    let first = stdout(&out).lines().next().unwrap_or_default().to_string();
    assert!(
        first.trim_start().starts_with("1 ") && first.contains("알렉산더 헤이그"),
        "{first}"
    );
}

#[test]
fn query_syntax_characters_are_plain_text() {
    let index = sample_index();
    for q in [
        "\"임종석\"",
        "임종석: (AND) -OR ^2 ~ *",
        "title:임종석",
        "임종석)(",
    ] {
        let out = odqa(&[
            "retrieve",
            "--index",
            path_str(index),
            "-k",
            "1",
            "--json",
            q,
        ]);
        assert!(out.status.success(), "{q}: {}", stderr(&out));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["hits"][0]["title"], "임종석", "{q}");
    }
}

#[test]
fn empty_question_is_a_usage_error() {
    let index = sample_index();
    for q in ["", "   \t", "?!…"] {
        let out = odqa(&["retrieve", "--index", path_str(index), q]);
        assert_eq!(out.status.code(), Some(2), "{q:?}");
        assert!(stderr(&out).contains("question"), "{}", stderr(&out));
    }
}

#[test]
fn question_without_matches_exits_1() {
    let index = sample_index();
    // A huge k is fine (clamped to the corpus); k = 0 is a usage error.
    let out = odqa(&[
        "retrieve",
        "--index",
        path_str(index),
        "--json",
        "-k",
        "1000000000000",
        "임종석",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = odqa(&["retrieve", "--index", path_str(index), "-k", "0", "임종석"]);
    assert_eq!(out.status.code(), Some(2));
    let out = odqa(&["retrieve", "--index", path_str(index), "zzqxwv"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no passage matches"));
}

#[test]
fn eval_retrieval_reports_recall_as_json() {
    let index = sample_index();
    let data = repo().join("corpus/korquad-sample.json");
    let out = odqa(&[
        "eval",
        "retrieval",
        "--index",
        path_str(index),
        "--data",
        path_str(&data),
        "--top-k",
        "1,5,20",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["questions"], 40);
    let r: Vec<f64> = ["recall@1", "recall@5", "recall@20"]
        .iter()
        .map(|k| json[k].as_f64().unwrap())
        .collect();
    assert!(r[0] <= r[1] && r[1] <= r[2], "{r:?}");
    // The sample holds both articles: retrieval must find most answers.
    assert!(r[2] >= 0.8, "{json}");
    assert!(json["title_recall@5"].as_f64().unwrap() >= 0.8, "{json}");
    // Text output has a row per k.
    let out = odqa(&[
        "eval",
        "retrieval",
        "--index",
        path_str(index),
        "--data",
        path_str(&data),
        "--top-k",
        "1,5",
    ]);
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l.trim_start().starts_with("5 ")),
        "{}",
        stdout(&out)
    );
}

#[test]
fn malformed_third_line_exits_2_names_it_and_leaves_no_index() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.jsonl", b"{\"id\":\"1\",\"text\":\"one\"}\n{\"id\":\"2\",\"text\":\"two\"}\n{\"id\": \"3\", \"text\": oops}\n{\"id\":\"4\",\"text\":\"four\"}\n");
    let index = dir.path().join("idx");
    let out = odqa(&[
        "index",
        "--corpus",
        path_str(&bad),
        "--index",
        path_str(&index),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("bad.jsonl:3"), "{}", stderr(&out));
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(entries.len(), 1, "only the corpus remains: {entries:?}");

    // An existing index is left untouched by the failed rebuild.
    let good = write(
        dir.path(),
        "good.jsonl",
        "{\"id\":\"g\",\"title\":\"서울\",\"text\":\"서울은 대한민국의 수도이다.\"}\n".as_bytes(),
    );
    assert!(odqa(&[
        "index",
        "--corpus",
        path_str(&good),
        "--index",
        path_str(&index)
    ])
    .status
    .success());
    let snapshot = |p: &Path| {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(p)
            .unwrap()
            .flatten()
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let before = snapshot(&index);
    let out = odqa(&[
        "index",
        "--corpus",
        path_str(&bad),
        "--index",
        path_str(&index),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(snapshot(&index), before);
    let out = odqa(&["retrieve", "--index", path_str(&index), "--json", "수도"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("\"g\""));
}

#[test]
fn bad_records_are_reported_or_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("idx");
    let cases: [(&str, &[u8], &str); 3] = [
        (
            "notext.jsonl",
            b"{\"id\":\"1\",\"text\":\"a\"}\n{\"id\":\"2\",\"title\":\"t\"}\n",
            "notext.jsonl:2: missing field `text`",
        ),
        (
            "dup.jsonl",
            b"{\"id\":\"1\",\"text\":\"a\"}\n{\"id\":\"1\",\"text\":\"b\"}\n",
            "duplicate id \"1\"",
        ),
        (
            "latin1.jsonl",
            b"{\"id\":\"1\",\"text\":\"a\"}\n{\"id\":\"2\",\"text\":\"caf\xe9\"}\n",
            "latin1.jsonl:2: not valid UTF-8",
        ),
    ];
    for (name, content, expected) in cases {
        let corpus = write(dir.path(), name, content);
        let out = odqa(&[
            "index",
            "--corpus",
            path_str(&corpus),
            "--index",
            path_str(&index),
        ]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(stderr(&out).contains(expected), "{name}: {}", stderr(&out));
        assert!(!index.exists());
        // With --skip-invalid the good record is indexed and the bad one reported.
        let (summary, warnings) = index_json(&[&corpus], &index, &["--skip-invalid"]);
        assert!(warnings.contains("warning: skipped"), "{name}: {warnings}");
        assert_eq!(
            (
                summary["unique_texts"].as_u64(),
                summary["skipped"].as_u64()
            ),
            (Some(1), Some(1)),
            "{name}"
        );
        std::fs::remove_dir_all(&index).unwrap();
    }
}

#[test]
fn competition_documents_and_squad_contexts_are_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("idx");
    let docs = repo().join("tests/fixtures/wikipedia_documents.json");
    let squad = repo().join("corpus/korquad-sample.json");
    let (summary, _) = index_json(&[&docs, &squad], &index, &[]);
    // 6 documents (one duplicate text) + 6 SQuAD paragraphs.
    assert_eq!(summary["passages"], 12);
    assert_eq!(summary["duplicate_texts"], 1);
    let out = odqa(&[
        "retrieve",
        "--index",
        path_str(&index),
        "--json",
        "-k",
        "20",
        "임종석",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hits = json["hits"].as_array().unwrap();
    let ids: Vec<&str> = hits.iter().map(|h| h["id"].as_str().unwrap()).collect();
    assert!(
        ids.contains(&"0") && ids.contains(&"korquad-sample:0-0"),
        "{ids:?}"
    );
    assert!(!ids.contains(&"5"), "the duplicate text is indexed once");
    let doc0 = hits.iter().find(|h| h["id"] == "0").unwrap();
    assert_eq!(doc0["duplicates"][0]["id"], "5");
    assert_eq!(doc0["meta"]["corpus_source"], "위키피디아");
}

#[test]
fn split_documents_keep_doc_id_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let long = "첫 문장은 아무 의미가 없다. ".repeat(40) + "마지막 문장에는 바늘이 숨어 있다.";
    let line = serde_json::json!({"id": "long", "title": "긴 글", "text": long}).to_string() + "\n";
    let corpus = write(dir.path(), "long.jsonl", line.as_bytes());
    let index = dir.path().join("idx");
    index_json(
        &[&corpus],
        &index,
        &["--split-chars", "200", "--split-overlap", "40"],
    );
    let out = odqa(&[
        "retrieve",
        "--index",
        path_str(&index),
        "--json",
        "-k",
        "1",
        "바늘",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hit = &json["hits"][0];
    assert_eq!(hit["doc_id"], "long");
    let offset = hit["char_offset"].as_u64().unwrap() as usize;
    let text = hit["text"].as_str().unwrap();
    let from_doc: String = long
        .chars()
        .skip(offset)
        .take(text.chars().count())
        .collect();
    assert_eq!(from_doc, text);
    assert!(hit["id"].as_str().unwrap().starts_with("long#"));
}

#[test]
fn unusable_index_and_missing_files_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = odqa(&[
        "retrieve",
        "--index",
        path_str(&dir.path().join("nope")),
        "서울",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no such index directory"),
        "{}",
        stderr(&out)
    );
    let out = odqa(&["retrieve", "--index", path_str(dir.path()), "서울"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not an odqa index"),
        "{}",
        stderr(&out)
    );
    let out = odqa(&[
        "index",
        "--corpus",
        path_str(&dir.path().join("missing.jsonl")),
        "--index",
        path_str(&dir.path().join("i")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.jsonl"), "{}", stderr(&out));
    let out = odqa(&["index", "--index", "x"]);
    assert_eq!(out.status.code(), Some(2), "clap usage error");
}

#[test]
fn help_explains_the_subcommands() {
    let out = odqa(&["--help"]);
    assert!(out.status.success());
    for sub in ["index", "retrieve", "eval"] {
        assert!(stdout(&out).contains(sub));
    }
    let out = odqa(&["index", "--help"]);
    assert!(
        stdout(&out).contains("wikipedia_documents.json") && stdout(&out).contains("--split-chars")
    );
}

#[test]
fn read_reproduces_the_reference_predictions_and_handles_odd_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let model = repo().join("tests/fixtures/reader-parity/tiny-bert-qa");
    let data = repo().join("tests/fixtures/read-cases.json");
    let out = dir.path().join("predictions.json");
    let nbest = dir.path().join("nbest.json");
    #[rustfmt::skip]
    let args = ["read", "--model", path_str(&model), "--data", path_str(&data), "--out", path_str(&out),
        "--nbest-out", path_str(&nbest), "--max-seq-len", "64", "--doc-stride", "16", "--n-best", "5",
        "--max-answer-len", "15", "--batch-size", "3"];
    let run = odqa(&args);
    assert!(run.status.success(), "{}", stderr(&run));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("한글날"), "UTF-8, not ASCII-escaped: {text}");
    let predictions: serde_json::Value = serde_json::from_str(&text).unwrap();
    // transformers' answers for every case (tools/fixtures/make_reader_parity.py): the four
    // reference examples, an empty context and a context shorter than the question (no valid span
    // in either: "empty", which odqa writes as ""); a question longer than the window, which the
    // tokenizer refuses, is reported and answered with "".
    let reference =
        read_json(&repo().join("tests/fixtures/reader-parity/tiny-bert-qa/edge-cases.json"));
    let mut compared = 0;
    for (id, answer) in reference["predictions"].as_object().unwrap() {
        let want = if answer == "empty" {
            ""
        } else {
            answer.as_str().unwrap()
        };
        assert_eq!(predictions[id], want, "{id}");
        compared += 1;
    }
    assert_eq!(compared, 6, "{reference}");
    assert!(
        reference["errors"]["long-question"].is_string(),
        "{reference}"
    );
    assert_eq!(predictions["long-question"], "");
    assert_eq!(predictions.as_object().unwrap().len(), 7);
    assert!(
        stderr(&run).contains("question long-question"),
        "{}",
        stderr(&run)
    );
    let nbest = read_json(&nbest);
    let first = &nbest["en-eiffel"][0];
    for key in [
        "text",
        "start_logit",
        "end_logit",
        "score",
        "probability",
        "start",
        "end",
    ] {
        assert!(!first[key].is_null(), "{key} in {first}");
    }
    let context_text = first["text"].as_str().unwrap();
    assert_eq!(predictions["en-eiffel"], context_text);
}

#[test]
fn read_rejects_bad_models_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = repo().join("tests/fixtures/read-cases.json");
    let out = dir.path().join("p.json");
    let run = odqa(&[
        "read",
        "--model",
        path_str(dir.path()),
        "--data",
        path_str(&data),
        "--out",
        path_str(&out),
    ]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(stderr(&run).contains("config.json"), "{}", stderr(&run));
    assert!(!out.exists());
}

#[test]
fn read_refuses_a_negative_or_endless_length_penalty() {
    let dir = tempfile::tempdir().unwrap();
    let model = repo().join("tests/fixtures/reader-parity/tiny-bert-qa");
    let data = repo().join("tests/fixtures/read-cases.json");
    let out = dir.path().join("p.json");
    for penalty in [
        "--length-penalty=-0.5",
        "--length-penalty=inf",
        "--length-penalty=NaN",
    ] {
        #[rustfmt::skip]
        let run = odqa(&["read", "--model", path_str(&model), "--data", path_str(&data),
            "--out", path_str(&out), penalty]);
        assert_eq!(run.status.code(), Some(2), "{penalty}: {}", stderr(&run));
        assert!(
            stderr(&run).contains("--length-penalty"),
            "{}",
            stderr(&run)
        );
        assert!(!out.exists());
    }
}

/// `--year-answers`: a question that asks for a year, over a context that is only a date, keeps
/// no span that is a full date in its n-best (the tiny model's tokens are characters: 50 of the
/// spans are candidates) but the date's year once; without the flag the same read keeps the full dates; a question that does not ask for a
/// year keeps them with the flag too.
#[test]
fn read_year_answers_cut_a_year_questions_dates_to_the_year() {
    let dir = tempfile::tempdir().unwrap();
    let model = repo().join("tests/fixtures/reader-parity/tiny-bert-qa");
    let qa = |id: &str, question: &str| serde_json::json!({"id": id, "question": question, "answers": []});
    let squad = serde_json::json!({"data": [{"title": "t", "paragraphs": [{
        "context": "1993년 11월 23일",
        "qas": [qa("year", "원진재단을 설립한 연도는?"), qa("when", "원진재단의 설립 날짜는?")]}]}]});
    let data = write(dir.path(), "dates.json", squad.to_string().as_bytes());
    let texts = |flag: Option<&str>| {
        let nbest = dir.path().join("nbest.json");
        let out = dir.path().join("p.json");
        #[rustfmt::skip]
        let mut args = vec!["read", "--model", path_str(&model), "--data", path_str(&data),
            "--out", path_str(&out), "--nbest-out", path_str(&nbest), "--n-best", "50",
            "--max-seq-len", "64", "--doc-stride", "16"];
        args.extend(flag);
        let run = odqa(&args);
        assert!(run.status.success(), "{}", stderr(&run));
        let nbest = read_json(&nbest);
        std::fs::remove_file(&out).unwrap();
        std::fs::remove_file(dir.path().join("nbest.json")).unwrap();
        let of = |id: &str| -> Vec<String> {
            let list = nbest[id].as_array().unwrap();
            list.iter()
                .map(|c| c["text"].as_str().unwrap().to_string())
                .collect()
        };
        (of("year"), of("when"))
    };
    // The spans that are a date and nothing else (`1993년 11월 23` is no date).
    let full_date = |t: &String| t == "1993년 11월" || t == "1993년 11월 23일";
    let (year, when) = texts(None);
    assert!(year.iter().any(full_date), "{year:?}");
    assert!(when.iter().any(full_date), "{when:?}");
    let (year, when) = texts(Some("--year-answers"));
    assert!(!year.iter().any(full_date), "{year:?}");
    assert_eq!(
        year.iter().filter(|t| *t == "1993년").count(),
        1,
        "{year:?}"
    );
    assert!(when.iter().any(full_date), "{when:?}");
}

/// `odqa eval answers`: gold answers for 38 of 40 questions, one wrong, one missing, one extra id;
/// a malformed predictions file and a question set without answers exit 2.
#[test]
fn eval_answers_scores_like_the_official_script_and_counts_ids() {
    let dir = tempfile::tempdir().unwrap();
    let data = repo().join("corpus/korquad-sample.json");
    let set = read_json(&data);
    let mut predictions = serde_json::Map::new();
    for article in set["data"].as_array().unwrap() {
        for paragraph in article["paragraphs"].as_array().unwrap() {
            for qa in paragraph["qas"].as_array().unwrap() {
                predictions.insert(
                    qa["id"].as_str().unwrap().into(),
                    qa["answers"][0]["text"].clone(),
                );
            }
        }
    }
    assert_eq!(predictions.len(), 40);
    predictions.insert("6548850-0-0".into(), "1989년 2월".into()); // partial: EM 0, F1 < 1
    predictions.remove("6548850-0-1"); // missing: 0
    predictions.insert("not-a-question".into(), "x".into()); // extra: ignored
    let file = write(
        dir.path(),
        "predictions.json",
        serde_json::to_string(&predictions).unwrap().as_bytes(),
    );
    let out = eval_answers(&data, &file, &["--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["questions"], 40);
    assert_eq!(r["missing"], 1);
    assert_eq!(r["extra"], 1);
    assert_eq!(r["missing_ids"][0], "6548850-0-1");
    let em = r["exact_match"].as_f64().unwrap();
    assert!((em - 3800.0 / 40.0).abs() < 1e-9, "{em}");
    // "1989년 2월" vs "1989년 2월 15일": characters 1989년2월 (7) of 1989년2월15일 (10) → F1 = 14/17.
    let f1 = r["f1"].as_f64().unwrap();
    assert!(
        (f1 - (3800.0 + 100.0 * 14.0 / 17.0) / 40.0).abs() < 1e-9,
        "{f1}"
    );

    let text = eval_answers(&data, &file, &[]);
    assert!(stdout(&text).contains("EM 95.00"), "{}", stdout(&text));

    let bad = write(dir.path(), "bad.json", br#"{"6548850-0-0": 1989}"#);
    let out = eval_answers(&data, &bad, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("6548850-0-0") && stderr(&out).contains("bad.json"));

    let test_set = repo().join("tests/fixtures/competition-test-dataset/validation");
    let out = eval_answers(&test_set, &file, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no question has gold answers"),
        "{}",
        stderr(&out)
    );
}

/// `odqa read` of the sample questions with a model, window settings and a batch size / thread
/// count: the bytes of predictions.json and the n-best file.
fn read_bytes(model: &str, batch: &str, threads: &str) -> (Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let model = repo().join("tests/fixtures/reader-parity").join(model);
    let data = repo().join("corpus/korquad-sample.json");
    let (out, nbest) = (dir.path().join("p.json"), dir.path().join("n.json"));
    #[rustfmt::skip]
    let args = ["read", "--model", path_str(&model), "--data", path_str(&data), "--out", path_str(&out),
        "--nbest-out", path_str(&nbest), "--max-seq-len", "96", "--doc-stride", "32",
        "--batch-size", batch, "--threads", threads];
    let run = odqa(&args);
    assert!(run.status.success(), "{}", stderr(&run));
    (std::fs::read(&out).unwrap(), std::fs::read(&nbest).unwrap())
}

#[test]
fn read_outputs_do_not_depend_on_batch_size_or_threads() {
    // Windows of many lengths (96-token windows over the sample contexts); the CNN head sees past
    // a window's end, the RoBERTa positions depend on the padding.
    for model in ["tiny-bert-cnn", "tiny-roberta-qa"] {
        let alone = read_bytes(model, "1", "1");
        for (batch, threads) in [("16", "2"), ("5", "1"), ("16", "1")] {
            let other = read_bytes(model, batch, threads);
            assert!(
                alone.0 == other.0,
                "{model}: predictions differ at batch {batch}, {threads} threads"
            );
            assert!(
                alone.1 == other.1,
                "{model}: n-best differs at batch {batch}, {threads} threads"
            );
        }
    }
}

/// `Some(program)` when the tests run as root and `setpriv` can drop to the user `nobody`.
fn setpriv_as_nobody() -> Option<&'static str> {
    let uid = std::process::Command::new("id").arg("-u").output().ok()?;
    let root = String::from_utf8_lossy(&uid.stdout).trim() == "0";
    let setpriv = std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    (root && setpriv).then_some("setpriv")
}

/// An index built by root, made read-only, is searched by another user (`nobody`): opening it
/// for search writes nothing (tantivy's lock file used to be opened for writing: "Failed to
/// acquire Lockfile … Permission denied"). Needs root and `setpriv`; says so and passes otherwise
/// (the unit test `opening_for_search_takes_no_lock_and_writes_nothing` covers the same ground
/// for any user).
#[test]
fn another_user_searches_a_read_only_index() {
    let Some(setpriv) = setpriv_as_nobody() else {
        eprintln!("skipped: needs root and setpriv to run odqa as another user");
        return;
    };
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let corpus = write(
        dir.path(),
        "c.jsonl",
        "{\"id\":\"g\",\"title\":\"서울\",\"text\":\"서울은 대한민국의 수도이다.\"}\n".as_bytes(),
    );
    let index = dir.path().join("idx");
    index_json(&[&corpus], &index, &[]);
    for entry in std::fs::read_dir(&index).unwrap().flatten() {
        std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    std::fs::set_permissions(&index, std::fs::Permissions::from_mode(0o555)).unwrap();
    let out = std::process::Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_odqa"))
        .args(["retrieve", "--index", path_str(&index), "--json", "수도"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("\"g\""), "{}", stdout(&out));
    std::fs::set_permissions(&index, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A copy of the index `from` at `to`, with the lowest bit of the middle byte of `name` flipped.
fn damaged_copy(from: &Path, to: &Path, name: &str) {
    std::fs::create_dir(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    let mut bytes = std::fs::read(to.join(name)).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(to.join(name), bytes).unwrap();
}

/// A flipped byte in any file of an index (tantivy's segment files, its `meta.json` and
/// `.managed.json`, odqa's `odqa-index.json` and `aliases.jsonl`): `retrieve` exits 2 naming the
/// file, never with a panic or an abort (a damaged `.store` used to abort on a 2.8 PB allocation,
/// a damaged `.idx` to panic, other files to be read silently).
#[test]
fn a_damaged_index_file_is_named_never_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write(
        dir.path(),
        "c.jsonl",
        "{\"id\":\"a\",\"title\":\"서울\",\"text\":\"서울은 대한민국의 수도이다.\"}\n{\"id\":\"b\",\"title\":\"도쿄\",\"text\":\"도쿄는 일본의 수도이다.\"}\n{\"id\":\"c\",\"text\":\"서울은 대한민국의 수도이다.\"}\n"
            .as_bytes(),
    );
    let index = dir.path().join("idx");
    index_json(&[&corpus], &index, &[]);
    let mut names: Vec<String> = std::fs::read_dir(&index)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    names.sort();
    assert!(names.len() >= 9, "{names:?}");
    let mut wrong = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let copy = dir.path().join(format!("copy-{i}"));
        damaged_copy(&index, &copy, name);
        for command in [
            &["retrieve", "--index", path_str(&copy), "수도"][..],
            &["index", "--verify", "--index", path_str(&copy)][..],
        ] {
            let out = odqa(command);
            let err = stderr(&out);
            if out.status.code() != Some(2)
                || !err.contains(name.as_str())
                || err.contains("panicked")
            {
                let code = out.status.code();
                wrong.push(format!(
                    "{} {name}: exit {code:?}, {}",
                    command[0],
                    err.trim()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `odqa index --verify` on an intact index says what it checked; on a folder that is not an
/// index it refuses with status 2; a truncated `aliases.jsonl` is named.
#[test]
fn verify_reports_an_intact_index_and_names_a_truncated_alias_table() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write(
        dir.path(),
        "c.jsonl",
        b"{\"id\":\"a\",\"text\":\"one two\"}\n{\"id\":\"b\",\"text\":\"one two\"}\n{\"id\":\"c\",\"text\":\"three\"}\n",
    );
    let index = dir.path().join("idx");
    index_json(&[&corpus], &index, &[]);
    let out = odqa(&["index", "--verify", "--index", path_str(&index), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["intact"].as_bool(), report["passages"].as_u64()),
        (Some(true), Some(3))
    );
    let files: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        files.contains(&"aliases.jsonl") && files.contains(&"meta.json"),
        "{files:?}"
    );
    assert!(files.iter().any(|f| f.ends_with(".store")), "{files:?}");
    let out = odqa(&["index", "--verify", "--index", path_str(dir.path())]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not an odqa index"),
        "{}",
        stderr(&out)
    );
    std::fs::write(index.join("aliases.jsonl"), b"").unwrap();
    let out = odqa(&["index", "--verify", "--index", path_str(&index)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("aliases.jsonl"), "{}", stderr(&out));
    let out = odqa(&[
        "index",
        "--verify",
        "--index",
        path_str(&index),
        "--corpus",
        path_str(&corpus),
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--verify builds nothing: {}",
        stderr(&out)
    );
}

/// A build first removes the hidden directory a killed build left beside the index (its process
/// id is in its name and the process is gone), and says so in its summary.
#[test]
fn a_build_removes_what_a_killed_build_left() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write(
        dir.path(),
        "c.jsonl",
        b"{\"id\":\"a\",\"text\":\"apple\"}\n",
    );
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let leftover = dir.path().join(format!(".idx.building-{dead}-0"));
    std::fs::create_dir(&leftover).unwrap();
    std::fs::write(leftover.join("x.store"), vec![0u8; 1 << 20]).unwrap();
    let (summary, _) = index_json(&[&corpus], &dir.path().join("idx"), &[]);
    assert!(!leftover.exists(), "{} is left", leftover.display());
    let cleaned = summary["cleaned"].as_array().unwrap();
    assert_eq!(cleaned.len(), 1, "{cleaned:?}");
    let line = cleaned[0].as_str().unwrap();
    assert!(
        line.starts_with("removed ") && line.contains(&format!("building-{dead}-0")),
        "{line}"
    );
}
