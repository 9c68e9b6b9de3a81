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



def predict(index, model, questions, *, out=None, nbest_out=None, config=None, base=None,
            progress=None, **window):
    """The competition's files for ``questions`` in one call: opens ``Pipeline(index, model,
    config=config, base=base, **window)`` and returns its ``predict(questions, out=out,
    nbest_out=nbest_out, progress=progress)`` — ``({id: text}, {id: spans})``, written byte for
    byte as ``odqa predict`` writes them when ``out`` is given."""
    pipeline = Pipeline(index, model, config=config, base=base, **window)
    return pipeline.predict(questions, out=out, nbest_out=nbest_out, progress=progress)


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
    "predict",
    "read_questions",
]
