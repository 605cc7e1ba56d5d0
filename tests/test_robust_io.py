"""Files and output paths a user (or an attacker) names: devices, pipes and huge files are
refused with exit status 2 before anything is read; messages about other files quote where,
never what they hold; every output path mistake exits 2 with nothing created."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from twin.cli import main
from twin.errors import InputError
from twin.inputfiles import check_input_file, read_input_text, read_npz

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
    from twin.ml.lives import read_lives, read_rul

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


# --------------------------------------------------------------------------- value count

def test_a_scenario_with_too_many_values_is_refused_at_once(tmp_path: Path) -> None:
    from twin.language.loading import load_scenario

    path = tmp_path / "huge.yaml"
    path.write_text(MM1.read_text() + "description: [" + ",".join(["1"] * 300_000) + "]\n")
    started = time.monotonic()
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert caught.value.render() == (f"{path}: the document holds more than 200,000 values "
                                     "(the limit of a scenario); refusing to load it")
    assert time.monotonic() - started < 30  # not minutes (the speed itself: benchmarks/)


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
