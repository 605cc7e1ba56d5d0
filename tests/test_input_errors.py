"""Bad input exits with status 2 and names the file, the field path and the line; no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from twin.cli import main

GOOD = """\
name: line
horizon: 1000
warmup: 100
plant:
  nodes:
    raw:  {kind: source}
    M1:   {kind: machine, process_time: {dist: exponential, mean: 1.0}}
    B1:   {kind: buffer, capacity: 2}
    M2:   {kind: machine, process_time: 1.0}
    done: {kind: sink}
  edges:
    - [raw, M1]
    - [M1, B1]
    - [B1, M2]
    - [M2, done]
maintenance: {crew: 1, policy: {kind: reactive}}
"""


def edit(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


# (case, file text, field path in the message, line number, words in the message)
CASES = [
    ("unknown node kind", edit("B1:   {kind: buffer", "B1:   {kind: bufer"),
     "plant.nodes.B1.kind", 8, "did you mean 'buffer'"),
    ("typo in a field", edit("process_time: 1.0", "proces_time: 1.0"),
     "plant.nodes.M2.proces_time", 9, "did you mean 'process_time'"),
    ("unknown top-level key", GOOD + "horizn: 5\n", "horizn", 17, "did you mean"),
    ("negative parameter", edit("mean: 1.0", "mean: -1.0"),
     "plant.nodes.M1.process_time.mean", 7, "greater than 0"),
    ("missing parameter", edit("{dist: exponential, mean: 1.0}", "{dist: exponential}"),
     "plant.nodes.M1.process_time.mean", 7, "missing"),
    ("typo in a distribution parameter", edit("mean: 1.0", "maen: 1.0"),
     "plant.nodes.M1.process_time.maen", 7, "did you mean 'mean'"),
    ("unknown distribution", edit("dist: exponential", "dist: exponentail"),
     "plant.nodes.M1.process_time.dist", 7, "did you mean 'exponential'"),
    ("negative capacity", edit("capacity: 2", "capacity: -2"),
     "plant.nodes.B1.capacity", 8, "greater than or equal to 0"),
    ("missing horizon", edit("horizon: 1000\n", ""), "horizon", None, "missing"),
    ("warmup after horizon", edit("warmup: 100", "warmup: 5000"), "warmup", 3,
     "must be less than horizon"),
    ("dangling edge", edit("- [B1, M2]", "- [B1, M3]"),
     "plant.edges[2]", 14, "unknown node 'M3'; did you mean 'M2'"),
    ("probabilities that do not sum to 1",
     edit("    - [M2, done]\n", "    - {from: M2, to: done, p: 0.7}\n    - {from: M2, to: B1, p: 0.2}\n"),
     "plant.nodes.M2", 9, "sum to 0.9"),
    ("edge probability above 1", edit("- [M2, done]", "- [M2, done, 1.5]"),
     "plant.edges[3].p", 15, "less than or equal to 1"),
    ("dead end", edit("    M2:   {kind: machine, process_time: 1.0}\n",
                      "    M2:   {kind: machine, process_time: 1.0}\n"
                      "    M3:   {kind: machine, process_time: 1.0}\n").replace(
                          "- [B1, M2]", "- [B1, M2]\n    - [B1, M3]"),
     "plant.nodes.M3", 10, "dead end"),
    ("unreachable machine", edit("    M2:   {kind: machine, process_time: 1.0}\n",
                                 "    M2:   {kind: machine, process_time: 1.0}\n"
                                 "    M9:   {kind: machine, process_time: 1.0}\n").replace(
                                     "- [M2, done]", "- [M2, done]\n    - [M9, done]"),
     "plant.nodes.M9", 10, "no incoming edge"),
    ("infinite supply into an unbounded buffer",
     "name: x\nhorizon: 10\nplant:\n  nodes:\n    raw: {kind: source}\n    B: {kind: buffer}\n"
     "    M: {kind: machine, process_time: 1}\n    done: {kind: sink}\n"
     "  edges:\n    - [raw, B]\n    - [B, M]\n    - [M, done]\n",
     "plant.edges[0]", 10, "fill without end"),
    ("duplicate key", edit("    done: {kind: sink}\n", "    done: {kind: sink}\n    M1: {kind: sink}\n"),
     "", 11, "duplicate key 'M1' (first defined on line 7)"),
    ("broken YAML", edit("[raw, M1]", "[raw, M1"), "", 13, "invalid YAML"),
    ("empty file", "", "", None, "empty"),
    ("not a mapping", "- just\n- a list\n", "", 1, "expected a mapping"),
    ("YAML tag that would run code",
     "!!python/object/apply:os.system ['echo pwned']\n", "", 1, "invalid YAML"),
    ("alias bomb",
     "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
     + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
               f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
               f"*{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8)),
     "", None, "aliases"),
    ("bad policy override", GOOD + "policies:\n  pm: {maintenance.policy: {kind: preventive}}\n",
     "policies.pm", 18, "every"),
    # a quality policy's fields are its own, not those of the maintenance policy of that kind
    ("field of another policy", GOOD + "quality: {policy: {kind: predictive, model: m.json, "
     "threshold: 0.5, every: 3, duration: 3}}\n", "quality.policy.duration", 17,
     "unknown field; allowed: every, kind, model, threshold"),
]


@pytest.mark.parametrize(("case", "text", "field", "line", "words"), CASES,
                         ids=[c[0] for c in CASES])
def test_bad_scenario_exits_2_naming_file_field_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, text: str, field: str,
    line: int | None, words: str,
) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert field in err
    if line is not None:
        assert f"{path}:{line}:" in err
    assert words in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("argument", "words"), [
    ("plant.nodes.M1.process_time.mean=-3", "greater than 0"),
    ("plant.nodes.M2.process_time.mean=3", "cannot set"),
    ("plant.nodes.M1.process_time=[1, 2", "invalid YAML"),
    ("horizon", "expected PATH=VALUE"),
    ("plant.edges.9=[M1, done]", "no list item '9'"),
    ("maintenance.policy.kind=magic", "unknown kind 'magic'"),
    ("plant.nodes.M11.process_time.mean=2", "plant.nodes.M11: no node 'M11' in the plant; "
                                           "did you mean 'M1'?"),
])
def test_bad_set_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], argument: str,
                         words: str) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(GOOD)
    assert main(["validate", str(path), "--set", argument]) == 2
    err = capsys.readouterr().err
    assert words in err
    assert "Traceback" not in err


@pytest.mark.parametrize("args", [
    ["run", "{path}", "--replications", "0"],
    ["run", "{path}", "--seed", "-1"],
    ["run", "{path}", "--horizon", "abc"],
    ["run", "{path}", "--frobnicate"],
    ["run", "{missing}"],
])
def test_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              args: list[str]) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(GOOD)
    argv = [a.format(path=path, missing=tmp_path / "nope.yaml") for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error" in err
    assert "Traceback" not in err


def test_installed_command_reports_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(edit("mean: 1.0", "mean: -1.0"))
    done = subprocess.run([sys.executable, "-m", "twin.cli", "run", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"{path}:7: plant.nodes.M1.process_time.mean" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists()


def test_valid_scenario_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(GOOD)
    assert main(["validate", str(path)]) == 0
    assert "ok" in capsys.readouterr().out


def test_sweep_param_naming_an_unknown_node_exits_2(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(GOOD)
    assert main(["sweep", str(path), "--param", "plant.nodes.M22.process_time.mean",
                 "--values", "1,2", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "--param/--values" in err and "no node 'M22' in the plant; did you mean 'M2'?" in err
    assert not (tmp_path / "out").exists()


def test_paths_in_a_scenario_resolve_beside_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from twin import load_scenario

    folder = tmp_path / "plant"
    (folder / "models").mkdir(parents=True)
    (folder / "models" / "rul.json").write_text("{}")
    policy = "{kind: predictive, model: models/rul.json, threshold: 5, every: 10, duration: 1}"
    (folder / "s.yaml").write_text(GOOD.replace("policy: {kind: reactive}", f"policy: {policy}"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["validate", str(folder / "s.yaml")]) == 0
    scenario = load_scenario(folder / "s.yaml")
    assert Path(scenario.maintenance.policy.model) == folder / "models" / "rul.json"
    # a path that is not beside the scenario stays relative to the working folder
    (elsewhere / "models").mkdir()
    (elsewhere / "models" / "other.json").write_text("{}")
    assert main(["validate", str(folder / "s.yaml"),
                 "--set", "maintenance.policy.model=models/other.json"]) == 0
    assert main(["validate", str(folder / "s.yaml"),
                 "--set", "maintenance.policy.model=models/none.json"]) == 2
    assert "no saved model at 'models/none.json'" in capsys.readouterr().err
