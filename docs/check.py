"""The docs check: every output quoted in the docs is made by a command, and stays true.

Each quoted output is a file ``docs/outputs/NAME.txt``: the command (``$ twin ...``) and what
it printed, which the pages include (``--8<-- "outputs/NAME.txt"``). This script runs the
commands again and compares: the words must be the same, and every number must agree with the
quoted one within the output's stated precision (``rel``: relative, of the larger of the two;
0 means exactly). Paths under ``results/`` are written to a temporary folder and printed back
as ``results/...``.

    python docs/check.py             # the quick outputs; exit 1 naming those that differ
    python docs/check.py --all       # the slow ones too
    python docs/check.py --update    # write the files anew from the commands (add --all)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import re
import shlex
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ROOT / "docs" / "outputs"


@dataclass(frozen=True)
class Output:
    name: str
    command: str
    """What the reader types, from the repository's root folder."""
    rel: float
    """The stated precision: numbers may differ by this share of the larger (0: exactly)."""
    quick: bool = True
    """Checked by default (and by the tests); the slow ones with ``--all``."""


QUOTED = (
    Output("validate-two-station", "twin validate scenarios/two-station.yaml", 0.0),
    Output("run-two-station", "twin run scenarios/two-station.yaml --out results/first-plant",
           1e-3),
    Output("run-two-station-buffer",
           "twin run scenarios/two-station.yaml --set plant.nodes.B1.capacity=10 "
           "--out results/first-plant-b10", 1e-3),
    Output("compare-two-station",
           "twin compare scenarios/two-station.yaml --out results/first-compare", 1e-3,
           quick=False),
    Output("validate-mistake", "twin validate scenarios/two-station.yaml "
           "--set plant.nodes.B1.capacity=two --set plant.nodes.M1.proces_time=1", 0.0),
    Output("run-supply-chain-bad-r",
           "twin run scenarios/supply-chain.yaml --set plant.nodes.raw-store.policy.r=-5", 0.0),
    Output("run-assembly", "twin run scenarios/assembly.yaml --out results/assembly", 1e-3,
           quick=False),
    Output("compare-cell-orders",
           "twin compare scenarios/cell-orders.yaml --rank-by tardiness "
           "--kpis throughput,lead_time,tardiness,late_share,makespan --out results/cell-orders",
           1e-3, quick=False),
    Output("sweep-supply-chain",
           "twin sweep scenarios/supply-chain.yaml "
           "--param plant.nodes.foundry-south.lead_time.mean --values 24,48,96 "
           "--param plant.nodes.raw-store.policy.r --values 40,80,120 --rank-by profit_rate "
           "--kpis fill_rate,backorders,inventory,order_lead_time,supply_chain_cost_rate "
           "--out results/supply-sweep", 1e-3, quick=False),
    Output("compare-wear", "twin compare scenarios/wear.yaml --out results/wear-compare", 1e-3,
           quick=False),
    Output("validate-conveyor-speed",
           "twin validate scenarios/conveyor-line.yaml --set plant.nodes.belt.speed=0", 0.0),
    Output("run-conveyor-line",
           "twin run scenarios/conveyor-line.yaml --out results/conveyor-line", 1e-3,
           quick=False),
    Output("sweep-conveyor-belt",
           "twin sweep scenarios/conveyor-line.yaml --param plant.nodes.belt.accumulating "
           "--values false,true --rank-by lead_time --kpis throughput,lead_time,wip "
           "--out results/conveyor-sweep", 1e-3, quick=False),
    Output("sweep-agv-fleet",
           "twin sweep scenarios/agv-cell.yaml --param transport.fleets.agv.size "
           "--values 1,2,3,4 --rank-by profit_rate "
           "--kpis throughput,lead_time,vehicle_utilization,vehicle_wait,cost_rate "
           "--out results/agv-sweep", 1e-3, quick=False),
)
"""Every output the docs quote."""

PROGRESS = re.compile(r": \d+/\d+ done, .* elapsed")
"""The progress lines a long command prints on stderr, which depend on the machine's speed."""
NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")


def run(command: str, tmp: Path) -> str:
    """What ``command`` prints (stdout and stderr), run in-process from the repository root,
    its ``results/`` paths in ``tmp``."""
    from twin.cli import main

    argv = shlex.split(command)
    assert argv[0] == "twin", command
    args = [str(tmp / a) if a.startswith("results/") else a for a in argv[1:]]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(ROOT), contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        code = main(args)
    text = out.getvalue() + err.getvalue()
    text = text.replace(f"{tmp}/", "")
    lines = [line.rstrip() for line in text.splitlines() if not PROGRESS.search(line)]
    return "\n".join([f"$ {command}", *lines, *([f"(exit status {code})"] if code else [])])


def differences(quoted: str, fresh: str, rel: float) -> list[str]:
    """Where ``fresh`` departs from ``quoted``: other words, or numbers beyond ``rel``."""
    problems = []
    old_lines, new_lines = quoted.strip().splitlines(), fresh.strip().splitlines()
    if len(old_lines) != len(new_lines):
        problems.append(f"{len(old_lines)} lines quoted, {len(new_lines)} printed")
    for i, (old, new) in enumerate(zip(old_lines, new_lines, strict=False), start=1):
        if NUMBER.sub("#", old).split() != NUMBER.sub("#", new).split():
            problems.append(f"line {i}: quoted {old.strip()!r}, printed {new.strip()!r}")
            continue
        for a, b in zip(NUMBER.findall(old), NUMBER.findall(new), strict=True):
            x, y = float(a.replace(",", "")), float(b.replace(",", ""))
            if not math.isclose(x, y, rel_tol=rel, abs_tol=0.0) and a != b:
                problems.append(f"line {i}: quoted {a}, printed {b} (precision {rel:g})")
    return problems


def check(outputs: tuple[Output, ...], update: bool = False) -> dict[str, list[str]]:
    """Run each output's command; write it (``update``) or compare it with the quoted file.
    Returns the problems by output name (empty when all agree)."""
    found: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for output in outputs:
            fresh = run(output.command, Path(tmp))
            path = OUTPUTS / f"{output.name}.txt"
            if update:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(fresh + "\n")
                continue
            quoted = path.read_text() if path.exists() else ""
            problems = differences(quoted, fresh, output.rel)
            if problems:
                found[output.name] = problems
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", action="store_true", help="the slow outputs too")
    parser.add_argument("--update", action="store_true", help="rewrite the quoted files")
    parser.add_argument("names", nargs="*", help="only these outputs")
    args = parser.parse_args(argv)
    chosen = tuple(o for o in QUOTED if (args.all or o.quick or o.name in args.names)
                   and (not args.names or o.name in args.names))
    found = check(chosen, update=args.update)
    for name, problems in found.items():
        print(f"docs/outputs/{name}.txt differs from its command:", *problems, sep="\n  ")
    if not found:
        print(f"{'written' if args.update else 'ok'}: "
              f"{', '.join(o.name for o in chosen)}")
    return 1 if found else 0


if __name__ == "__main__":
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    sys.exit(main())
