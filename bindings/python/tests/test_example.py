"""The Python examples run: the cross-language scenario (shared checksum) and, with
torch, the SparseLinear example."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "python" / "scenario.py"


def test_scenario_example_prints_the_shared_checksum():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    run = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True,
                         env=env, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == "checksum = -26.937500"


def test_torch_example_runs():
    pytest.importorskip("torch")
    script = EXAMPLE.with_name("sparse_linear_torch.py")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env=env, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "rel_err=" in run.stdout
