"""Files and output paths a user (or an attacker) names: devices, pipes and huge files are
refused with exit status 2 before anything is read; messages about other files quote where,
never what they hold; every output path mistake exits 2 with nothing created."""

from __future__ import annotations

import math
import os
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from twin.cli import main
from twin.errors import InputError
from twin.records.inputfiles import check_input_file, read_input_text, read_npz

ROOT = Path(__file__).resolve().parents[1]
MM1 = ROOT / "scenarios" / "mm1.yaml"
ORDERS = ROOT / "scenarios" / "cell-orders.yaml"


def tree(folder: Path) -> list[str]:
    """Every path under ``folder``, relative, sorted: what a command created."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: "), err
    return err


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    return path


def finishes(fn: object, seconds: float = 20.0) -> object:
    """Run ``fn`` in a thread; fail if it has not returned within ``seconds`` (a hang)."""
    out: list[object] = []
    thread = threading.Thread(target=lambda: out.append(fn()), daemon=True)  # type: ignore
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "hung"
    return out[0]


# --------------------------------------------------------------------------- devices and pipes

def test_dev_zero_and_a_fifo_are_refused_as_scenarios(
        fifo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = exits_2(["validate", "/dev/zero"], capsys)
    assert "/dev/zero: is a character device, not a regular file" in err
    code = finishes(lambda: main(["validate", str(fifo)]))
    assert code == 2
    assert f"{fifo}: is a named pipe (FIFO), not a regular file" in capsys.readouterr().err


def test_an_order_list_that_is_a_device_or_a_pipe_is_refused(
        tmp_path: Path, fifo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for target in ("/dev/zero", str(fifo)):
        scenario = tmp_path / "s.yaml"
        scenario.write_text(ORDERS.read_text().replace("file: cell-orders.csv",
                                                       f"file: {target}"))
        code = finishes(lambda s=scenario: main(["validate", str(s)]))
        assert code == 2
        err = capsys.readouterr().err
        assert "orders.file" in err and "not a regular file" in err, err


SAMPLE = str(ROOT / "scenarios" / "data" / "cmapss-sample.txt")
INPUTS = {  # every file argument: {bad} is /dev/zero or a FIFO
    "train --data": (["train", "--data", "{bad}", "--format", "cmapss", "--predictor",
                      "linear"], "the lives file must be a file"),
    "train --test": (["train", "--data", SAMPLE, "--format", "cmapss", "--predictor", "linear",
                      "--test", "{bad}", "--test-rul", SAMPLE], "the lives file must be a file"),
    "fit LOG": (["fit", "{bad}", "--out", "{tmp}/f.yaml"], "the event log must be a file"),
    "run --state": (["run", str(MM1), "--state", "{bad}", "--out", "{tmp}/r"],
                    "the state file must be a file"),
    "replayed lives": (["validate", str(ROOT / "scenarios" / "fd001.yaml"), "--set",
                        "plant.nodes.engine.degradation.lives={bad}"],
                       "the lives file must be a file"),
}


@pytest.mark.parametrize("case", list(INPUTS))
@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
def test_every_input_file_refuses_devices_and_pipes(
        case: str, kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = "/dev/zero"
    if kind == "fifo":
        bad = str(tmp_path / "pipe")
        os.mkfifo(bad)
    argv, words = INPUTS[case]
    argv = [a.format(bad=bad, tmp=tmp_path) for a in argv]
    before = tree(tmp_path)
    assert finishes(lambda: main(argv)) == 2
    err = capsys.readouterr().err
    assert "not a regular file" in err and words in err and "Traceback" not in err, err
    assert tree(tmp_path) == before


def test_files_over_the_size_limit_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * 2000)
    with pytest.raises(InputError, match=r"big.csv: the lives file is 2,000 bytes, over the "
                                         r"limit of 1,000 bytes for a lives file"):
        check_input_file(big, "lives file", 1000)
    assert check_input_file(big, "lives file", 2000) == 2000
    with pytest.raises(InputError, match="is a folder"):
        read_input_text(tmp_path, "scenario file")


def test_a_scenario_file_over_its_limit_exits_2(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess
    import sys

    big = tmp_path / "big.yaml"
    big.write_text(MM1.read_text() + "#" * 4096 + "\n")
    out = subprocess.run([sys.executable, "-m", "twin.cli", "validate", str(big)],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "TWIN_MAX_SCENARIO_BYTES": "4096"})
    assert out.returncode == 2, out.stderr
    assert "over the limit of 4,096 bytes for a scenario file" in out.stderr


# --------------------------------------------------------------------------- contents unquoted

def test_a_file_that_is_no_scenario_is_not_quoted(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$s3cr3tHASH:20228:0:99999:7:::\n"
                      "daemon:*:20228:0:99999:7:::\n")
    err = exits_2(["validate", str(secret)], capsys)
    assert "s3cr3t" not in err and "daemon" not in err
    assert "not a scenario" in err


def test_a_lives_file_with_secrets_is_refused_by_position(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from twin.records.lives import read_lives, read_rul

    env = tmp_path / "environ"
    env.write_bytes(b"PASSWORD=hunter2\x00HOME=/root\x00")
    with pytest.raises(InputError) as caught:
        read_lives(env)
    assert "hunter2" not in caught.value.render() and "no 'unit' column" in \
        caught.value.render()
    bad = tmp_path / "lives.csv"
    bad.write_text("unit,time,s1\n1,1,0.5\n1,2,token-hunter2\n")
    with pytest.raises(InputError) as caught:
        read_lives(bad)
    text = caught.value.render()
    assert "hunter2" not in text and text == f"{bad}:3: s1: row 2: not a number"
    rul = tmp_path / "rul.txt"
    rul.write_text("12\nhunter2\n")
    with pytest.raises(InputError) as caught:
        read_rul(rul)
    assert caught.value.render() == f"{rul}:2: not a number (one number a line)"


def test_a_scenario_naming_a_secret_as_its_lives_file_does_not_print_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = tmp_path / "environ"
    env.write_bytes(b"AWS_SECRET=hunter2\x00HOME=/root\x00")
    err = exits_2(["validate", str(ROOT / "scenarios" / "fd001.yaml"), "--set",
                   f"plant.nodes.engine.degradation.lives={env}", "--set",
                   "plant.nodes.engine.degradation.format=long"], capsys)
    assert "hunter2" not in err and "AWS_SECRET" not in err
    assert f"{env}: no 'unit' column (it has 1 column)" in err


# --------------------------------------------------------------------------- value count

def test_a_scenario_with_too_many_values_is_refused_at_once(tmp_path: Path) -> None:
    from twin.language.loading import load_scenario

    path = tmp_path / "huge.yaml"
    path.write_text(MM1.read_text() + "description: [" + ",".join(["1"] * 300_000) + "]\n")
    with pytest.raises(InputError) as caught:  # how fast: benchmarks/input_limits.py
        load_scenario(path)
    assert caught.value.render() == (f"{path}: the document holds more than 200,000 values "
                                     "(the limit of a scenario); refusing to load it")


# --------------------------------------------------------------------------- object arrays

def test_an_npz_of_object_arrays_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    np.savez(path, w=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(InputError) as caught:
        read_npz(path)
    assert caught.value.render().startswith(f"{path}: holds object arrays")
    good = tmp_path / "good.npz"
    np.savez(good, w=np.arange(3.0))
    assert read_npz(good)["w"].tolist() == [0.0, 1.0, 2.0]
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(InputError, match="cannot read it as .npz arrays"):
        read_npz(junk)


def test_a_policy_model_with_object_arrays_exits_2_naming_the_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    np.savez(tmp_path / "m.npz", w=np.array([{"a": 1}], dtype=object))
    (tmp_path / "m.json").write_text(json.dumps({"predictor": "linear", "params": {}}))
    policy = (f"{{kind: predictive, model: {tmp_path / 'm.json'}, threshold: 10, every: 5, "
              "duration: 1}")
    err = exits_2(["validate", str(ROOT / "scenarios" / "wear.yaml"), "--set",
                   f"maintenance.policy={policy}"], capsys)
    assert f"maintenance.policy.model: {tmp_path / 'm.npz'}: holds object arrays" in err


# --------------------------------------------------------------------------- output paths

TWO = str(ROOT / "scenarios" / "two-station.yaml")
QUICK = ["--horizon", "3000", "--replications", "2", "--workers", "1"]


def _log(folder: Path) -> str:
    from tests.test_fit import machine_log

    frame, _ = machine_log(2, lives=20)
    path = folder / "log.csv"
    frame.to_csv(path, index=False)
    return str(path)


PATH_MISTAKES = {
    "out under a file": (["run", TWO, "--out", "{file}/x", *QUICK],
                         "is a file, so nothing can be created under it"),
    "out on /proc": (["run", TWO, "--out", "/proc/twin-results", *QUICK],
                     "/proc is on the system's proc file system"),
    "out is a file": (["compare", TWO, "--out", "{file}", *QUICK], "this is a file, not a folder"),
    "save-state is a folder": (["run", TWO, "--save-state", "{dir}", *QUICK],
                               "--save-state {dir}: this is a folder"),
    "save-state under a file": (["run", TWO, "--save-state", "{file}/s.yaml", *QUICK],
                                "is a file, so nothing can be created under it"),
    "fit out is a folder": (["fit", "{log}", "--out", "{dir}"], "--out {dir}: this is a folder"),
    "fit report under a file": (["fit", "{log}", "--report", "{file}/r.html"],
                                "--report {file}/r.html"),
    "fit out on /proc": (["fit", "{log}", "--out", "/proc/fitted.yaml"], "proc file system"),
    "live out under a file": (["live", TWO, "--broker", "mqtt://127.0.0.1:1", "--out",
                               "{file}/live"], "is a file, so nothing can be created"),
    "emulate save-state is a folder": (["emulate", TWO, "--broker", "mqtt://127.0.0.1:1",
                                        "--save-state", "{dir}"], "this is a folder"),
    "train out under a file": (["train", TWO, "--predictor", "threshold", "--out",
                                "{file}/m", *QUICK[:4]], "is a file"),
    "compare without policies": (["compare", str(MM1), *QUICK],
                                 "the scenario has no policies to compare"),
    "optimize one replication": (["optimize", TWO, "--param", "plant.nodes.B1.capacity",
                                  "--range", "1:5:int", "--objective", "throughput",
                                  "--horizon", "3000", "--replications", "1"],
                                 "optimize needs at least 2 replications"),
    "optimize misspelt objective": (["optimize", TWO, "--param", "plant.nodes.B1.capacity",
                                     "--range", "1:5:int", "--objective", "trhoughput", *QUICK],
                                    "did you mean 'throughput'"),
}


@pytest.mark.parametrize("case", list(PATH_MISTAKES))
def test_every_path_mistake_exits_2_with_nothing_created(
        case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # the default results/ folder would be made here
    data = tmp_path / "data"
    data.mkdir()
    (data / "plain").write_text("a file\n")
    (data / "folder").mkdir()
    names = {"file": str(data / "plain"), "dir": str(data / "folder"),
             "log": _log(data) if case.startswith("fit") else ""}
    argv, words = PATH_MISTAKES[case]
    argv = [a.format(**names) for a in argv]
    before = tree(tmp_path)
    err = exits_2(argv, capsys)
    assert words.format(**names) in err, err
    assert tree(tmp_path) == before
    assert not Path("/proc/twin-results").exists()


def test_a_failed_command_leaves_latest_where_it_was(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", TWO, *QUICK]) == 0
    latest = tmp_path / "results" / "two-station-line" / "latest"
    target = os.readlink(latest)
    before = tree(tmp_path)
    capsys.readouterr()
    # the sweep finds its ranking KPI wrong once it has its folder: the folder goes again
    err = exits_2(["sweep", TWO, "--param", "plant.nodes.B1.capacity", "--values", "1,2",
                   "--rank-by", "fill_rate", *QUICK], capsys)
    assert "fill_rate is a supply-chain KPI" in err
    assert tree(tmp_path) == before
    assert os.readlink(latest) == target


def test_a_new_default_folder_is_undone_only_while_empty(tmp_path: Path) -> None:
    from twin.records.output import discard_new_folder, new_default_folder

    root = tmp_path / "results"
    made = new_default_folder("line", root)
    assert os.readlink(root / "line" / "latest") == made.out.name
    assert discard_new_folder(made) and tree(tmp_path) == []  # results/ too: it made it
    first = new_default_folder("line", root)
    (first.out / "summary.json").write_text("{}")
    second = new_default_folder("line", root)
    assert second.out != first.out and os.readlink(root / "line" / "latest") == second.out.name
    assert discard_new_folder(second)
    assert os.readlink(root / "line" / "latest") == first.out.name
    assert not discard_new_folder(first)  # it holds a result: kept
    assert (first.out / "summary.json").exists()


def test_an_unreachable_scheduler_creates_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    err = exits_2(["compare", TWO, "--executor", "dask", "--scheduler", "tcp://127.0.0.1:1",
                   *QUICK[:4]], capsys)
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in err
    assert tree(tmp_path) == []


def test_scenario_names_that_are_no_folder_or_topic_are_refused(
        capsys: pytest.CaptureFixture[str]) -> None:
    import json

    for name in ("..", ".", "+", "#", "a/b", "a\\b", "x" * 101, " padded", "tab\there"):
        err = exits_2(["validate", str(MM1), "--set", f"name={json.dumps(name)}"], capsys)
        assert "names the results folder and the plant's MQTT topics" in err, name
    for name in ("mm1", "line-2.v3", "A_b", "Bracket line (v2)", ".hidden"):
        assert main(["validate", str(MM1), "--set", f"name={json.dumps(name)}"]) == 0, name
    capsys.readouterr()


def test_a_horizon_set_on_the_command_line_is_not_blamed_on_the_file(
        capsys: pytest.CaptureFixture[str]) -> None:
    err = exits_2(["validate", str(MM1), "--set", "horizon=1000"], capsys)
    assert "warmup (2000) must be less than horizon (1000) (horizon set on the command line)" \
        in err


# --------------------------------------------------------------------------- small CLI items

def test_negative_values_and_ranges_need_no_equals_sign(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # parsed as values: the scenario refuses them, not argparse
    err = exits_2(["sweep", str(MM1), "--param", "plant.nodes.M1.process_time.mean",
                   "--values", "-2,1", "--out", str(tmp_path / "s"), *QUICK], capsys)
    assert "process_time.mean=-2" in err and "expected one argument" not in err
    err = exits_2(["optimize", str(MM1), "--param", "seed", "--range", "-20:160:int",
                   "--objective", "throughput", "--out", str(tmp_path / "o"), *QUICK], capsys)
    assert "seed=-20" in err and "expected one argument" not in err
    assert tree(tmp_path) == []


def test_a_misspelt_kpi_gets_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    err = exits_2(["compare", TWO, "--kpis", "thruput,wip"], capsys)
    assert "unknown KPI 'thruput'; did you mean 'throughput'?" in err


def test_counts_are_in_the_singular_for_one(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    one = tmp_path / "one.yaml"
    one.write_text(MM1.read_text() + "policies:\n  only: {}\n")
    assert main(["validate", str(one)]) == 0
    assert capsys.readouterr().out.strip().endswith("2 edges, 1 policy")


def test_a_cmapss_file_read_as_long_suggests_the_format(tmp_path: Path) -> None:
    from twin.records.lives import read_lives

    path = tmp_path / "train_FD001.txt"
    rows = [" ".join(["1", str(c)] + ["0.5"] * 24) + " " for c in range(1, 4)]
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(InputError, match="give --format cmapss"):
        read_lives(path)
    assert len(read_lives(path, "cmapss").frame) == 3


def test_emulate_reports_its_progress(tmp_path: Path) -> None:
    import subprocess
    import sys

    from twin.live.broker import Broker, mosquitto

    if mosquitto() is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    with Broker(tmp_path) as broker:
        out = subprocess.run(
            [sys.executable, "-m", "twin.cli", "emulate", TWO, "--broker",
             f"mqtt://127.0.0.1:{broker.port}", "--speed", "2000", "--until", "100"],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
            env={**os.environ, "TWIN_PROGRESS_EVERY": "0.02"})
    assert out.returncode == 0, out.stderr
    assert "two-station-line: plant time: " in out.stderr and "/100 done" in out.stderr


# --------------------------------------------------------------------------- the C-MAPSS sample

def test_the_shipped_cmapss_sample_is_its_generators_and_reads_as_cmapss() -> None:
    import importlib.util

    from twin.records.lives import CMAPSS_COLUMNS, read_lives

    folder = ROOT / "scenarios" / "data"
    spec = importlib.util.spec_from_file_location("make_sample", folder / "make_cmapss_sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = folder / "cmapss-sample.txt"
    assert path.read_text() == module.sample()
    lives = read_lives(path, "cmapss")
    assert lives.units == list(range(1, 9)) and all(lives.failed.values())
    assert lives.sensors == CMAPSS_COLUMNS[5:]
    sizes = lives.frame.groupby("unit").size()
    assert sizes.min() >= 80 and sizes.max() <= 150


# --------------------------------------------------------------------------- run time estimate

def test_a_huge_horizon_gets_a_run_time_estimate_and_a_short_one_none() -> None:
    from twin.language.loading import load_scenario
    from twin.study.estimate import duration_text, estimate_run_time, run_time_note

    huge = load_scenario(TWO, [("horizon", 1e12)])
    est = estimate_run_time(huge, 5, 2, budget=0.1)
    assert 0 < est.plant_time < 1e12 and est.wall >= 0.1
    # the scaling: per replication wall * horizon / plant time, 5 replications on 2 workers
    assert est.seconds == pytest.approx(est.wall * 1e12 / est.plant_time * 3)
    note = run_time_note(huge, 5, 2, budget=0.1)
    assert note is not None and note.startswith("note: expected run time about ")
    assert re.search(r"about [\d,.]+ (days|years) \(5 replications of horizon 1e\+12 min on 2 "
                     r"workers; a pilot simulated", note), note
    short = load_scenario(TWO, [("horizon", 3000)])
    assert run_time_note(short, 5, 2) is None
    assert estimate_run_time(short, 5, 2).plant_time == 3000
    assert [duration_text(s) for s in (59.6, 3725, 86400 * 3, 86400 * 365.25 * 2, math.inf)] \
        == ["0:01:00", "1:02:05", "3.0 days", "2.0 years", "for ever"]


# --------------------------------------------------------------------------- report charts

def _chrome(javascript: bool) -> object:
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not (chromium and driver_path):
        missing = "chromium" if not chromium else "chromium-driver (chromedriver)"
        pytest.skip(f"headless Chromium: {missing} is not installed (apt-get install chromium "
                    "chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--window-size=1280,2000"):
        options.add_argument(flag)
    if not javascript:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2})
    return webdriver.Chrome(service=Service(driver_path), options=options)


def test_report_charts_have_a_note_until_drawn_and_where_scripts_do_not_run(
        tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    assert main(["compare", TWO, "--out", str(tmp_path / "c"), *QUICK]) == 0
    report = tmp_path / "c" / "report.html"
    text = report.read_text()
    charts = text.count('<div class="chart">')
    assert charts >= 2 and text.count('class="chart-note"') == charts
    driver = _chrome(javascript=False)
    try:
        driver.get(report.as_uri())  # type: ignore[attr-defined]
        notes = driver.find_elements(By.CSS_SELECTOR, ".chart-note")  # type: ignore[attr-defined]
        assert len(notes) == charts and all(n.is_displayed() for n in notes)
        assert "the numbers are in the tables" in notes[0].text
    finally:
        driver.quit()  # type: ignore[attr-defined]
    driver = _chrome(javascript=True)
    try:
        driver.get(report.as_uri())  # type: ignore[attr-defined]
        state = WebDriverWait(driver, 60).until(  # type: ignore[arg-type]
            lambda d: d.execute_script("return document.body.dataset.plots"))
        assert state == "ready"
        drawn = driver.find_elements(By.CSS_SELECTOR, ".chart.drawn")  # type: ignore[attr-defined]
        assert len(drawn) == charts
        notes = driver.find_elements(By.CSS_SELECTOR, ".chart-note")  # type: ignore[attr-defined]
        assert not any(n.is_displayed() for n in notes)
    finally:
        driver.quit()  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- documentation

def test_energy_the_sample_and_the_checks_are_documented() -> None:
    docs = ROOT / "docs" / "how-to"
    readme = (docs / "scenarios.md").read_text()
    for words in ("/dev/zero", "200,000", "TWIN_MAX_SCENARIO_BYTES",
                  "`latest` where", "--values -2,1"):
        assert words in readme, words
    sensors = (docs / "real-sensor-data.md").read_text()
    assert "scenarios/data/cmapss-sample.txt" in sensors and "CMAPSSData.zip" in sensors
    assert "-rs" in (ROOT / "README.md").read_text()
    for words in ("`power` (kW drawn in each state)", "`energy_per_part` KPI",
                  "`costs.energy` per kWh", "`energy.co2_per_kwh`",
                  "`energy.hours_per_time_unit`"):
        assert words in readme, words
