"""The package installs into any game server's environment: standard library
only, no dependencies, Python 3.9 or newer."""

from __future__ import annotations

import ast
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import mnemo_client

PACKAGE = Path(mnemo_client.__file__).parent


def test_imports_only_the_standard_library():
    foreign = set()
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            foreign |= {n.split(".")[0] for n in names} - set(sys.stdlib_module_names) - {"__future__"}
    assert foreign == set()


def test_installed_without_dependencies():
    assert metadata.version("mnemo-client") == mnemo_client.__version__
    assert not metadata.requires("mnemo-client")


def test_runs_on_python_3_9():
    # vermin (installed beside pytest by scripts/python-tests) finds the
    # oldest Python each construct needs.
    out = subprocess.run(
        [str(Path(sys.executable).parent / "vermin"), "--target=3.9-", "--violations", "--eval-annotations",
         "--no-tips", str(PACKAGE)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
