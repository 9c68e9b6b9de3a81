//! `odqa ask`, `predict` and `tune` through the real binary: the sample KorQuAD contexts indexed,
//! read by the tiny random fixture reader (its answers are arbitrary but deterministic, so the
//! tests check structure, consistency with `odqa read` and error handling, not accuracy).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::sample::{index, model, questions, run, TINY_QA, WINDOW};
use common::{
    assert_exit_2, eval_answers, lines_until, odqa, path_str, read_json, repo, send_signal, stderr,
    stdout, write, KillOnDrop,
};

const QUESTION: &str = "임종석이 여의도 농민 폭력 시위를 주도한 혐의로 지명수배된 연도는?";

#[test]
fn ask_prints_an_answer_with_its_evidence_and_json_agrees() {
    let out = run("ask", &["--top-k", "3", QUESTION]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let json_out = run("ask", &["--top-k", "3", "--json", QUESTION]);
    assert!(json_out.status.success(), "{}", stderr(&json_out));
    let v: serde_json::Value = serde_json::from_slice(&json_out.stdout).unwrap();
    let answers = v["answers"].as_array().unwrap();
    assert!(!answers.is_empty() && answers.len() <= 5, "{v}");
    let best = &answers[0];
    assert!(text.starts_with(best["text"].as_str().unwrap()), "{text}");
    // The evidence sentence holds the answer, highlighted (« » when not on a terminal).
    let sentence = best["sentence"].as_str().unwrap();
    assert!(
        sentence.contains(best["text"].as_str().unwrap()),
        "{sentence}"
    );
    assert!(
        text.contains(&format!(
            "«{}»",
            best["evidence"]["answer"].as_str().unwrap()
        )),
        "{text}"
    );
    assert_eq!(best["evidence"]["answer"], best["text"]);
    // Probabilities descend and lie in (0, 1]; passages are the top ones by rank (only 2 of the
    // sample's contexts share a word with the question).
    let p: Vec<f64> = answers
        .iter()
        .map(|a| a["probability"].as_f64().unwrap())
        .collect();
    assert!(
        p.windows(2).all(|w| w[0] >= w[1]) && p[0] > 0.0 && p[0] <= 1.0,
        "{p:?}"
    );
    // Distinct answers: no two overlap within one passage.
    for (i, a) in answers.iter().enumerate() {
        for b in &answers[..i] {
            let range =
                |x: &serde_json::Value| (x["start"].as_u64().unwrap(), x["end"].as_u64().unwrap());
            let ((sa, ea), (sb, eb)) = (range(a), range(b));
            assert!(
                a["passage_id"] != b["passage_id"] || ea <= sb || eb <= sa,
                "{a} overlaps {b}"
            );
        }
    }
    let ranks: Vec<u64> = v["passages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["rank"].as_u64().unwrap())
        .collect();
    assert_eq!(ranks, [1, 2]);
    assert!(answers.iter().all(|a| a["rank"].as_u64().unwrap() <= 3));
}

/// `--min-probability` answers only above the threshold (exit 1 and a message below it);
/// `--temperature` changes the probabilities, never the answers or their order.
#[test]
fn ask_answers_only_above_min_probability_and_temperature_keeps_the_order() {
    let answers = |extra: &[&str]| {
        let mut args = vec!["--top-k", "3", "--json"];
        args.extend(extra);
        args.push(QUESTION);
        let out = run("ask", &args);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["answers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let p = a["probability"].as_f64().unwrap();
                (a["text"].as_str().unwrap().to_string(), p)
            })
            .collect::<Vec<_>>()
    };
    let plain = answers(&[]);
    let best = plain[0].1;
    assert!(best < 0.99, "the tiny model is not that sure: {plain:?}");

    let above = format!("{:.6}", best + 0.005);
    let out = run(
        "ask",
        &["--top-k", "3", "--min-probability", &above, QUESTION],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("no answer found with a probability of at least"),
        "{}",
        stderr(&out)
    );
    let below = format!("{:.6}", best - 0.005);
    assert_eq!(answers(&["--min-probability", &below]), plain);

    let soft = answers(&["--temperature", "3"]);
    let texts = |a: &[(String, f64)]| a.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>();
    assert_eq!(texts(&soft), texts(&plain));
    assert!(soft[0].1 < best - 1e-4, "{soft:?} vs {plain:?}");
    let out = run("ask", &["--temperature", "0", QUESTION]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// With one passage and the `logit` strategy, `ask` answers what `odqa read` answers on that
/// passage as the context: the pipeline reads passages exactly as reading comprehension does —
/// with the length penalty too, which all three apply to the spans' scores alike.
#[test]
fn ask_and_predict_with_one_passage_match_odqa_read_on_that_passage() {
    let plain = one_passage_answers("0");
    // A penalty far above the tiny model's logits leaves only one-token spans on top.
    let penalised = one_passage_answers("50");
    let taken_off = |c: &serde_json::Value| {
        c["start_logit"].as_f64().unwrap() + c["end_logit"].as_f64().unwrap()
            - c["score"].as_f64().unwrap()
    };
    let list = |o: &OnePassage| o.nbest["q"].as_array().unwrap().clone();
    assert!(list(&plain).iter().all(|c| taken_off(c).abs() < 1e-4));
    assert!(
        taken_off(&list(&penalised)[0]).abs() < 1e-4,
        "{}",
        penalised.nbest
    );
    assert!(
        list(&penalised).iter().any(|c| taken_off(c) > 49.9),
        "longer spans pay 50 per token: {}",
        penalised.nbest
    );
    assert!(penalised.answer.chars().count() <= plain.answer.chars().count());
}

/// `odqa read`'s answer to [`QUESTION`] on one passage, and its n-best list.
struct OnePassage {
    answer: String,
    nbest: serde_json::Value,
}

/// With `--length-penalty penalty`: `ask --json` over the index with k = 1, then `read` on the
/// passage it retrieved and `predict` over the index, checked to give the same answer text.
fn one_passage_answers(penalty: &str) -> OnePassage {
    let penalty_args = ["--length-penalty", penalty];
    let mut ask_args = vec!["--top-k", "1", "--strategy", "logit", "--json", QUESTION];
    ask_args.extend(penalty_args);
    let out = run("ask", &ask_args);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let passage_id = v["answers"][0]["passage_id"].as_str().unwrap().to_string();
    let retrieved = odqa(&[
        "retrieve",
        "--index",
        path_str(index()),
        "--top-k",
        "1",
        "--json",
        QUESTION,
    ]);
    let hits: serde_json::Value = serde_json::from_slice(&retrieved.stdout).unwrap();
    let hit = &hits["hits"][0];
    assert_eq!(hit["id"], passage_id.as_str(), "{hits}");
    let dir = tempfile::tempdir().unwrap();
    let squad = serde_json::json!({"data": [{"title": hit["title"], "paragraphs": [{
        "context": hit["text"], "qas": [{"id": "q", "question": QUESTION, "answers": []}]}]}]});
    let data = write(dir.path(), "one.json", squad.to_string().as_bytes());
    let preds = dir.path().join("preds.json");
    let nbest = dir.path().join("nbest.json");
    let model = model();
    #[rustfmt::skip]
    let read = odqa(&["read", "--model", &model, "--data", path_str(&data), "--out", path_str(&preds),
        "--nbest-out", path_str(&nbest), "--max-seq-len", "128", "--doc-stride", "32",
        "--length-penalty", penalty]);
    assert!(read.status.success(), "{}", stderr(&read));
    let read_answer = read_json(&preds)["q"].as_str().unwrap().to_string();
    assert_eq!(read_answer, v["answers"][0]["text"].as_str().unwrap());
    // `predict` over the index, reading the same one passage, writes the same text.
    let open = dir.path().join("open.json");
    #[rustfmt::skip]
    let out = run("predict", &["--questions", path_str(&data), "--out", path_str(&open),
        "--top-k", "1", "--strategy", "logit", "--length-penalty", penalty]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(read_json(&open)["q"].as_str().unwrap(), read_answer);
    OnePassage {
        answer: read_answer,
        nbest: read_json(&nbest),
    }
}

#[test]
fn predict_writes_every_id_and_the_nbest_fields() {
    let dir = tempfile::tempdir().unwrap();
    let (preds, nbest) = (
        dir.path().join("predictions.json"),
        dir.path().join("nbest.json"),
    );
    let out = run(
        "predict",
        &[
            "--questions",
            path_str(&questions()),
            "--out",
            path_str(&preds),
            "--nbest-out",
            path_str(&nbest),
            "--top-k",
            "4",
            "--strategy",
            "merge",
            "--mu",
            "0.8",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("retrieval") && err.contains("encoder") && err.contains("questions/s"),
        "{err}"
    );
    let p = read_json(&preds);
    let n = read_json(&nbest);
    let ids: Vec<String> = odqa_ids(&questions());
    assert_eq!(
        p.as_object().unwrap().keys().cloned().collect::<Vec<_>>(),
        ids,
        "every id, in order"
    );
    let mut overlapping = 0;
    for id in &ids {
        let list = n[id].as_array().unwrap();
        assert!(!list.is_empty() && list.len() <= 20);
        // Every span, best first; the answer is the first (the distinct answers hide fragments
        // of it, never the span itself).
        assert_eq!(p[id], list[0]["text"]);
        let span = |a: &serde_json::Value| {
            let at = |k: &str| a[k].as_u64().unwrap();
            (
                a["passage_id"].as_str().unwrap().to_string(),
                at("start"),
                at("end"),
            )
        };
        overlapping += list
            .iter()
            .enumerate()
            .flat_map(|(i, a)| list[..i].iter().map(move |b| (span(a), span(b))))
            .filter(|((pa, sa, ea), (pb, sb, eb))| pa == pb && sa < eb && sb < ea)
            .count();
        for key in [
            "text",
            "probability",
            "start_logit",
            "end_logit",
            "passage_id",
            "title",
            "start",
            "end",
        ] {
            assert!(list[0].get(key).is_some(), "{key} missing in {}", list[0]);
        }
    }
    // The n-best lists hold the fragments that the distinct answers hide.
    assert!(overlapping > 0, "no overlapping spans in {n}");
    // UTF-8, not \u-escaped, pretty-printed.
    let raw = std::fs::read_to_string(&preds).unwrap();
    assert!(!raw.contains("\\u") && raw.contains("\n  \""), "{raw}");
    // The leaderboard scorer reads it.
    let eval = eval_answers(&questions(), &preds, &[]);
    assert!(eval.status.success(), "{}", stderr(&eval));
}

/// The question objects (`{"id", "question", "answers"}`) of a SQuAD file, in file order.
fn qas(squad: &Path) -> Vec<serde_json::Value> {
    let v = read_json(squad);
    let mut qas = Vec::new();
    for article in v["data"].as_array().unwrap() {
        for para in article["paragraphs"].as_array().unwrap() {
            qas.extend(para["qas"].as_array().unwrap().iter().cloned());
        }
    }
    qas
}

fn odqa_ids(squad: &Path) -> Vec<String> {
    qas(squad)
        .iter()
        .map(|qa| qa["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_question_without_searchable_words_gets_an_empty_answer_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let q = write(
        dir.path(),
        "q.jsonl",
        format!("{{\"id\": \"a\", \"question\": \"{QUESTION}\"}}\n{{\"id\": \"b\", \"question\": \"???\"}}\n").as_bytes(),
    );
    let preds = dir.path().join("p.json");
    let out = run(
        "predict",
        &[
            "--questions",
            path_str(&q),
            "--out",
            path_str(&preds),
            "--top-k",
            "2",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let p = read_json(&preds);
    assert_eq!(p["b"], "");
    assert_ne!(p["a"], "");
    let err = stderr(&out);
    assert!(err.contains("answered 1 of 2 questions (1 empty)"), "{err}");
    assert!(
        err.contains("empty answer for b: ") && err.contains("no searchable words"),
        "{err}"
    );
}

#[test]
fn bad_question_files_and_indexes_exit_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let preds = dir.path().join("p.json");
    let cases: [(&str, &str); 3] = [
        (
            "{\"question\": \"수도는?\"}\n",
            "q.jsonl:1: the question has no id",
        ),
        (
            "{\"id\": \"a\", \"question\": \"수도는?\"}\n{\"id\": \"a\", \"question\": \"왜?\"}\n",
            "q.jsonl:2: duplicate question id \"a\" (first at ",
        ),
        (
            "{\"id\": \"a\", \"question\": \" \"}\n",
            "q.jsonl:1: question \"a\" is empty",
        ),
    ];
    for (content, message) in cases {
        let q = write(dir.path(), "q.jsonl", content.as_bytes());
        let out = run(
            "predict",
            &["--questions", path_str(&q), "--out", path_str(&preds)],
        );
        assert_eq!(out.status.code(), Some(2), "{content}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(message),
            "{content}: {}",
            stderr(&out)
        );
        assert!(!preds.exists());
    }
    // An index directory that is not an index, or is missing.
    let q = write(
        dir.path(),
        "ok.jsonl",
        b"{\"id\": \"a\", \"question\": \"x?\"}\n",
    );
    let model = model();
    for bad in [dir.path().to_path_buf(), dir.path().join("missing")] {
        let out = odqa(&[
            "predict",
            "--index",
            path_str(&bad),
            "--model",
            &model,
            "--questions",
            path_str(&q),
            "--out",
            path_str(&preds),
        ]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("index"), "{}", stderr(&out));
    }
    // An output folder that does not exist is refused before any work.
    let nowhere = dir.path().join("no/p.json");
    let out = run(
        "predict",
        &["--questions", path_str(&q), "--out", path_str(&nowhere)],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no such directory"),
        "{}",
        stderr(&out)
    );
    // An empty question for ask.
    let out = run("ask", &["  "]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the question is empty"),
        "{}",
        stderr(&out)
    );
}

/// Ctrl-C while predicting: exit 130, the previous predictions file untouched, no temporary file
/// left.
#[cfg(unix)]
#[test]
fn an_interrupted_predict_leaves_the_old_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let lines: String = (0..3000)
        .map(|i| format!("{{\"id\": \"q{i}\", \"question\": \"{QUESTION} {i}\"}}\n"))
        .collect();
    let q = write(dir.path(), "q.jsonl", lines.as_bytes());
    let preds = write(dir.path(), "predictions.json", b"OLD");
    let model = model();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_odqa"))
        .args(["predict", "--index", path_str(index()), "--model", &model])
        .args(WINDOW)
        .args([
            "--questions",
            path_str(&q),
            "--out",
            path_str(&preds),
            "--top-k",
            "20",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Ready: the handler is installed before the model loads, and the first progress line (stderr
    // is not a terminal) comes after the first chunk of questions, long before the 3,000th.
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = lines_until(&mut lines, "answering: ");
    send_signal(&child, "INT");
    seen.extend(lines.map(Result::unwrap));
    let status = child.wait().unwrap();
    let err = seen.join("\n");
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted: nothing written"), "{err}");
    assert_eq!(std::fs::read(&preds).unwrap(), b"OLD");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn tune_scores_the_grid_writes_a_config_and_reuses_its_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (toml, cache) = (dir.path().join("best.toml"), dir.path().join("reads.json"));
    let data = questions();
    let args = [
        "--data",
        path_str(&data),
        "--top-k",
        "1,3",
        "--mu",
        "0.5",
        "--out",
        path_str(&toml),
        "--cache",
        path_str(&cache),
        "--json",
    ];
    let out = run("tune", &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // 2 k × 2 trimming × (softmax, and logit, fusion 0.5, merge 0.5, merge 1 each with the
    // no-answer weights 0 and 1).
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 36);
    assert_eq!(v["questions"], 40);
    let best_em = v["best"]["scores"]["korquad_em"].as_f64().unwrap();
    assert!(results
        .iter()
        .all(|r| r["scores"]["korquad_em"].as_f64().unwrap() <= best_em));
    // A temperature fitted for the best point, with its reliability tables (every question in
    // one bin of each).
    let calibration = &v["calibration"];
    assert!(
        calibration["temperature"].as_f64().unwrap() > 0.0,
        "{calibration}"
    );
    for table in ["before", "after"] {
        let n: u64 = calibration[table]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["questions"].as_u64().unwrap())
            .sum();
        assert_eq!(n, 40, "{calibration}");
    }
    // The written settings are what predict reads, and reproduce the best EM.
    let settings = std::fs::read_to_string(&toml).unwrap();
    assert!(settings.contains("temperature = "), "{settings}");
    assert!(
        settings.contains(&format!("top_k = {}", v["best"]["top_k"])),
        "{settings}"
    );
    assert!(
        settings.contains(&format!("null_weight = {}", v["best"]["null_weight"])),
        "{settings}"
    );
    let preds = dir.path().join("p.json");
    let model = model();
    let out = odqa(&[
        "predict",
        "--index",
        path_str(index()),
        "--model",
        &model,
        "--config",
        path_str(&toml),
        "--questions",
        path_str(&questions()),
        "--out",
        path_str(&preds),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let eval = eval_answers(&questions(), &preds, &["--json"]);
    let scores: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert!(
        (scores["exact_match"].as_f64().unwrap() - best_em).abs() < 1e-9,
        "{scores}"
    );
    // Second run: the cache answers, nothing is read.
    let again = run("tune", &args);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("using the reads cached in"),
        "{}",
        stderr(&again)
    );
    let v2: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(v2["results"], v["results"]);
    // A larger k than cached is refused, naming why.
    let bigger = run(
        "tune",
        &[
            "--data",
            path_str(&questions()),
            "--top-k",
            "5",
            "--cache",
            path_str(&cache),
        ],
    );
    assert_eq!(bigger.status.code(), Some(2));
    assert!(
        stderr(&bigger).contains("top-k (smaller)"),
        "{}",
        stderr(&bigger)
    );
}

#[test]
fn predict_outputs_do_not_depend_on_batch_size_or_threads() {
    let outputs = |batch: &str, threads: &str| {
        let dir = tempfile::tempdir().unwrap();
        let (preds, nbest) = (dir.path().join("p.json"), dir.path().join("n.json"));
        #[rustfmt::skip]
        let out = run("predict", &["--questions", path_str(&questions()), "--out", path_str(&preds),
            "--nbest-out", path_str(&nbest), "--top-k", "5", "--batch-size", batch, "--threads", threads]);
        assert!(out.status.success(), "{}", stderr(&out));
        (
            std::fs::read(&preds).unwrap(),
            std::fs::read(&nbest).unwrap(),
        )
    };
    let alone = outputs("1", "1");
    for (batch, threads) in [("16", "2"), ("3", "1")] {
        let other = outputs(batch, threads);
        assert!(
            alone.0 == other.0,
            "predictions differ at batch {batch}, {threads} threads"
        );
        assert!(
            alone.1 == other.1,
            "n-best differs at batch {batch}, {threads} threads"
        );
    }
}

/// `{id: answer}` for every sample question: its first gold answer for the first `gold` questions,
/// `other` for the rest.
fn answers_file(dir: &Path, name: &str, gold: usize, other: &str) -> PathBuf {
    let mut map = serde_json::Map::new();
    for (i, qa) in qas(&questions()).iter().enumerate() {
        let answer = if i < gold {
            qa["answers"][0]["text"].clone()
        } else {
            other.into()
        };
        map.insert(qa["id"].as_str().unwrap().to_string(), answer);
    }
    write(
        dir,
        name,
        serde_json::to_string(&serde_json::Value::Object(map))
            .unwrap()
            .as_bytes(),
    )
}

/// `odqa eval breakdown` on the sample questions over their index.
fn breakdown(open: &Path, reading: &Path, extra: &[&str]) -> std::process::Output {
    let data = questions();
    let mut args = vec![
        "eval",
        "breakdown",
        "--index",
        path_str(index()),
        "--data",
        path_str(&data),
        "--predictions",
        path_str(open),
        "--reading",
        path_str(reading),
    ];
    args.extend(extra);
    odqa(&args)
}

#[test]
fn breakdown_splits_the_errors_by_where_they_happen() {
    let dir = tempfile::tempdir().unwrap();
    let n = odqa_ids(&questions()).len();
    let recall = odqa(&[
        "eval",
        "retrieval",
        "--index",
        path_str(index()),
        "--data",
        path_str(&questions()),
        "--top-k",
        "1",
        "--json",
    ]);
    assert!(recall.status.success(), "{}", stderr(&recall));
    let recall: serde_json::Value = serde_json::from_str(&stdout(&recall)).unwrap();
    let misses = (n as f64 * (1.0 - recall["recall@1"].as_f64().unwrap())).round() as u64;
    assert!(
        misses > 0 && misses < n as u64,
        "a fixture with both: {misses}"
    );

    // Every open-domain answer wrong, every reading right: the errors are retrieval misses or
    // distractors, split by answer-recall@1.
    let wrong = answers_file(dir.path(), "wrong.json", 0, "없는 답");
    let gold = answers_file(dir.path(), "gold.json", n, "");
    let lines = dir.path().join("per-question.jsonl");
    let out = breakdown(
        &wrong,
        &gold,
        &["--top-k", "1", "--json", "--per-question", path_str(&lines)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let b: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let count = |outcome: &str| b["outcomes"][outcome]["questions"].as_u64().unwrap();
    assert_eq!(b["questions"], n);
    assert_eq!(b["reading_em"], 100.0);
    assert_eq!(count("correct"), 0);
    assert_eq!(count("reader_on_gold"), 0);
    assert_eq!(count("retrieval_miss"), misses);
    assert_eq!(count("distractor"), n as u64 - misses);
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&lines)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), n);
    assert_eq!(
        rows.iter()
            .filter(|r| r["outcome"] == "retrieval_miss" && r["answer_rank"].is_null())
            .count() as u64,
        misses
    );

    // Ten open-domain answers right, the reading wrong everywhere: the other errors are retrieval
    // misses or reader errors, and the table says so.
    let ten = answers_file(dir.path(), "ten.json", 10, "없는 답");
    let out = breakdown(&ten, &wrong, &["--top-k", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    let row = |name: &str| -> u64 {
        let line = table.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    assert_eq!(row("correct"), 10);
    assert_eq!(row("distractor"), 0);
    assert_eq!(row("retrieval_miss") + row("reader_on_gold"), n as u64 - 10);

    // Bad input names the file and exits 2.
    let broken = write(dir.path(), "broken.json", b"[1, 2]");
    let out = breakdown(&wrong, &broken, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("broken.json"), "{}", stderr(&out));
}

#[test]
fn sharded_predictions_merge_into_the_unsharded_files_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let q = path_str(&questions()).to_string();
    let predict = |name: &str, shard: Option<&str>| -> (PathBuf, PathBuf) {
        let (out, nbest) = (
            dir.path().join(format!("{name}.json")),
            dir.path().join(format!("{name}.nbest.json")),
        );
        let mut extra = vec!["--questions", &q, "--top-k", "3", "--out", path_str(&out)];
        extra.extend(["--nbest-out", path_str(&nbest)]);
        if let Some(shard) = shard {
            extra.extend(["--shard", shard]);
        }
        let o = run("predict", &extra);
        assert!(o.status.success(), "{}", stderr(&o));
        (out, nbest)
    };
    let (whole, whole_nbest) = predict("whole", None);
    let parts: Vec<(PathBuf, PathBuf)> = (0..4)
        .map(|i| predict(&format!("part{i}"), Some(&format!("{i}/4"))))
        .collect();
    let total = read_json(&whole).as_object().unwrap().len();
    let sizes: Vec<usize> = parts
        .iter()
        .map(|(p, _)| read_json(p).as_object().unwrap().len())
        .collect();
    assert_eq!(sizes.iter().sum::<usize>(), total, "{sizes:?}");
    assert!(sizes.iter().all(|&n| n >= total / 4), "{sizes:?}");

    let merge = |out: &Path, files: &[&PathBuf]| {
        let mut args = vec![
            "merge-predictions",
            "--questions",
            &q,
            "--out",
            path_str(out),
        ];
        args.extend(files.iter().map(|p| path_str(p)));
        odqa(&args)
    };
    let merged = dir.path().join("merged.json");
    let merged_nbest = dir.path().join("merged.nbest.json");
    // Parts in any order.
    let o = merge(
        &merged,
        &[&parts[2].0, &parts[0].0, &parts[3].0, &parts[1].0],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&merged).unwrap(),
        std::fs::read(&whole).unwrap()
    );
    let nbest: Vec<&PathBuf> = parts.iter().map(|(_, n)| n).collect();
    let o = merge(&merged_nbest, &nbest);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&merged_nbest).unwrap(),
        std::fs::read(&whole_nbest).unwrap()
    );

    // A missing shard, a shard given twice, a file of another question set: exit 2, named.
    let bad = dir.path().join("bad.json");
    let o = merge(&bad, &[&parts[0].0, &parts[1].0, &parts[2].0]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("in no part"), "{}", stderr(&o));
    let o = merge(
        &bad,
        &[
            &parts[0].0,
            &parts[1].0,
            &parts[2].0,
            &parts[3].0,
            &parts[1].0,
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("answered twice"), "{}", stderr(&o));
    let stranger = write(dir.path(), "stranger.json", br#"{"not-a-question": "x"}"#);
    let o = merge(
        &bad,
        &[
            &parts[0].0,
            &parts[1].0,
            &parts[2].0,
            &parts[3].0,
            &stranger,
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("stranger.json"), "{}", stderr(&o));
    assert!(!bad.exists(), "nothing written on error");
    let o = run(
        "predict",
        &["--questions", &q, "--out", path_str(&bad), "--shard", "4/4"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// Sends one HTTP/1.1 request and returns the whole response.
fn http(addr: &str, request: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn serve_answers_over_http_and_stops_cleanly_on_sigterm() {
    use std::io::BufRead;
    let model = model();
    let mut server = KillOnDrop(
        std::process::Command::new(env!("CARGO_BIN_EXE_odqa"))
            .args(["serve", "--index", path_str(index()), "--model", &model])
            .args(WINDOW)
            .args(["--addr", "127.0.0.1:0", "--top-k", "3"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let child = &mut server.0;
    // The server says where it listens once the index and the model are loaded.
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = lines_until(&mut lines, "listening on http://");
    let addr = listening[listening.len() - 1]["listening on http://".len()..].to_string();
    let body = serde_json::json!({"question": QUESTION}).to_string();
    let response = http(
        &addr,
        &format!(
            "POST /v1/ask HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let json: serde_json::Value =
        serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert!(!json["answers"].as_array().unwrap().is_empty(), "{json}");
    assert!(json["passages"].as_array().unwrap().len() <= 3, "{json}");
    let health = http(
        &addr,
        "GET /health HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n",
    );
    // A page of another site resolving its name to this loopback address gets nothing.
    let rebound = http(
        &addr,
        "GET /health HTTP/1.1\r\nhost: attacker.example\r\nconnection: close\r\n\r\n",
    );
    assert!(rebound.starts_with("HTTP/1.1 403"), "{rebound}");
    assert!(
        health.starts_with("HTTP/1.1 200") && health.contains(r#""status":"ok""#),
        "{health}"
    );

    send_signal(child, "TERM");
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}: {rest:?}");
    assert!(
        rest.iter()
            .any(|l| l.contains("POST") && l.contains("/v1/ask") && l.contains("200")),
        "request log: {rest:?}"
    );
    assert!(
        rest.iter().any(|l| l.contains("every request answered")),
        "{rest:?}"
    );
}

/// A folder where no file can be created, even by root: a 0555 folder in `dir`, or /sys where the
/// tests run as root.
#[cfg(unix)]
fn unwritable_dir(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let ro = dir.join("read-only");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    for candidate in [ro, PathBuf::from("/sys")] {
        let probe = candidate.join("odqa-probe");
        match std::fs::File::create(&probe) {
            Ok(_) => std::fs::remove_file(&probe).unwrap(),
            Err(_) => return candidate,
        }
    }
    panic!("no folder here refuses a new file");
}

/// A JSONL question file with one answerable question, in `dir`.
fn one_question(dir: &Path) -> PathBuf {
    write(dir, "q.jsonl", one_question_text().as_bytes())
}

/// Exit 2 before any work (no progress line), with every `words` in the message.
fn assert_refused_first(out: &std::process::Output, words: &[&str]) {
    assert_exit_2(out, words);
    let err = stderr(out);
    assert!(
        !err.contains("answering:") && !err.contains("reading:"),
        "refused after the work: {err}"
    );
}

/// `predict --out` naming the question file (spelled differently) is refused before any work; the
/// questions stay as they were.
#[test]
fn predict_out_equal_to_the_questions_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let q = one_question(dir.path());
    let same = dir.path().join(".").join("q.jsonl");
    let out = run(
        "predict",
        &[
            "--questions",
            path_str(&q),
            "--out",
            path_str(&same),
            "--top-k",
            "2",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(&q).unwrap(),
        one_question_text(),
        "the questions were replaced"
    );
    assert_refused_first(&out, &["q.jsonl", "input"]);
}

/// The text [`one_question`] writes.
fn one_question_text() -> String {
    format!("{{\"id\": \"a\", \"question\": \"{QUESTION}\"}}\n")
}

/// `predict --out F --nbest-out F` is refused before any work; nothing is written.
#[test]
fn predict_out_equal_to_nbest_out_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let q = one_question(dir.path());
    let preds = dir.path().join("p.json");
    #[rustfmt::skip]
    let out = run("predict", &["--questions", path_str(&q), "--out", path_str(&preds),
        "--nbest-out", path_str(&preds), "--top-k", "2"]);
    assert!(!preds.exists(), "written: {}", stderr(&out));
    assert_refused_first(&out, &["p.json", "output"]);
}

/// `predict --out` in a folder where no file can be created fails at once (exit 2, naming the
/// path), not after answering every question.
#[cfg(unix)]
#[test]
fn predict_out_in_an_unwritable_folder_fails_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let q = one_question(dir.path());
    let target = unwritable_dir(dir.path()).join("p.json");
    let out = run(
        "predict",
        &[
            "--questions",
            path_str(&q),
            "--out",
            path_str(&target),
            "--top-k",
            "2",
        ],
    );
    assert_refused_first(&out, &[path_str(&target), "cannot write"]);
}

/// The same rule in `read`, `merge-predictions`, `tune`, `eval breakdown` and `model pack/unpack`:
/// an output that is an input (or another output) is refused with exit 2, the input untouched.
#[test]
fn every_command_refuses_an_output_that_is_one_of_its_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.json");
    std::fs::copy(questions(), &data).unwrap();
    let original = std::fs::read(&data).unwrap();
    let model = model();
    let d = path_str(&data);
    let part = write(dir.path(), "part.json", b"{}");
    let cache = dir.path().join("reads.json");
    let checkpoint = dir.path().join("model.safetensors");
    std::fs::copy(repo().join(TINY_QA).join("model.safetensors"), &checkpoint).unwrap();
    let weights = std::fs::read(&checkpoint).unwrap();
    let c = path_str(&checkpoint);
    #[rustfmt::skip]
    let runs = [
        odqa(&["read", "--model", &model, "--data", d, "--out", d, "--max-seq-len", "128", "--doc-stride", "32"]),
        odqa(&["merge-predictions", "--questions", d, "--out", path_str(&part), path_str(&part)]),
        run("tune", &["--data", d, "--top-k", "1", "--mu", "0.5", "--cache", d]),
        run("tune", &["--data", d, "--top-k", "1", "--mu", "0.5", "--cache", path_str(&cache), "--out", path_str(&cache)]),
        odqa(&["eval", "breakdown", "--index", path_str(index()), "--data", d, "--predictions", path_str(&part),
            "--reading", path_str(&part), "--per-question", path_str(&part)]),
        odqa(&["model", "pack", c, "--out", c]),
        odqa(&["model", "unpack", path_str(&part), "--out", c, "--base", path_str(dir.path())]),
    ];
    for (i, out) in runs.iter().enumerate() {
        assert_refused_first(out, &["cannot write"]);
        assert_eq!(
            std::fs::read(&data).unwrap(),
            original,
            "run {i} replaced the data"
        );
        assert_eq!(
            std::fs::read(&part).unwrap(),
            b"{}",
            "run {i} replaced the part"
        );
        assert!(!cache.exists(), "run {i} wrote the cache");
        assert!(
            std::fs::read(&checkpoint).unwrap() == weights,
            "run {i} replaced the checkpoint"
        );
    }
}
