#!/usr/bin/env bash
# Opt-in test of the Python package (crates/odqa-py; not in `cargo test`): builds the abi3 wheel
# with maturin (release), installs it into a fresh venv with pytest, and runs
# crates/odqa-py/tests on the committed fixtures (the CLI's `predict` output compared byte for
# byte, so the release `odqa` binary is built too). Then the GIL measurement
# (scripts/python-gil-bench.py). Needs Python >= 3.10 with venv and pip (PyPI: maturin, pytest).
#
#   scripts/python-test.sh            # VENV (target/py-test-venv), PYTHON (python3)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-target/py-test-venv}
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q "maturin>=1.5,<2" pytest
cargo build --release --bin odqa
rm -rf target/wheels
"$VENV/bin/maturin" build --release -m crates/odqa-py/Cargo.toml -o target/wheels
"$VENV/bin/pip" install -q target/wheels/odqa-*.whl
echo "installed: $("$VENV/bin/python" -c 'import odqa; print("odqa", odqa.__version__, odqa.__file__)')"
ODQA_BIN=target/release/odqa "$VENV/bin/python" -m pytest -q crates/odqa-py/tests
"$VENV/bin/python" scripts/python-gil-bench.py
