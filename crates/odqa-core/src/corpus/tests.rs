use std::io::Write;

use super::*;

fn read_all(
    path: &Path,
    skip_invalid: bool,
) -> (Result<ReadSummary, CoreError>, Vec<Record>, Vec<String>) {
    let mut records = Vec::new();
    let mut skipped = Vec::new();
    let opts = ReadOptions {
        format: None,
        skip_invalid,
    };
    let result = read_corpus(
        path,
        opts,
        &mut |r| {
            records.push(r);
            Ok(())
        },
        &mut |e| skipped.push(e.to_string()),
    );
    (result, records, skipped)
}

fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(content)
        .unwrap();
    path
}

#[test]
fn jsonl_keeps_extra_fields_and_generates_missing_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "c.jsonl",
        "{\"id\":\"a\",\"title\":\"T\",\"text\":\"hello\",\"url\":\"u\",\"n\":null}\n\n{\"text\":\"world\",\"id\":5}\n{\"text\":\"x\"}\n"
            .as_bytes(),
    );
    let (result, records, _) = read_all(&path, false);
    assert_eq!(result.unwrap().records, 3);
    assert_eq!(records[0].meta.get("url"), Some(&Value::from("u")));
    assert!(!records[0].meta.contains_key("n"), "nulls are dropped");
    assert_eq!(records[1].id, "5");
    assert_eq!(records[2].id, "c.jsonl:4");
    assert_eq!(records[2].at.line, 4);
}

#[test]
fn malformed_line_is_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "bad.jsonl",
        b"{\"id\":\"1\",\"text\":\"a\"}\n{\"id\":\"2\",\"text\":\"b\"}\n{\"id\":\"3\",\"text\n",
    );
    let (result, records, _) = read_all(&path, false);
    let err = result.unwrap_err();
    assert!(err.is_bad_input());
    let msg = err.to_string();
    assert!(msg.contains("bad.jsonl:3"), "{msg}");
    assert_eq!(records.len(), 2);
}

#[test]
fn skip_invalid_skips_bad_lines_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "c.jsonl", b"{\"id\":\"1\",\"text\":\"a\"}\nnot json\n{\"id\":\"2\"}\n{\"id\":\"3\",\"text\":\"\xff\xfe\"}\n{\"id\":\"4\",\"text\":\"  \"}\n{\"id\":\"5\",\"text\":\"ok\"}\n");
    let (result, records, skipped) = read_all(&path, true);
    let summary = result.unwrap();
    assert_eq!(
        summary,
        ReadSummary {
            records: 2,
            skipped: 3,
            empty: 1
        }
    );
    assert_eq!(
        records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["1", "5"]
    );
    assert!(skipped[0].contains("c.jsonl:2"), "{skipped:?}");
    assert!(
        skipped[1].contains("c.jsonl:3") && skipped[1].contains("missing field `text`"),
        "{skipped:?}"
    );
    assert!(
        skipped[2].contains("c.jsonl:4") && skipped[2].contains("UTF-8"),
        "{skipped:?}"
    );
}

#[test]
fn non_utf8_line_fails_without_skip() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "c.jsonl",
        b"{\"id\":\"1\",\"text\":\"a\xc3\"}\n",
    );
    let (result, _, _) = read_all(&path, false);
    let msg = result.unwrap_err().to_string();
    assert!(msg.contains("c.jsonl:1") && msg.contains("UTF-8"), "{msg}");
}

#[test]
fn competition_documents_use_document_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "wikipedia_documents.json",
        r#"{"0": {"text": "가나다", "corpus_source": "위키피디아", "url": "TODO", "domain": null, "title": "T0", "author": null, "html": null, "document_id": 0},
            "1": {"text": "라마바", "title": "T1", "document_id": 1}}"#
            .as_bytes(),
    );
    let (result, records, _) = read_all(&path, false);
    assert_eq!(result.unwrap().records, 2);
    assert_eq!(records[0].id, "0");
    assert_eq!(records[0].title, "T0");
    assert_eq!(
        records[0].meta.get("corpus_source"),
        Some(&Value::from("위키피디아"))
    );
    assert!(!records[0].meta.contains_key("document_id"));
    assert_eq!(records[1].text, "라마바");
}

#[test]
fn competition_document_without_text_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "w.json",
        br#"{"0": {"text": "a"}, "1": {"title": "no text"}}"#,
    );
    let (result, _, _) = read_all(&path, false);
    let msg = result.unwrap_err().to_string();
    assert!(
        msg.contains("w.json") && msg.contains("document \"1\"") && msg.contains("text"),
        "{msg}"
    );
}

#[test]
fn squad_contexts_become_passages() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "dev.json",
        r#"{"version": "1", "data": [{"title": "A", "paragraphs": [{"context": "c0", "qas": [{"id": "q", "question": "?", "answers": []}]}, {"context": "c1", "qas": []}]}, {"title": "B", "paragraphs": [{"context": "c2", "qas": []}]}]}"#
            .as_bytes(),
    );
    let (result, records, _) = read_all(&path, false);
    assert_eq!(result.unwrap().records, 3);
    let got: Vec<(&str, &str, &str)> = records
        .iter()
        .map(|r| (r.id.as_str(), r.title.as_str(), r.text.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("dev:0-0", "A", "c0"),
            ("dev:0-1", "A", "c1"),
            ("dev:1-0", "B", "c2")
        ]
    );
}

#[test]
fn truncated_json_object_reports_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "w.json",
        b"{\"0\": {\"text\": \"a\"},\n \"1\": {\"text\": ",
    );
    let (result, _, _) = read_all(&path, false);
    let msg = result.unwrap_err().to_string();
    assert!(msg.contains("w.json:2:"), "{msg}");
}

#[test]
fn sink_error_aborts_the_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "w.json",
        br#"{"0": {"text": "a"}, "1": {"text": "b"}}"#,
    );
    let mut n = 0;
    let result = read_corpus(
        &path,
        ReadOptions::default(),
        &mut |_| {
            n += 1;
            Err("stop here".into())
        },
        &mut |_| {},
    );
    assert_eq!(n, 1);
    assert!(result.unwrap_err().to_string().contains("stop here"));
}

#[test]
fn json_file_with_jsonl_content_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "c.json",
        b"{\"id\":\"1\",\"text\":\"a\"}\n{\"id\":\"2\",\"text\":\"b\"}\n",
    );
    assert_eq!(CorpusFormat::detect(&path).unwrap(), CorpusFormat::Jsonl);
    let unknown = write(dir.path(), "c.txt", b"x");
    assert!(CorpusFormat::detect(&unknown).is_err());
}

#[test]
fn records_split_into_windows_with_ids_and_offsets() {
    let record = Record {
        id: "d".into(),
        title: "T".into(),
        text: "one two three four five six".into(),
        meta: Map::new(),
        at: Location::line("x", 1),
    };
    let passages = record.clone().into_passages(Some(SplitMode::Words {
        size: 3,
        overlap: 1,
    }));
    assert_eq!(passages.len(), 3);
    assert_eq!(passages[1].id, "d#1");
    assert_eq!(passages[1].doc_id, "d");
    assert_eq!(passages[1].text, "three four five");
    assert_eq!(passages[1].char_offset, 8);
    let whole = record.into_passages(None);
    assert_eq!(whole.len(), 1);
    assert_eq!(whole[0].id, "d");
}
