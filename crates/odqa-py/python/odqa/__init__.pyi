from ._odqa import (
    Answer as Answer,
    DataError as DataError,
    IndexFormatError as IndexFormatError,
    ModelError as ModelError,
    OdqaError as OdqaError,
    Passage as Passage,
    Pipeline as Pipeline,
    QuestionError as QuestionError,
    Reader as Reader,
    SettingsError as SettingsError,
    __version__ as __version__,
    evaluate as evaluate,
    index as index,
    read_questions as read_questions,
)

import os
from typing import Any, Callable

from ._odqa import Questions

def predict(
    index: str | os.PathLike[str],
    model: str | os.PathLike[str],
    questions: Questions,
    *,
    out: str | os.PathLike[str] | None = None,
    nbest_out: str | os.PathLike[str] | None = None,
    config: str | os.PathLike[str] | None = None,
    base: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int], object] | None = None,
    **window: int,
) -> tuple[dict[str, str], dict[str, list[dict[str, Any]]]]: ...
