//! Hugging Face `datasets` folders written by `save_to_disk` (the competition's `train_dataset/` and
//! `test_dataset/`), read natively: `state.json` names the Arrow IPC stream files of a split.
//!
//! Columns used: `id`, `question`, and when present `context`, `title` and
//! `answers: struct<answer_start: list<int>, text: list<string>>` (test splits have only `id` and
//! `question`). Pass a split folder (`train_dataset/train`); a `DatasetDict` folder is refused with
//! the list of its splits.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};

use crate::squad::{Answer, QaExample};
use crate::CoreError;

fn bad(path: &Path, message: impl Into<String>) -> CoreError {
    CoreError::UnknownFormat {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// True when `path` looks like a `save_to_disk` folder (a split or a `DatasetDict`).
pub fn is_hf_dataset(path: &Path) -> bool {
    path.join("state.json").is_file() || path.join("dataset_dict.json").is_file()
}

/// Reads every row of a `save_to_disk` split folder as QA examples, in order.
pub fn read_hf_split(path: &Path) -> Result<Vec<QaExample>, CoreError> {
    if !path.join("state.json").is_file() {
        if let Ok(bytes) = std::fs::read(path.join("dataset_dict.json")) {
            let dict: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let splits: Vec<String> = dict["splits"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str())
                        .map(|s| path.join(s).display().to_string())
                        .collect()
                })
                .unwrap_or_default();
            return Err(bad(
                path,
                format!(
                    "a DatasetDict: give one of its splits: {}",
                    splits.join(", ")
                ),
            ));
        }
        return Err(bad(path, "not a datasets folder (no state.json)"));
    }
    let state_path = path.join("state.json");
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&state_path).map_err(|e| CoreError::io(&state_path, e))?,
    )
    .map_err(|e| CoreError::json(&state_path, &e))?;
    if !state["_indices_data_files"].is_null() {
        return Err(bad(
            path,
            "uses an indices mapping, not supported: re-save it after dataset.flatten_indices()",
        ));
    }
    let files = state["_data_files"]
        .as_array()
        .ok_or_else(|| bad(&state_path, "no _data_files list"))?
        .iter()
        .filter_map(|f| f["filename"].as_str())
        .map(|f| path.join(f));
    let mut out = Vec::new();
    for file in files {
        for batch in read_batches(&file)? {
            rows(&file, &batch, &mut out)?;
        }
    }
    Ok(out)
}

/// The record batches of one Arrow IPC stream file. arrow-ipc panics on some corrupt files (a
/// buffer offset past the message body reaches `Buffer::slice_with_length`'s assertion):
/// [`check_buffer_bounds`] refuses those first, and the decoding still runs under `catch_unwind`,
/// so that any other such panic becomes the same "corrupt Arrow data" error as the ones arrow
/// reports. Nothing outlives the closure, so no broken state can be observed.
fn read_batches(file: &Path) -> Result<Vec<RecordBatch>, CoreError> {
    let bytes = std::fs::read(file).map_err(|e| CoreError::io(file, e))?;
    check_buffer_bounds(file, &bytes)?;
    let decode = || -> Result<Vec<RecordBatch>, CoreError> {
        let stream = arrow_ipc::reader::StreamReader::try_new(bytes.as_slice(), None)
            .map_err(|e| bad(file, format!("not an Arrow IPC stream: {e}")))?;
        stream
            .map(|batch| batch.map_err(|e| bad(file, format!("corrupt Arrow data: {e}"))))
            .collect()
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("the Arrow reader failed");
        Err(bad(file, format!("corrupt Arrow data: {message}")))
    })
}

/// Walks the messages of an Arrow IPC stream (`[0xFFFFFFFF] length metadata body`) and refuses a
/// record or dictionary batch with a buffer outside its message body. Anything else that is wrong
/// (an unreadable message, a cut file) is left for arrow-ipc to report.
fn check_buffer_bounds(file: &Path, bytes: &[u8]) -> Result<(), CoreError> {
    let word = |at: usize| {
        bytes
            .get(at..at.checked_add(4)?)
            .and_then(|w| <[u8; 4]>::try_from(w).ok())
            .map(u32::from_le_bytes)
    };
    let mut at = 0usize;
    while let Some(first) = word(at) {
        // A continuation marker, then the metadata length (older streams start with the length).
        let (length, metadata_at) = match first {
            u32::MAX => match word(at + 4) {
                Some(length) => (length as usize, at + 8),
                None => return Ok(()),
            },
            length => (length as usize, at + 4),
        };
        // A zero length ends the stream.
        if length == 0 {
            return Ok(());
        }
        let Some(metadata) = metadata_at
            .checked_add(length)
            .and_then(|end| bytes.get(metadata_at..end))
        else {
            return Ok(());
        };
        let Ok(message) = arrow_ipc::root_as_message(metadata) else {
            return Ok(());
        };
        let body = u64::try_from(message.bodyLength()).unwrap_or(u64::MAX);
        let batch = message
            .header_as_record_batch()
            .or_else(|| message.header_as_dictionary_batch().and_then(|d| d.data()));
        for buffer in batch.and_then(|b| b.buffers()).into_iter().flatten() {
            let start = u64::try_from(buffer.offset()).unwrap_or(u64::MAX);
            let end = start.saturating_add(u64::try_from(buffer.length()).unwrap_or(u64::MAX));
            if end > body {
                return Err(bad(
                    file,
                    format!(
                        "corrupt Arrow data: a buffer at bytes {start}..{end} of a {body}-byte \
                         message body"
                    ),
                ));
            }
        }
        let Some(next) = usize::try_from(body)
            .ok()
            .and_then(|b| (metadata_at + length).checked_add(b))
        else {
            return Ok(());
        };
        at = next;
    }
    Ok(())
}

fn strings(
    path: &Path,
    batch: &RecordBatch,
    name: &str,
    required: bool,
) -> Result<Option<Vec<String>>, CoreError> {
    let Some(column) = batch.column_by_name(name) else {
        return if required {
            Err(bad(path, format!("no column `{name}`")))
        } else {
            Ok(None)
        };
    };
    string_values(column)
        .map(Some)
        .ok_or_else(|| bad(path, format!("column `{name}` is not a string column")))
}

fn string_values(column: &ArrayRef) -> Option<Vec<String>> {
    let value = |a: &dyn Array, i: usize, s: &str| {
        if a.is_null(i) {
            String::new()
        } else {
            s.to_string()
        }
    };
    if let Some(a) = column.as_string_opt::<i32>() {
        return Some((0..a.len()).map(|i| value(a, i, a.value(i))).collect());
    }
    if let Some(a) = column.as_string_opt::<i64>() {
        return Some((0..a.len()).map(|i| value(a, i, a.value(i))).collect());
    }
    None
}

fn integers(column: &ArrayRef) -> Option<Vec<i64>> {
    if let Some(a) = column.as_primitive_opt::<Int64Type>() {
        return Some(a.values().to_vec());
    }
    column
        .as_primitive_opt::<Int32Type>()
        .map(|a| a.values().iter().map(|&v| i64::from(v)).collect())
}

fn answers(path: &Path, answers: &StructArray) -> Result<Vec<Vec<Answer>>, CoreError> {
    let bad_answers = || {
        bad(
            path,
            "column `answers` must be struct<answer_start: list<int>, text: list<string>>",
        )
    };
    let starts = answers
        .column_by_name("answer_start")
        .ok_or_else(bad_answers)?;
    let texts = answers.column_by_name("text").ok_or_else(bad_answers)?;
    let (starts, texts) = (
        starts.as_list_opt::<i32>().ok_or_else(bad_answers)?,
        texts.as_list_opt::<i32>().ok_or_else(bad_answers)?,
    );
    let mut out = Vec::with_capacity(answers.len());
    for row in 0..answers.len() {
        let s = integers(&starts.value(row)).ok_or_else(bad_answers)?;
        let t = string_values(&texts.value(row)).ok_or_else(bad_answers)?;
        out.push(
            t.into_iter()
                .zip(s)
                .map(|(text, start)| Answer {
                    text,
                    answer_start: usize::try_from(start).unwrap_or(0),
                })
                .collect(),
        );
    }
    Ok(out)
}

fn rows(path: &Path, batch: &RecordBatch, out: &mut Vec<QaExample>) -> Result<(), CoreError> {
    let ids = strings(path, batch, "id", true)?.unwrap_or_default();
    let questions = strings(path, batch, "question", true)?.unwrap_or_default();
    let contexts = strings(path, batch, "context", false)?;
    let titles = strings(path, batch, "title", false)?;
    let answer_lists = match batch.column_by_name("answers") {
        Some(column) => {
            let s = column
                .as_struct_opt()
                .ok_or_else(|| bad(path, "column `answers` is not a struct"))?;
            Some(answers(path, s)?)
        }
        None => None,
    };
    for i in 0..batch.num_rows() {
        out.push(QaExample {
            id: ids[i].clone(),
            question: questions[i].clone(),
            title: titles.as_ref().map(|t| t[i].clone()).unwrap_or_default(),
            context: contexts.as_ref().map(|c| c[i].clone()).unwrap_or_default(),
            answers: answer_lists
                .as_ref()
                .map(|a| a[i].clone())
                .unwrap_or_default(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::builder::{Int64Builder, ListBuilder, StringBuilder, StructBuilder};
    use arrow_array::StringArray;
    use arrow_ipc::writer::StreamWriter;

    use super::*;

    fn fixture() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/competition-test-dataset")
    }

    #[test]
    fn reads_the_competition_test_split() {
        let examples = read_hf_split(&fixture().join("validation")).unwrap();
        assert_eq!(examples.len(), 473);
        assert_eq!(examples[0].id, "mrc-1-000000");
        assert!(!examples[0].question.is_empty());
        assert!(examples
            .iter()
            .all(|e| e.context.is_empty() && e.answers.is_empty()));
    }

    #[test]
    fn a_dataset_dict_names_its_splits() {
        let err = read_hf_split(&fixture()).unwrap_err().to_string();
        assert!(
            err.contains("DatasetDict") && err.contains("validation"),
            "{err}"
        );
        assert!(is_hf_dataset(&fixture()));
    }

    #[test]
    fn reads_contexts_titles_and_answers() {
        let dir = tempfile::tempdir().unwrap();
        let fields = vec![
            arrow_schema::Field::new(
                "answer_start",
                arrow_schema::DataType::new_list(arrow_schema::DataType::Int64, true),
                true,
            ),
            arrow_schema::Field::new(
                "text",
                arrow_schema::DataType::new_list(arrow_schema::DataType::Utf8, true),
                true,
            ),
        ];
        let mut answers = StructBuilder::new(
            fields.clone(),
            vec![
                Box::new(ListBuilder::new(Int64Builder::new())),
                Box::new(ListBuilder::new(StringBuilder::new())),
            ],
        );
        for (start, text) in [(0i64, "서울"), (3, "수도")] {
            let starts = answers
                .field_builder::<ListBuilder<Int64Builder>>(0)
                .unwrap();
            starts.values().append_value(start);
            starts.append(true);
            let texts = answers
                .field_builder::<ListBuilder<StringBuilder>>(1)
                .unwrap();
            texts.values().append_value(text);
            texts.append(true);
            answers.append(true);
        }
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("title", Arc::new(StringArray::from(vec!["서울", "서울"]))),
            (
                "context",
                Arc::new(StringArray::from(vec!["서울은 수도", "서울은 수도"])),
            ),
            (
                "question",
                Arc::new(StringArray::from(vec!["어디?", "무엇?"])),
            ),
            ("id", Arc::new(StringArray::from(vec!["a", "b"]))),
            ("answers", Arc::new(answers.finish())),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let file = std::fs::File::create(dir.path().join("data-00000-of-00001.arrow")).unwrap();
        let mut writer = StreamWriter::try_new(file, &batch.schema()).unwrap();
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
        std::fs::write(
            dir.path().join("state.json"),
            r#"{"_data_files": [{"filename": "data-00000-of-00001.arrow"}]}"#,
        )
        .unwrap();
        let examples = read_hf_split(dir.path()).unwrap();
        assert_eq!(examples.len(), 2);
        assert_eq!(examples[1].id, "b");
        assert_eq!(examples[1].context, "서울은 수도");
        assert_eq!(
            examples[1].answers,
            vec![Answer {
                text: "수도".into(),
                answer_start: 3
            }]
        );
        assert_eq!(examples[0].title, "서울");
    }

    /// Found by tests/fuzz.rs: one byte of a buffer offset in the committed test split changed
    /// (byte 434, 0 → 1) points a buffer 64 KiB past the message body, and arrow-ipc 60 panicked
    /// in `Buffer::slice_with_length` instead of returning an error.
    #[test]
    fn a_buffer_offset_past_the_body_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["dataset_info.json", "state.json"] {
            std::fs::copy(
                fixture().join("validation").join(name),
                dir.path().join(name),
            )
            .unwrap();
        }
        let mut bytes = std::fs::read(fixture().join("validation/dataset.arrow")).unwrap();
        assert_eq!(bytes[434], 0);
        bytes[434] = 1;
        let file = dir.path().join("dataset.arrow");
        std::fs::write(&file, bytes).unwrap();
        let err = read_hf_split(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("corrupt Arrow data: a buffer at bytes 65536..65536 of a")
                && err.contains(&file.display().to_string()),
            "{err}"
        );
    }

    /// Opt-in (needs ../shared): the competition train split holds the KorQuAD train questions.
    #[test]
    #[ignore = "needs ../shared/data"]
    fn competition_train_split_matches_korquad_train() {
        let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
        let arrow = read_hf_split(&shared.join("competition/train_dataset/train")).unwrap();
        let squad = crate::squad::read_squad(&shared.join("korquad/train.json")).unwrap();
        assert_eq!(arrow.len(), squad.len());
        for (a, s) in arrow.iter().zip(&squad) {
            assert_eq!(
                (&a.question, &a.context, &a.answers),
                (&s.question, &s.context, &s.answers)
            );
        }
    }
}
