"""The Python package on the committed fixtures: the sample KorQuAD contexts indexed by the `odqa`
binary, read by the tiny random reader (answers arbitrary but deterministic). Run by
scripts/python-test.sh, which builds the wheel, installs it in a fresh venv and sets ODQA_BIN."""

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest

import odqa

REPO = Path(__file__).resolve().parents[3]
MODEL = REPO / "tests/fixtures/reader-parity/tiny-bert-qa"
QUESTIONS = REPO / "corpus/korquad-sample.json"
WINDOW = {"max_seq_len": 128, "doc_stride": 32}
ODQA = os.environ.get("ODQA_BIN", str(REPO / "target/release/odqa"))
QUESTION = "임종석이 여의도 농민 폭력 시위를 주도한 혐의로 지명수배된 연도는?"


@pytest.fixture(scope="session")
def index(tmp_path_factory):
    path = tmp_path_factory.mktemp("odqa") / "index"
    subprocess.run([ODQA, "index", "--corpus", str(QUESTIONS), "--index", str(path)],
                   check=True, capture_output=True, timeout=300)
    return path


@pytest.fixture(scope="session")
def pipeline(index):
    return odqa.Pipeline(index, MODEL, **WINDOW)


def test_ask_gives_ranked_answers_with_their_evidence(pipeline):
    answers = pipeline.ask(QUESTION, top_k=3, n_best=5)
    assert 0 < len(answers) <= 5
    assert all(isinstance(a, odqa.Answer) for a in answers)
    probabilities = [a.probability for a in answers]
    assert probabilities == sorted(probabilities, reverse=True)
    best = answers[0]
    assert best.title == "임종석" and best.start < best.end
    assert best.text.strip() in best.sentence or best.sentence  # the sentence around it
    d = best.to_dict()
    assert d["text"] == best.text and d["passage_id"] == best.passage_id
    assert "Answer(text=" in repr(best)
    json.dumps(d, ensure_ascii=False)


def test_retrieve_gives_passages(pipeline):
    passages = pipeline.retrieve(QUESTION, 3)
    assert [p.rank for p in passages] == list(range(1, len(passages) + 1)) and passages
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
    assert len(pipeline.retrieve(QUESTION, 1)) == 1
    assert passages[0].title == "임종석" and passages[0].text
    assert passages[0].to_dict()["id"] == passages[0].id


def test_predict_writes_what_the_cli_writes_byte_for_byte(pipeline, index, tmp_path):
    cli = tmp_path / "cli.json"
    cli_nbest = tmp_path / "cli.nbest.json"
    subprocess.run([ODQA, "predict", "--index", str(index), "--model", str(MODEL),
                    "--max-seq-len", "128", "--doc-stride", "32", "--questions", str(QUESTIONS),
                    "--out", str(cli), "--nbest-out", str(cli_nbest)],
                   check=True, capture_output=True, timeout=300)
    out, nbest_out = tmp_path / "py.json", tmp_path / "py.nbest.json"
    predictions, nbest = pipeline.predict(QUESTIONS, out=out, nbest_out=nbest_out)
    assert out.read_bytes() == cli.read_bytes()
    assert nbest_out.read_bytes() == cli_nbest.read_bytes()
    # The returned dicts are the files' contents, in question order.
    assert json.dumps(predictions, ensure_ascii=False) == json.dumps(
        json.loads(cli.read_text(encoding="utf-8")), ensure_ascii=False)
    assert list(nbest) == list(predictions)
    # The same questions as a list of dicts (what a datasets.Dataset iterates as).
    rows = [{"id": i, "question": q} for i, q in odqa.read_questions(QUESTIONS)]
    again, _ = pipeline.predict(rows)
    assert again == predictions
    once, _ = odqa.predict(index, MODEL, QUESTIONS, **WINDOW)
    assert once == predictions
    # An output is never an input: refused before any work, the file as it was.
    copy = tmp_path / "questions.json"
    copy.write_bytes(QUESTIONS.read_bytes())
    with pytest.raises(odqa.DataError, match="same file as the input"):
        pipeline.predict(copy, out=copy)
    assert copy.read_bytes() == QUESTIONS.read_bytes()
    with pytest.raises(odqa.DataError, match="same file as the output"):
        pipeline.predict(QUESTIONS, out=out, nbest_out=out)
    scores = odqa.evaluate(QUESTIONS, predictions)
    assert scores["questions"] == len(predictions) and scores["missing"] == []


def test_batches_accept_what_python_users_hold(pipeline):
    class Dataset:  # iterates dicts, as datasets.Dataset does, without the dependency
        def __init__(self, rows):
            self.rows = rows

        def __iter__(self):
            return iter(self.rows)

    questions = ["임종석은 누구인가?", "대통령비서실장은 누구였나?"]
    by_text = pipeline.answer(questions, top_k=2)
    by_dict = pipeline.answer(Dataset([{"question": q, "id": n} for n, q in enumerate(questions)]),
                              top_k=2)
    assert [[a.text for a in x] for x in by_text] == [[a.text for a in x] for x in by_dict]
    alone = [pipeline.ask(q, top_k=2) for q in questions]
    assert [[a.text for a in x] for x in alone] == [[a.text for a in x] for x in by_text]
    seen = []
    pipeline.answer(questions, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (2, 2)


def test_errors_are_typed_with_the_cli_messages(pipeline, tmp_path):
    with pytest.raises(odqa.QuestionError, match="no searchable words"):
        pipeline.ask("?!")
    with pytest.raises(odqa.QuestionError):
        pipeline.ask("   ")
    with pytest.raises(odqa.IndexFormatError, match="no such index directory"):
        odqa.Pipeline(tmp_path / "missing", MODEL)
    with pytest.raises(odqa.ModelError):
        odqa.Pipeline(pipeline_index(pipeline), tmp_path)
    with pytest.raises(odqa.SettingsError, match="strategy"):
        pipeline.ask(QUESTION, strategy="nope")
    with pytest.raises(odqa.SettingsError, match="null_weight"):
        pipeline.ask(QUESTION, null_weight=1.5)
    # One passage: the no-answer weight takes the same amount off every span, nothing moves.
    one = [a.text for a in pipeline.ask(QUESTION, top_k=1)]
    assert one and one == [a.text for a in pipeline.ask(QUESTION, top_k=1, null_weight=1.0)]
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": [', encoding="utf-8")
    with pytest.raises(odqa.DataError, match="bad.json"):
        pipeline.predict(bad)
    with pytest.raises(TypeError, match="question 1"):
        pipeline.answer(["ok?", 3])
    with pytest.raises(ValueError, match="Pipeline.ask"):
        pipeline.answer("not-a-file")
    assert issubclass(odqa.QuestionError, odqa.OdqaError)


def pipeline_index(pipeline):
    return repr(pipeline).split('index="')[1].split('"')[0]


def test_two_threads_answer_concurrently_and_alike(index):
    questions = [q for _, q in odqa.read_questions(QUESTIONS)]
    one = odqa.Pipeline(index, MODEL, threads=1, **WINDOW)
    expected = [[a.text for a in x] for x in one.answer(questions)]
    results = [None, None]

    def work(i):
        results[i] = [[a.text for a in x] for x in one.answer(questions)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert results == [expected, expected]


def test_ctrl_c_stops_a_batch_with_keyboard_interrupt(pipeline):
    import signal

    questions = [QUESTION] * 2048
    seen = []

    def progress(done, total):
        seen.append(done)
        if len(seen) == 1:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        pipeline.answer(questions, progress=progress)
    assert seen and seen[-1] < len(questions), seen
    # The pipeline is still usable.
    assert pipeline.ask(QUESTION, top_k=1)


def test_reader_reads_a_paragraph_as_odqa_read_does(tmp_path):
    reader = odqa.Reader(MODEL, max_seq_len=128, doc_stride=32)
    rows = json.loads(QUESTIONS.read_text(encoding="utf-8"))["data"]
    paragraph = rows[0]["paragraphs"][0]
    qa = paragraph["qas"][0]
    answers = reader.read(qa["question"], paragraph["context"])
    assert 0 < len(answers) <= 20
    assert len(reader.read(qa["question"], paragraph["context"], n_best=5)) <= 5
    best = answers[0]
    assert paragraph["context"][best.start:best.end] == best.text
    single = tmp_path / "one.json"
    single.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [
        {"context": paragraph["context"], "qas": [qa]}]}]}, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "read.json"
    subprocess.run([ODQA, "read", "--model", str(MODEL), "--max-seq-len", "128",
                    "--doc-stride", "32", "--data", str(single), "--out", str(out)],
                   check=True, capture_output=True, timeout=300)
    assert json.loads(out.read_text(encoding="utf-8"))[qa["id"]] == best.text
    # The length penalty as `odqa read --length-penalty` applies it.
    short = reader.read(qa["question"], paragraph["context"], length_penalty=50.0)[0]
    penalised = tmp_path / "penalised.json"
    subprocess.run([ODQA, "read", "--model", str(MODEL), "--max-seq-len", "128",
                    "--doc-stride", "32", "--data", str(single), "--out", str(penalised),
                    "--length-penalty", "50"], check=True, capture_output=True, timeout=300)
    assert json.loads(penalised.read_text(encoding="utf-8"))[qa["id"]] == short.text
    assert len(short.text) <= len(best.text)
    with pytest.raises(odqa.SettingsError):
        reader.read(qa["question"], paragraph["context"], length_penalty=-1.0)
    # Year answers as `odqa read --year-answers` applies them: a year question's full dates go.
    dates = [a.text for a in reader.read("설립한 연도는?", "1993년 11월 23일", n_best=50)]
    years = [a.text for a in reader.read("설립한 연도는?", "1993년 11월 23일", n_best=50,
                                         year_answers=True)]
    assert "1993년 11월 23일" in dates or "1993년 11월" in dates
    assert "1993년 11월 23일" not in years and "1993년 11월" not in years
    assert years.count("1993년") == 1
    with pytest.raises(odqa.SettingsError):
        odqa.Reader(MODEL, max_seq_len=128, doc_stride=128)


def test_index_builds_what_odqa_index_builds(tmp_path):
    summary = odqa.index([QUESTIONS], tmp_path / "index")
    assert summary["passages"] > 0 and summary["language"] == "ko"
    pipeline = odqa.Pipeline(tmp_path / "index", MODEL, **WINDOW)
    assert pipeline.retrieve(QUESTION, 1)[0].title == "임종석"
    with pytest.raises(odqa.OdqaError):
        odqa.index([tmp_path / "missing.jsonl"], tmp_path / "other")
    with pytest.raises(ValueError, match="lang"):
        odqa.index([QUESTIONS], tmp_path / "x", lang="fr")


def test_precision_is_chosen_and_checked(index):
    fp32 = odqa.Pipeline(index, MODEL, precision="fp32", **WINDOW).ask(QUESTION, top_k=3)
    bf16 = odqa.Pipeline(index, MODEL, precision="bf16", **WINDOW).ask(QUESTION, top_k=3)
    # bf16 rounds the products' inputs: the probabilities move a little, not wildly.
    assert abs(fp32[0].probability - bf16[0].probability) < 0.05
    with pytest.raises(odqa.SettingsError, match="fp32, bf16, int8 or auto"):
        odqa.Pipeline(index, MODEL, precision="int4")
    with pytest.raises(odqa.SettingsError, match="fp32, bf16, int8 or auto"):
        odqa.Reader(MODEL, precision="fp16")
