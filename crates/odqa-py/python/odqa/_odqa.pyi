"""Type stubs of odqa's native module (see odqa/__init__.py)."""

import os
from typing import Any, Callable, Iterable, Literal, Mapping

__version__: str

class OdqaError(Exception): ...
class QuestionError(OdqaError): ...
class ModelError(OdqaError): ...
class IndexFormatError(OdqaError): ...
class DataError(OdqaError): ...
class SettingsError(OdqaError): ...

class Answer:
    """An answer, its probability, and where it was found."""

    text: str
    probability: float
    start: int
    end: int
    passage_id: str
    title: str
    sentence: str
    def to_dict(self) -> dict[str, Any]: ...

class Passage:
    """A retrieved passage."""

    rank: int
    score: float
    bm25_score: float | None
    dense_score: float | None
    id: str
    title: str
    text: str
    doc_id: str
    def to_dict(self) -> dict[str, Any]: ...

Questions = str | os.PathLike[str] | Iterable[str] | Iterable[Mapping[str, Any]]

class Pipeline:
    """An index and a reader, loaded once."""

    def __init__(
        self,
        index: str | os.PathLike[str],
        model: str | os.PathLike[str],
        *,
        config: str | os.PathLike[str] | None = None,
        base: str | os.PathLike[str] | None = None,
        threads: int | None = None,
        max_seq_len: int | None = None,
        doc_stride: int | None = None,
        precision: Literal["fp32", "bf16", "int8", "auto"] | None = None,
    ) -> None: ...
    def ask(
        self,
        question: str,
        *,
        top_k: int | None = None,
        n_best: int | None = None,
        strategy: str | None = None,
        mu: float | None = None,
        null_weight: float | None = None,
        retriever: str | None = None,
    ) -> list[Answer]: ...
    def answer(
        self,
        questions: Questions,
        *,
        progress: Callable[[int, int], object] | None = None,
        top_k: int | None = None,
        n_best: int | None = None,
        strategy: str | None = None,
        mu: float | None = None,
        null_weight: float | None = None,
        retriever: str | None = None,
    ) -> list[list[Answer]]: ...
    def predict(
        self,
        questions: Questions,
        *,
        out: str | os.PathLike[str] | None = None,
        nbest_out: str | os.PathLike[str] | None = None,
        progress: Callable[[int, int], object] | None = None,
    ) -> tuple[dict[str, str], dict[str, list[dict[str, Any]]]]: ...
    def retrieve(
        self, question: str, top_k: int = 10, *, retriever: str | None = None
    ) -> list[Passage]: ...

class Reader:
    """A reader alone: reading comprehension without an index."""

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        base: str | os.PathLike[str] | None = None,
        max_seq_len: int = 384,
        doc_stride: int = 128,
        precision: Literal["fp32", "bf16", "int8", "auto"] = "auto",
    ) -> None: ...
    def read(
        self,
        question: str,
        context: str,
        *,
        n_best: int = 20,
        max_answer_len: int = 30,
        length_penalty: float = 0.0,
        year_answers: bool = False,
    ) -> list[Answer]: ...

def index(
    corpus: list[str | os.PathLike[str]],
    index_dir: str | os.PathLike[str],
    *,
    lang: str = "auto",
    skip_invalid: bool = False,
) -> dict[str, Any]: ...
def read_questions(path: str | os.PathLike[str]) -> list[tuple[str, str]]: ...
def evaluate(
    data: str | os.PathLike[str], predictions: Mapping[str, str]
) -> dict[str, Any]: ...
