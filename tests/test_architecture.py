"""The import direction of DESIGN.md section 1, checked with import-linter."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run(
        [exe, str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower() or " 0 broken" in result.stdout.lower()


def test_importing_marec_env_does_not_load_torch_or_matplotlib():
    code = (
        "import sys, marec_env; env = marec_env.parallel_env('marec/mixed-v0', "
        "backbones=('cf', 'content', 'popularity')); "
        "print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.split() == ["False", "False"]


def test_importing_marec_env_does_not_load_numba():
    """numba costs a quarter of a second to import: it loads with the first kernel call."""
    code = (
        "import sys, marec_env; from marec_env import kernels; a = 'numba' in sys.modules; "
        "kernels.use_numba(True); "
        "kernels.largest_values(__import__('numpy').ones((2, 9), 'float32'), 3); "
        "print(a, 'numba' in sys.modules or not kernels.HAVE_NUMBA)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]
