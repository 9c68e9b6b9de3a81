"""KorQuAD's official evaluation script as a module, for the Python scripts of scripts/: its
normalize_answer, f1_score, exact_match_score and metric_max_over_ground_truths are the definition
of EM/F1 this project reports."""
import importlib.util
import os


def official():
    """The module of ../shared/data/korquad/evaluate-v1.0.py (or $KORQUAD_EVAL)."""
    path = os.environ.get("KORQUAD_EVAL", "../shared/data/korquad/evaluate-v1.0.py")
    spec = importlib.util.spec_from_file_location("korquad_eval", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
