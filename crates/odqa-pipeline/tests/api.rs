//! The embedding API on the committed fixtures: a tiny index and the tiny QA model.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use odqa_pipeline::{
    AskOptions, CancelToken, Observer, Pipeline, PipelineError, PipelineSettings, QuestionError,
    Strategy, Unobserved,
};
use odqa_reader::DefaultBackend;

fn pipeline(index: &Path) -> Pipeline<DefaultBackend> {
    let mut settings = PipelineSettings::default();
    settings.batch_size = 3;
    common::tiny_pipeline(index, settings)
}

const QUESTIONS: [&str; 3] = [
    "임종석은 누구인가?",
    "대통령비서실장은 누구였나?",
    "민중가요 노래동아리의 이름은?",
];

#[test]
fn a_batch_answers_each_question_as_if_alone_with_its_own_options() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = pipeline(dir.path());
    let options = [
        AskOptions::new().with_top_k(1),
        AskOptions::new()
            .with_top_k(4)
            .with_strategy(Strategy::Merge),
        AskOptions::new().with_n_best(2).with_mu(0.5),
    ];
    let queries: Vec<(&str, &AskOptions)> = QUESTIONS.iter().copied().zip(&options).collect();
    let (batch, _) = pipeline.answer_with(&queries, &Unobserved).unwrap();
    assert_eq!(batch.len(), 3);
    for ((question, options), got) in queries.iter().zip(&batch) {
        let alone = pipeline.ask_with(question, options).unwrap();
        let texts = |a: &[odqa_pipeline::Answer]| -> Vec<(String, String, usize)> {
            a.iter()
                .map(|a| (a.text.clone(), a.passage_id.clone(), a.start))
                .collect()
        };
        assert_eq!(texts(&got.answers), texts(&alone.answers), "{question}");
        for (a, b) in got.answers.iter().zip(&alone.answers) {
            assert!((a.probability - b.probability).abs() < 1e-4, "{question}");
        }
        assert_eq!(got.reads.len(), alone.passages.len());
    }
    assert!(batch[0].reads.len() <= 1, "top_k 1 keeps one passage");
    assert!(batch[1].reads.len() > 1, "top_k 4 keeps more");
    assert!(batch[2].answers.len() <= 2, "n_best 2");
}

#[test]
fn bad_questions_and_options_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = pipeline(dir.path());
    for (question, want) in [
        ("   ", QuestionError::Empty),
        ("?!…", QuestionError::NoSearchableWords),
    ] {
        match pipeline.ask(question) {
            Err(PipelineError::Question(e)) => assert_eq!(e, want, "{question:?}"),
            other => panic!("{question:?}: {other:?}"),
        }
    }
    let long = "임종석 ".repeat(200);
    match pipeline.ask(&long) {
        Err(PipelineError::Question(QuestionError::Unreadable(message))) => {
            assert!(message.contains("question"), "{message}")
        }
        other => panic!("a question longer than the window: {other:?}"),
    }
    let got = pipeline.ask("zzzqqq").unwrap();
    assert!(got.answers.is_empty());
    assert_eq!(got.error, Some(QuestionError::NoPassage));
    let err = pipeline
        .ask_with(QUESTIONS[0], &AskOptions::new().with_mu(2.0))
        .unwrap_err();
    assert!(
        matches!(err, PipelineError::Setting(ref e) if e.name == "mu"),
        "{err}"
    );
}

/// Records the progress calls; stops after the first one when asked to.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<(usize, usize)>>,
    stop_after_first: bool,
    asked: AtomicUsize,
}

impl Observer for Recorder {
    fn progress(&self, done: usize, total: usize) {
        self.calls.lock().unwrap().push((done, total));
    }

    fn should_stop(&self) -> bool {
        self.asked.fetch_add(1, Ordering::Relaxed);
        self.stop_after_first && !self.calls.lock().unwrap().is_empty()
    }
}

#[test]
fn observers_see_progress_and_can_cancel() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = pipeline(dir.path());
    // 40 questions: two chunks of at most 32.
    let questions: Vec<&str> = QUESTIONS.iter().copied().cycle().take(40).collect();
    let recorder = Recorder::default();
    let (answers, _) = pipeline.answer(&questions, &recorder).unwrap();
    assert_eq!(answers.len(), 40);
    assert_eq!(*recorder.calls.lock().unwrap(), vec![(32, 40), (40, 40)]);
    assert!(
        recorder.asked.load(Ordering::Relaxed) > 0,
        "asked whether to stop"
    );

    let stopping = Recorder {
        stop_after_first: true,
        ..Recorder::default()
    };
    let err = pipeline.answer(&questions, &stopping).unwrap_err();
    assert!(matches!(err, PipelineError::Interrupted), "{err}");
    assert_eq!(*stopping.calls.lock().unwrap(), vec![(32, 40)]);

    let token = CancelToken::new();
    token.cancel();
    let err = pipeline.answer(&questions, &token).unwrap_err();
    assert!(matches!(err, PipelineError::Interrupted), "{err}");
}

/// A question long enough that a passage needing several windows cannot be read with it, while
/// a short passage can: the question is answered from the passages that could be read (as
/// `predict` does), with the others noted; only a question none of whose passages could be read
/// is at fault.
#[test]
fn one_unreadable_passage_does_not_fail_the_question() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.jsonl");
    let long = "임종석은 대한민국의 정치인이다. ".repeat(60);
    let lines = [
        serde_json::json!({"id": "short", "title": "임종석", "text": "임종석은 정치인이다."}),
        serde_json::json!({"id": "long", "title": "임종석", "text": long}),
    ];
    let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    std::fs::write(&corpus, text.join("\n")).unwrap();
    let index = dir.path().join("index");
    odqa_retriever::build_index(
        &[corpus],
        &index,
        &odqa_retriever::BuildOptions::default(),
        &odqa_pipeline::CancelToken::new(),
    )
    .unwrap();
    let mut settings = PipelineSettings::default();
    (settings.max_seq_len, settings.doc_stride, settings.top_k) = (128, 32, 2);
    let model = common::fixtures().join("reader-parity/tiny-bert-qa");
    let pipeline: Pipeline<DefaultBackend> =
        Pipeline::open(&index, &model, settings, &Default::default()).unwrap();
    // The shortest question of this shape that the long passage cannot be read with.
    let defaults = AskOptions::new();
    let question = (1..80)
        .map(|n| format!("{}임종석은 누구인가?", "정치인 ".repeat(n)))
        .find(|q| {
            let (got, _) = pipeline
                .answer_with(&[(q, &defaults)], &Unobserved)
                .unwrap();
            matches!(got[0].error, Some(QuestionError::Unreadable(_)))
        })
        .expect("a question too long for the long passage");
    let (got, _) = pipeline
        .answer_with(&[(&question, &defaults)], &Unobserved)
        .unwrap();
    let ids: Vec<&str> = got[0].reads.iter().map(|r| r.passage_id.as_str()).collect();
    assert_eq!(ids, ["short"], "only the short passage could be read");

    let answered = pipeline.ask(&question);
    let answered = answered.unwrap_or_else(|e| panic!("one unreadable passage failed it: {e}"));
    let read: Vec<&str> = answered
        .passages
        .iter()
        .map(|p| p.passage_id.as_str())
        .collect();
    assert_eq!(read, ["short"]);
    assert!(answered.answers.iter().all(|a| a.passage_id == "short"));
    assert!(
        matches!(answered.error, Some(QuestionError::Unreadable(_))),
        "the unread passage is noted: {:?}",
        answered.error
    );
}

/// Records a dense build's reports: where it resumed, the counts, and stops after `stop_at`.
struct BuildRecorder {
    resumed: Mutex<Vec<(usize, usize)>>,
    done: Mutex<Vec<usize>>,
    stop_at: usize,
}

impl Observer for BuildRecorder {
    fn progress(&self, done: usize, _: usize) {
        self.done.lock().unwrap().push(done);
    }

    fn resumed(&self, done: usize, total: usize) {
        self.resumed.lock().unwrap().push((done, total));
    }

    fn should_stop(&self) -> bool {
        self.done.lock().unwrap().last() >= Some(&self.stop_at)
    }
}

#[test]
fn a_resumed_dense_build_says_where_it_resumed() {
    use odqa_pipeline::dense::{build_dense, DenseBuildOptions};
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("index");
    drop(pipeline(&index));
    let model = common::fixtures().join("reader-parity/tiny-bert-qa");
    let options = DenseBuildOptions {
        batch_size: 2,
        max_len: 128,
        chunk: 2,
        ..DenseBuildOptions::default()
    };
    let build = |stop_at| {
        let recorder = BuildRecorder {
            resumed: Mutex::default(),
            done: Mutex::default(),
            stop_at,
        };
        let result =
            build_dense::<DefaultBackend>(&index, &model, &options, &recorder, &Default::default());
        (result, recorder)
    };
    let (first, recorder) = build(2);
    assert!(
        matches!(first, Err(PipelineError::Interrupted)),
        "{first:?}"
    );
    assert!(recorder.resumed.lock().unwrap().is_empty(), "a fresh build");
    let (second, recorder) = build(usize::MAX);
    let summary = second.unwrap();
    assert_eq!(summary.resumed, 2, "one chunk was kept");
    let total = summary.passages as usize;
    assert_eq!(*recorder.resumed.lock().unwrap(), vec![(2, total)]);
    let done = recorder.done.lock().unwrap();
    assert!(
        done.first() > Some(&2) && done.last() == Some(&total),
        "{done:?}"
    );
}
