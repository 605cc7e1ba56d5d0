"""First use: the README's commands, `twin run` without torch, usage without arguments,
--version, did-you-mean for misspelled commands and options, help for every option."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from twin import __version__
from twin.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def block_after(marker: str) -> str:
    """The second line after the marker, as .ci/run reads it."""
    lines = README.splitlines()
    at = lines.index(marker)
    assert lines[at + 1].startswith("```")
    return lines[at + 2]


def test_readme_commands() -> None:
    run = block_after("<!-- run-command -->")
    assert "-e ." in run and "[ml" not in run and "twin run scenarios/default.yaml" in run
    test = block_after("<!-- test-command -->")
    assert "-e '.[ml,dev]'" in test and "pytest -q -n 2" in test
    extracted = subprocess.run(
        ["awk", "/<!-- test-command -->/{getline; getline; print; exit}", "README.md"],
        capture_output=True, text=True, cwd=ROOT, check=True).stdout.strip()
    assert extracted == test
    assert "ruff check twin tests" in (ROOT / ".ci" / "run").read_text()
    assert "mypy twin" in (ROOT / ".ci" / "run").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    dependencies = pyproject.split("dependencies = [")[1].split("]")[0]
    assert "torch" not in dependencies and "pytest-xdist" in pyproject


def test_twin_run_without_torch(tmp_path: Path) -> None:
    script = f"""
import sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("no torch here")
sys.meta_path.insert(0, NoTorch())
from twin.cli import main
rc = main(["run", "scenarios/default.yaml", "--out", {str(tmp_path / "out")!r},
           "--replications", "2", "--horizon", "3000", "--workers", "1"])
sys.exit(rc if "torch" not in sys.modules else 9)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "summary.json").exists()
    assert f"report: {tmp_path / 'out' / 'report.html'}" in done.stdout


def test_no_arguments_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "usage: twin" in err and "compare" in err and "Traceback" not in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"twin {__version__}"


@pytest.mark.parametrize(("argv", "words"), [
    (["rnu", "scenarios/mm1.yaml"], "unknown command 'rnu'; did you mean 'run'?"),
    (["comapre", "x.yaml"], "did you mean 'compare'?"),
    (["run", "scenarios/mm1.yaml", "--replicatons", "3"],
     "did you mean --replications (not --replicatons)?"),
    (["sweep", "scenarios/mm1.yaml", "--parm", "horizon"], "did you mean --param"),
    (["compare", "scenarios/two-station.yaml", "--rank-by", "cost_rat"],
     "did you mean 'cost_rate'?"),
])
def test_did_you_mean(capsys: pytest.CaptureFixture[str], argv: list[str], words: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_every_option_has_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"{name} {a.dest}" for name, p in sub.choices.items() for a in p._actions
               if a.help in (None, "") and not isinstance(a, argparse._HelpAction)]
    assert missing == []
