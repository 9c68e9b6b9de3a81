//! SQuAD v1.1-format question sets (KorQuAD 1.0, XQuAD): reading and flattening into examples.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// A gold answer: its text and character offset in the context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// Answer text.
    pub text: String,
    /// Offset of the answer in the context, in characters.
    #[serde(default)]
    pub answer_start: usize,
}

/// One question with its context and gold answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QaExample {
    /// Question id.
    pub id: String,
    /// The question.
    pub question: String,
    /// Title of the article the context comes from (may be empty).
    pub title: String,
    /// The paragraph the question was asked about.
    pub context: String,
    /// Gold answers (empty for unanswered test questions).
    pub answers: Vec<Answer>,
}

#[derive(Deserialize)]
struct SquadFile {
    data: Vec<SquadArticle>,
}

#[derive(Deserialize)]
struct SquadArticle {
    #[serde(default)]
    title: String,
    paragraphs: Vec<SquadParagraph>,
}

#[derive(Deserialize)]
struct SquadParagraph {
    context: String,
    qas: Vec<SquadQa>,
}

#[derive(Deserialize)]
struct SquadQa {
    id: IdValue,
    question: String,
    #[serde(default)]
    answers: Vec<Answer>,
}

/// Question ids are strings in SQuAD; some files use numbers.
#[derive(Deserialize)]
#[serde(untagged)]
enum IdValue {
    Str(String),
    Num(serde_json::Number),
}

/// Reads a SQuAD-format JSON file into a flat list of examples, in file order.
pub fn read_squad(path: &Path) -> Result<Vec<QaExample>, CoreError> {
    let file = std::fs::File::open(path).map_err(|e| CoreError::io(path, e))?;
    let parsed: SquadFile = serde_json::from_reader(std::io::BufReader::new(file))
        .map_err(|e| CoreError::json(path, &e))?;
    let mut out = Vec::new();
    for article in parsed.data {
        for paragraph in article.paragraphs {
            for qa in paragraph.qas {
                out.push(QaExample {
                    id: match qa.id {
                        IdValue::Str(s) => s,
                        IdValue::Num(n) => n.to_string(),
                    },
                    question: qa.question,
                    title: article.title.clone(),
                    context: paragraph.context.clone(),
                    answers: qa.answers,
                });
            }
        }
    }
    Ok(out)
}

/// Reads questions from a SQuAD JSON file or a Hugging Face `save_to_disk` split folder.
pub fn read_examples(path: &Path) -> Result<Vec<QaExample>, CoreError> {
    if path.is_dir() {
        crate::hf_dataset::read_hf_split(path)
    } else {
        read_squad(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_articles_paragraphs_and_questions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(
            &path,
            r#"{"version":"v","data":[{"title":"T","paragraphs":[{"context":"서울은 수도다.",
            "qas":[{"id":"q1","question":"수도는?","answers":[{"text":"서울","answer_start":0}]},
                   {"id":7,"question":"x?","answers":[]}]}]}]}"#,
        )
        .unwrap();
        let examples = read_squad(&path).unwrap();
        assert_eq!(examples.len(), 2);
        assert_eq!(examples[0].title, "T");
        assert_eq!(examples[0].answers[0].text, "서울");
        assert_eq!(examples[1].id, "7");
    }

    #[test]
    fn malformed_file_names_path_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, "{\"data\": [\n{\"title\": }]}").unwrap();
        let err = read_squad(&path).unwrap_err().to_string();
        assert!(err.contains("bad.json:2:"), "{err}");
    }
}
