"""odqa: open-domain question answering — BM25 (+ e5 dense) retrieval and a BERT-family extractive
reader, in Rust.

    import odqa
    pipeline = odqa.Pipeline("kowiki-index", "models/e5-small-ko-qa")
    best = pipeline.ask("대한민국의 수도는?")[0]
    print(best.text, best.probability, best.title, best.sentence)

``Pipeline`` loads the index and the reader once; ``ask`` answers one question, ``answer`` a batch
(strings, dicts with "question", a ``datasets.Dataset`` or a question file), ``predict`` writes the
competition's ``predictions.json`` / ``nbest_predictions.json`` exactly as ``odqa predict`` does,
``retrieve`` gives passages alone. ``Reader(model).read(question, context)`` reads one paragraph
(no index); ``index(corpus, index_dir)`` builds an index as ``odqa index`` does. Heavy calls release the GIL; Ctrl-C raises KeyboardInterrupt.
Errors are ``odqa.OdqaError`` subclasses with the CLI's messages.
"""

from ._odqa import (
    Answer,
    DataError,
    IndexFormatError,
    ModelError,
    OdqaError,
    Passage,
    Pipeline,
    QuestionError,
    Reader,
    SettingsError,
    __version__,
    evaluate,
    index,
    read_questions,
)

__all__ = [
    "Answer",
    "DataError",
    "IndexFormatError",
    "ModelError",
    "OdqaError",
    "Passage",
    "Pipeline",
    "QuestionError",
    "Reader",
    "SettingsError",
    "__version__",
    "evaluate",
    "index",
    "read_questions",
]
