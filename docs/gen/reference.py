"""The reference pages, generated from the code when the site is built (mkdocs-gen-files).

Nothing here is typed twice: the scenario fields come from the JSON Schema of the pydantic
models (``twin.language.jsonschema``), the commands and options from the argparse parser
(``twin.cli.build_parser``), the KPIs from the KPI table (``twin.kpis``), the MQTT topics and
the event log from their modules' docstrings, and summary.json and the output files from a
short run of a bundled scenario made while the site builds. Change a field's docstring and the
next build shows it.

Run by itself (``python docs/gen/reference.py DIR``) it writes the pages into DIR.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the twin of this checkout, whatever the current folder
    sys.path.insert(0, str(ROOT))

# --------------------------------------------------------------------------- scenario fields


def _cell(text: str) -> str:
    """Text for a table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _anchor(name: str) -> str:
    return name.strip("_").lower().replace("_", "-")


def _title(name: str) -> str:
    return {"_EdgeModel": "Edge"}.get(name, name)


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def type_text(schema: dict[str, Any]) -> str:
    """A field's type in words, with links to the models it names."""
    if "$ref" in schema:
        name = _ref_name(schema["$ref"])
        return f"[{_title(name)}](#{_anchor(name)})"
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            parts = [type_text(s) for s in schema[key]]
            if "discriminator" in schema:
                tag = schema["discriminator"]["propertyName"]
                if tag == "dist":
                    return "[distribution](#distributions)"
                return f"by `{tag}`: " + ", ".join(parts)
            return " or ".join(dict.fromkeys(parts))
    kind = schema.get("type")
    if kind == "array":
        if "prefixItems" in schema:
            return "[" + ", ".join(type_text(s) for s in schema["prefixItems"]) + "]"
        return "list of " + type_text(schema.get("items", {}))
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            return "map of name to " + type_text(extra)
        return "mapping"
    if kind is None:
        return "any"
    return {"number": "number", "integer": "integer", "string": "text", "boolean": "true/false",
            "null": "null"}.get(kind, str(kind))


def range_text(schema: dict[str, Any]) -> str:
    """The bounds a field's value must keep, read from the schema and its alternatives."""
    bounds = []
    for branch in [schema, *schema.get("anyOf", [])]:
        for key, sign in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="),
                          ("exclusiveMaximum", "<")):
            if key in branch:
                bounds.append(f"{sign} {branch[key]:g}")
        for key, what in (("minItems", "items"), ("minProperties", "entries"),
                          ("minLength", "characters")):
            if key in branch:
                bounds.append(f"at least {branch[key]} {what}")
    return ", ".join(dict.fromkeys(bounds))


def default_text(schema: dict[str, Any], required: bool) -> str:
    if required:
        return "required"
    if "default" not in schema:
        return ""
    value = schema["default"]
    if isinstance(value, dict | list) and len(json.dumps(value)) > 40:
        return "see the model"
    return f"`{json.dumps(value)}`"


def _model_order(schema: dict[str, Any]) -> list[str]:
    """The models in the order a reader meets them: from the top of a file down, breadth
    first."""
    defs = schema["$defs"]
    seen: list[str] = []

    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if "$ref" in node:
                yield _ref_name(node["$ref"])
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    queue = list(refs(schema.get("properties", {})))
    while queue:
        name = queue.pop(0)
        if name in seen or name not in defs:
            continue
        seen.append(name)
        queue.extend(refs(defs[name]))
    return seen + sorted(set(defs) - set(seen))


def _is_distribution(model: dict[str, Any]) -> bool:
    return "const" in model.get("properties", {}).get("dist", {})


def model_section(name: str, model: dict[str, Any], level: int = 2) -> str:
    lines = [f"{'#' * level} {_title(name)} {{#{_anchor(name)}}}", ""]
    if model.get("description"):
        lines += [model["description"], ""]
    required = set(model.get("required", []))
    lines += ["| field | type | default | range | description |",
              "| --- | --- | --- | --- | --- |"]
    for field, sub in model.get("properties", {}).items():
        lines.append(f"| `{field}` | {_cell(type_text(sub))} | "
                     f"{_cell(default_text(sub, field in required))} | "
                     f"{_cell(range_text(sub))} | {_cell(sub.get('description', ''))} |")
    return "\n".join(lines) + "\n"


def scenario_page(schema: dict[str, Any] | None = None) -> str:
    """Every field of a scenario file: type, default, range and description."""
    if schema is None:
        from twin.language.jsonschema import scenario_json_schema

        schema = scenario_json_schema()
    top = {k: v for k, v in schema.items() if k != "$defs"}
    out = [
        "# Scenario files",
        "",
        "Generated from the scenario language's pydantic models (`twin schema` prints the same "
        "as JSON Schema). Every model refuses fields it does not name. A distribution field "
        "also takes a bare number (a constant), and an edge `[from, to]` or "
        "`[from, to, p]`. The plant graph's own checks (a source and a sink, every node "
        "reached, probabilities summing to 1) are in [Scenario files](../how-to/scenarios.md).",
        "",
        model_section("Scenario", top),
    ]
    order = _model_order(schema)
    laws = [n for n in order if _is_distribution(schema["$defs"][n])]
    out += [model_section(name, schema["$defs"][name]) for name in order if name not in laws]
    out += ["## Distributions {#distributions}", "",
            "A distribution field is a mapping whose `dist` names the law (plug-ins add "
            "theirs), or a bare number, which means `{dist: constant, value: number}`.", ""]
    out += [model_section(name, schema["$defs"][name], level=3) for name in laws]
    return "\n".join(out)


# --------------------------------------------------------------------------- commands


def _option_row(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if action.option_strings:
        name = ", ".join(f"`{s}`" for s in action.option_strings)
    else:
        name = f"`{action.metavar or action.dest}`"
    if action.nargs == 0:
        argument = ""
    elif action.choices:
        argument = " \\| ".join(f"`{c}`" for c in action.choices)
    else:
        argument = f"`{action.metavar or action.dest.upper()}`"
    default = action.default
    shown = "" if default in (None, False, [], argparse.SUPPRESS) else f"`{default}`"
    help_text = parser._get_formatter()._expand_help(action) if action.help else ""
    repeat = " (repeatable)" if isinstance(action, argparse._AppendAction) and \
        "repeatable" not in help_text else ""
    return f"| {name} | {argument} | {_cell(shown)} | {_cell(help_text + repeat)} |"


def cli_page() -> str:
    """Every command and option of ``twin``, from its argparse parser."""
    from twin.options import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help for a in sub._choices_actions}
    out = ["# Commands", "",
           "Generated from the argparse parser of `twin` (`twin.cli.build_parser`). Exit "
           "status: 0 success; 2 invalid input (scenario file, `--set`, arguments), with the "
           "file, the field path and the line, never a traceback; 1 anything else.", ""]
    out += ["| command | what it does |", "| --- | --- |"]
    out += [f"| [`twin {name}`](#twin-{name}) | {_cell(helps.get(name) or '')} |"
            for name in sub.choices]
    for name, command in sub.choices.items():
        usage = " ".join(command.format_usage().split())
        out += ["", f"## twin {name} {{#twin-{name}}}", "", _cell(helps.get(name) or ""), "",
                "```text", usage.removeprefix("usage: "), "```", "",
                "| argument | value | default | what it does |", "| --- | --- | --- | --- |"]
        out += [_option_row(command, a) for a in command._actions
                if not isinstance(a, argparse._HelpAction)]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- KPIs


def _bounds(low: float | None, high: float | None) -> str:
    left = "-inf" if low is None else f"{low:g}"
    right = "+inf" if high is None else f"{high:g}"
    return f"[{left}, {right}]"


def kpi_page() -> str:
    """The KPI table and the per-machine statistics, from ``twin.kpis``."""
    from twin import kpis

    out = ["# KPIs", "",
           "Generated from the KPI table, `twin/kpis.py`, which the summaries, tables, "
           "reports, `--rank-by`, `--kpis` and `--objective` all read. Every KPI is measured "
           "from `warmup` to `horizon`, one value per replication, then reported as `mean`, "
           "`ci95` (Student t over the replications, clipped to the KPI's range) and "
           "`values`. `{unit}` is the scenario's `time_unit`.", "",
           "| KPI | label | unit | better | range | measured in | description |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    scopes = {"line": "every plant", "supply": "supply chains", "orders": "plants with orders",
              "energy": "plants with powered machines"}
    for k in kpis.KPI_TABLE:
        out.append(f"| `{k.name}` | {_cell(k.label)} | {_cell(k.unit) or '-'} | {k.better} | "
                   f"{_bounds(k.low, k.high)} | {scopes.get(k.scope, k.scope)} | "
                   f"{_cell(k.description)} |")
    out += ["", "## Per machine", "", "summary.json's `machines` section, one entry per "
            "machine (`machines.parquet`: one row per replication and machine).", "",
            "| statistic | kind | range | description |", "| --- | --- | --- | --- |"]
    for s in kpis.MACHINE_TABLE:
        out.append(f"| `{s.name}` | {s.kind} | {_bounds(*s.range)} | {_cell(s.description)} |")
    out += ["", "## Per time bucket", "", "With `--buckets WIDTH` (`twin run`, `twin live`): "
            + ", ".join(f"`{b}`" for b in kpis.BUCKET_KPIS) + ". "
            + _cell(inspect.cleandoc(_attribute_doc(kpis, "BUCKET_KPIS"))), ""]
    return "\n".join(out)


def _attribute_doc(module: Any, name: str) -> str:
    """The docstring written under a module-level name."""
    import ast

    tree = ast.parse(Path(module.__file__).read_text())
    for node, after in zip(tree.body, tree.body[1:], strict=False):
        targets = [node.target] if isinstance(node, ast.AnnAssign) else \
            getattr(node, "targets", [])
        if any(isinstance(t, ast.Name) and t.id == name for t in targets) and \
                isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
            return str(after.value.value)
    return ""


# --------------------------------------------------------------------------- live, events


def _markdown(docstring: str) -> str:
    """A module docstring as Markdown: reST's double backticks read as code already; lines
    ending in ``::`` open a code block."""
    return inspect.cleandoc(docstring).replace("::\n", ":\n")


def mqtt_page() -> str:
    """The live twin's topics and payloads, from ``twin.live.schema``."""
    from twin.engine import stations
    from twin.live import schema

    return "\n".join([
        "# MQTT topics", "",
        f"Generated from `twin/live/schema.py` (payload version {schema.VERSION}, topic root "
        f"`{schema.ROOT}`).", "", _markdown(schema.__doc__ or ""), "",
        "## Machine states", "",
        ", ".join(f"`{s}`" for s in stations.STATES) + ". "
        + _cell(inspect.cleandoc(_attribute_doc(stations, "STATES"))), "",
        "The events are those of the [event log](event-log.md).", ""])


def event_log_page() -> str:
    from twin.records import events

    return "\n".join(["# Event log", "",
                      "Generated from `twin/records/events.py`: what `twin run --events` writes "
                      "(`events.parquet`), what `twin fit` reads and what the plant publishes on "
                      "its `events` topic.", "",
                      "Columns: " + ", ".join(f"`{c}`" for c in events.COLUMNS) + ".", "",
                      _markdown(events.__doc__ or ""), ""])


# --------------------------------------------------------------------------- outputs

FILES = {
    "summary.json": "every KPI and statistic as `{mean, ci95, values}` (below)",
    "replications.parquet": "one row per replication: the line KPIs and the cost rates by cause",
    "machines.parquet": "one row per replication and machine: fractions of time by state, "
                        "counts, OEE",
    "timeline.parquet": "with `--timeline`: `replication, machine, time, state`; a state holds "
                        "until the next row",
    "events": "with `--events`: each replication's event log, written as it ran "
              "(`replication-NNNN.parquet`)",
    "events.parquet": "with `--events`: the [event log](event-log.md), one row per event",
    "scenario.yaml": "the scenario as run, overrides applied, defaults filled in",
    "report.html": "one self-contained page (opens offline): KPI table, time by state per "
                   "machine, bottleneck view, costs",
    "study.json": "the study the folder holds (a folder of another study is refused)",
    "runs": "each finished replication, for resuming an interrupted command",
    "sensors": "with machines that have sensors: `sensors/machine=<name>/replication-NNNN."
               "parquet`, one row per reading",
    "inventory.parquet": "with warehouses: on-hand and backordered units over time",
    "orders.parquet": "with products: one row per order and replication",
}
"""What `twin run` writes; a file the run writes that is not named here fails the build."""

SECTIONS = {
    "scenario": "the scenario's name", "seed": "the root seed",
    "replications": "replications run", "horizon": "simulated time of one replication",
    "warmup": "statistics start here", "time_unit": "the scenario's time unit",
    "kpis": "every KPI of the [KPI table](kpis.md) the plant measures",
    "machines": "per machine, every [machine statistic](kpis.md#per-machine)",
    "buffers": "per buffer, its contents over time",
    "costs": "the cost rate by cause, per time unit",
    "warnings": "what the run noticed (a deadlock, say), as text",
    "predictor": "a predictive policy's online metrics per replication",
    "warehouses": "supply chains: per warehouse", "customers": "supply chains: per customer",
    "suppliers": "supply chains: per supplier", "products": "per product",
    "learning": "a learning predictive policy's updates and cost per period",
    "nodes": "plug-in node kinds' own statistics", "failure_modes": "per failure mode",
    "energy": "powered machines' energy", "operators": "per operator pool",
    "fleets": "per fleet of vehicles: its size (`vehicles`), parts `carried` and their "
              "`throughput`, `utilization`, the share of vehicle time in each state "
              "(STATES), the mean and longest `wait` for a vehicle, the calls `waiting` "
              "(mean, peak), the distance driven loaded and empty per time unit, `failures`",
    "buckets": "with `--buckets`: the KPIs per time bucket",
}
"""summary.json's top-level keys; a key the run writes, or a section of the typed summary
(``twin.study.results.Summary``), that is not named here fails the build."""


def _sections() -> dict[str, str]:
    """``SECTIONS``, the vehicles' states filled in from the code."""
    from twin.handling.transport import STATES

    states = ", ".join(f"`{s}`" for s in STATES)
    return {k: v.replace("STATES", states) for k, v in SECTIONS.items()}


def _run_example(out: Path) -> dict[str, Any]:
    import contextlib
    import io

    from twin.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["run", str(ROOT / "scenarios" / "wear.yaml"), "--out", str(out),
                     "--replications", "2", "--horizon", "3000", "--workers", "1",
                     "--timeline", "--events"])
    if code != 0:
        raise RuntimeError(f"the example run failed (exit {code})")
    return json.loads((out / "summary.json").read_text())


def _shape(value: Any) -> str:
    if isinstance(value, dict) and set(value) >= {"mean", "ci95", "values"}:
        return "statistic"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def outputs_page() -> str:
    """The files `twin run` writes and summary.json's keys, read off a real run."""
    with tempfile.TemporaryDirectory() as tmp:
        summary = _run_example(Path(tmp) / "run")
        written = sorted(p.name for p in (Path(tmp) / "run").iterdir()
                         if not p.name.startswith("."))
    from twin.study.results import Summary

    sections = _sections()
    unknown = [f for f in written if f not in FILES] + [k for k in summary if k not in SECTIONS]
    unknown += [k for k in Summary.model_fields if k not in SECTIONS and k not in unknown]
    if unknown:
        raise RuntimeError(f"describe these in docs/gen/reference.py: {', '.join(unknown)}")
    out = ["# Output files and summary.json", "",
           "Generated from a run made while the site was built: `twin run scenarios/wear.yaml "
           "--replications 2 --horizon 3000 --timeline --events`. Every file is written "
           "atomically (a reader never sees half a file). Default folder: "
           "`results/<scenario name>/<UTC timestamp>/`, with a `latest` link beside it.", "",
           "| file | content |", "| --- | --- |"]
    out += [f"| `{name}` | {_cell(text)} |" for name, text in FILES.items()]
    out += ["", "## summary.json", "",
            "A *statistic* is `{\"mean\", \"ci95\", \"values\"}`: the mean over replications, "
            "its Student-t 95% interval (clipped to the quantity's range) and one value per "
            "replication; a value that is not defined is null.", "",
            "| key | in the example run | content |", "| --- | --- | --- |"]
    for key, text in sections.items():
        if key in summary:
            value = summary[key]
            seen = _shape(value)
            if isinstance(value, dict) and value and seen == "object":
                inner = next(iter(value.values()))
                names = ", ".join(f"`{k}`" for k in value)
                seen = f"object: {names}" + (f" (each a {_shape(inner)})"
                                             if _shape(inner) == "statistic" else "")
        else:
            seen = "absent here"
        out.append(f"| `{key}` | {_cell(seen)} | {_cell(text)} |")
    example = {k: summary[k] for k in ("scenario", "seed", "replications", "horizon", "warmup",
                                       "time_unit")}
    example["kpis"] = {"throughput": summary["kpis"]["throughput"]}
    out += ["", "The head of the example's summary.json:", "", "```json",
            json.dumps(example, indent=2), "```", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------- predictors


def predictors_page() -> str:
    """The built-in predictors and the installed plug-ins: task, hyper-parameters (the keyword
    arguments of ``__init__``, with their defaults) and the class docstring."""
    from twin.ml.registry import available, resolve

    out = ["# Predictors", "",
           "Generated from the predictor registry (`twin.ml.registry`): the names `twin train "
           "--predictor` and a predictive policy's `learn.predictor` take. A predictor turns "
           "windows of sensor readings (shape `(windows, steps, sensors)`) into a remaining "
           "useful life (task `rul`) or a risk (`failure`, `defect`).", "",
           "| name | task | class | hyper-parameters (defaults) | model |",
           "| --- | --- | --- | --- | --- |"]
    for name, where in available().items():
        try:
            cls = resolve(name)
        except Exception as exc:  # noqa: BLE001 - an extra not installed (torch)
            out.append(f"| `{name}` | | `{where}` | | not importable here: "
                       f"{_cell(type(exc).__name__)} |")
            continue
        params = [f"`{p.name}={p.default!r}`" for p in
                  inspect.signature(cls.__init__).parameters.values()
                  if p.name != "self" and p.default is not inspect.Parameter.empty]
        doc = inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0]
        out.append(f"| `{name}` | {getattr(cls, 'task', '')} | `{where}` | "
                   f"{_cell(', '.join(params))} | {_cell(doc)} |")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- API

API = {
    "twin": "The library: load, run, compare, sweep, optimize, train.",
    "twin.language.loading": "Reading and validating scenario files.",
    "twin.language.jsonschema": "The JSON Schema of scenario files.",
    "twin.language.distributions": "The distributions of the scenario language.",
    "twin.study.runner": "A run and its result.",
    "twin.study.variants": "Compare and sweep.",
    "twin.study.optimize": "Optimisation and selection.",
    "twin.ml.predictor": "The predictor seam.",
    "twin.ml.training": "Training predictors.",
    "twin.engine.kinds": "Plug-in node kinds.",
    "twin.engine.policies": "Maintenance and quality policies in the loop.",
    "twin.live": "The emulator and the live twin.",
    "twin.gym": "The Gymnasium environment.",
    "twin.errors": "Errors that reach the user.",
}
"""The modules of the Python API pages, with mkdocstrings."""


def api_page() -> str:
    out = ["# Python API", "",
           "Generated by mkdocstrings from the library's docstrings. The `twin` command is a "
           "thin layer over these functions; a notebook calls them the same way.", ""]
    for module, text in API.items():
        out += [f"## `{module}`", "", text, "", f"::: {module}", "    options:",
                "      show_root_heading: false", ""]
    return "\n".join(out)


PAGES: dict[str, Callable[[], str]] = {
    "reference/scenario.md": scenario_page,
    "reference/cli.md": cli_page,
    "reference/kpis.md": kpi_page,
    "reference/outputs.md": outputs_page,
    "reference/mqtt.md": mqtt_page,
    "reference/event-log.md": event_log_page,
    "reference/predictors.md": predictors_page,
    "reference/api.md": api_page,
}


def write_pages(opener: Callable[..., Any]) -> None:
    for path, page in PAGES.items():
        with opener(path, "w") as f:
            f.write(page())


if __name__ == "__main__":  # by hand: python docs/gen/reference.py DIR
    target = Path(sys.argv[1])

    def _open(path: str, mode: str) -> Any:
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        return open(target / path, mode)

    write_pages(_open)
elif __name__ == "<run_path>":  # inside mkdocs build (mkdocs-gen-files)
    import mkdocs_gen_files

    write_pages(mkdocs_gen_files.open)
