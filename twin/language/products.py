"""Products and production orders in the scenario language.

A product has a route (the machines it visits, in order, along the plant graph's edges, through
the buffers between them), process times per machine (a machine's own ``process_time`` is the
default), a priority (lower first) and, optionally, its own order process: orders every
``interarrival``, each of ``quantity`` parts, due ``due`` after their release. An order list
(CSV or Parquet with columns order, product, quantity, release, due and optionally priority)
releases orders at given times.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from twin.errors import InputError, Loc
from twin.language.base import FilePath, Frozen
from twin.language.distributions import Constant, Distribution
from twin.language.nodes import Defects

if TYPE_CHECKING:
    import pandas as pd

    from twin.language.schema import Scenario


class Product(Frozen):
    """A product: the route of machines it visits, its own process times, defects and priority, and
    optionally the interarrival of its own orders."""

    route: Annotated[list[str], Field(min_length=1)]
    """The machines the product visits, in order."""
    process_time: dict[str, Distribution] = Field(default_factory=dict)
    """Per machine of the route; a machine's own process time is the default."""
    defects: dict[str, Defects] = Field(default_factory=dict)
    """Per machine: the product's own chance of being made defective there."""
    priority: Annotated[int, Field(ge=0, le=999)] = 0
    """Lower first, where a buffer dispatches by priority."""
    interarrival: Distribution | None = None
    """Time between the product's own orders; none: orders come from the order list only."""
    quantity: Distribution = Constant(value=1)
    """Parts per order of its own (rounded up, at least 1)."""
    due: Distribution | None = None
    """Time from an order's release to its due date; none: no due date."""
    lot: Annotated[int, Field(ge=1)] = 1
    """Transfer batch: an order's parts move on from each machine ``lot`` at a time (the last
    batch of an order with what is left); 1: one piece at a time."""


class OrderList(Frozen):
    """Production orders read from a file."""

    file: FilePath
    """CSV or Parquet: order, product, quantity, release, due (optional: priority)."""


REQUIRED = ("order", "product", "quantity", "release", "due")


def read_orders(path: str | Path, products: dict[str, Product] | None = None,
                source: str | None = None) -> pd.DataFrame:
    """The order list of ``path``, checked: every column there, numbers where numbers belong,
    quantities of at least 1, known products. Sorted by release (stable)."""
    import numpy as np
    import pandas as pd  # here: most scenarios have no order list

    path = Path(path)
    where = source or str(path)
    try:
        frame = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") \
            else pd.read_csv(path)
    except FileNotFoundError:
        raise InputError(where, [((), f"no order list at {str(path)!r}", None)]) from None
    except Exception as exc:  # noqa: BLE001 - any unreadable file is bad input
        raise InputError(where, [((), f"cannot read the order list {str(path)!r}: {exc}",
                                  None)]) from None
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InputError(str(path), [((), f"the order list has no column "
                                          f"{', '.join(repr(m) for m in missing)} (columns: "
                                          f"{', '.join(REQUIRED)}, optional priority)", None)])
    problems: list[tuple[Loc, str, int | None]] = []
    for column in ("quantity", "release", "due", *(["priority"] if "priority" in frame else [])):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & ~(frame[column].isna() & (column == "due"))
        for row in np.flatnonzero(bad.to_numpy())[:3]:
            problems.append(((), f"row {row + 2}, column {column!r}: not a number: "
                                 f"{frame[column].iloc[row]!r}", None))
        frame[column] = values
    if not problems:
        for row in np.flatnonzero((frame["quantity"] < 1).to_numpy()
                                  | (frame["quantity"] % 1 != 0).to_numpy())[:3]:
            problems.append(((), f"row {row + 2}, column 'quantity': must be a whole number of "
                                 f"at least 1, got {frame['quantity'].iloc[row]:g}", None))
        for row in np.flatnonzero((frame["release"] < 0).to_numpy())[:3]:
            problems.append(((), f"row {row + 2}, column 'release': must be 0 or more", None))
        for row in np.flatnonzero((frame["due"] < frame["release"]).to_numpy())[:3]:
            problems.append(((), f"row {row + 2}, column 'due': due at {frame['due'].iloc[row]:g}, "
                                 f"before its release at {frame['release'].iloc[row]:g}", None))
    if products is not None:
        from twin.registry import did_you_mean

        for row, name in enumerate(frame["product"].astype(str)):
            if name not in products:
                problems.append(((), f"row {row + 2}, column 'product': unknown product "
                                     f"{name!r}{did_you_mean(name, list(products))}", None))
                if len(problems) >= 3:
                    break
    if frame["order"].astype(str).duplicated().any():
        row = int(np.flatnonzero(frame["order"].astype(str).duplicated().to_numpy())[0])
        problems.append(((), f"row {row + 2}, column 'order': order "
                             f"{frame['order'].iloc[row]!r} appears twice", None))
    if problems:
        raise InputError(str(path), problems)
    frame["order"] = frame["order"].astype(str)
    frame["product"] = frame["product"].astype(str)
    if "priority" not in frame:
        frame["priority"] = math.nan
    frame["due"] = frame["due"].fillna(math.inf)
    return frame.sort_values("release", kind="stable").reset_index(drop=True)


def product_problems(scenario: Scenario) -> list[tuple[Loc, str]]:
    """Routes that leave the graph's edges, process times and defects of machines off the
    route, and unknown products named by sources and machines' setups."""
    from twin.registry import did_you_mean

    nodes = scenario.plant.nodes
    succ: dict[str, set[str]] = {}
    for edge in scenario.plant.edges:
        if edge.when is None:
            succ.setdefault(edge.source, set()).add(edge.target)
    products = scenario.products
    problems: list[tuple[Loc, str]] = []
    for name, product in products.items():
        loc: Loc = ("products", name)
        for step, machine in enumerate(product.route):
            if machine not in nodes or nodes[machine].kind != "machine":
                machines = [n for n, s in nodes.items() if s.kind == "machine"]
                problems.append(((*loc, "route", step), f"product {name!r}, step {step + 1}: "
                                 f"{machine!r} is not a machine"
                                 f"{did_you_mean(machine, machines)}"))
                continue
            if step + 1 < len(product.route):
                nxt = product.route[step + 1]
                if hop(succ, nodes, machine, nxt) is None:
                    problems.append(((*loc, "route", step + 1), f"product {name!r}, step "
                                     f"{step + 2}: no edge from {machine!r} to {nxt!r} (directly "
                                     "or through one buffer)"))
            elif exit_of(succ, nodes, machine) is None:
                problems.append(((*loc, "route", step), f"product {name!r} ends at {machine!r}, "
                                 "which has no edge to a sink or warehouse"))
        for field in ("process_time", "defects"):
            for machine in getattr(product, field):
                if machine not in product.route:
                    problems.append(((*loc, field, machine), f"{machine!r} is not on the route "
                                     f"of product {name!r}"))
        if product.route[0] in nodes and not entry_sources(scenario, product.route[0]):
            problems.append(((*loc, "route", 0), f"product {name!r} starts at "
                             f"{product.route[0]!r}, which no source feeds"))
    for node_name, spec in nodes.items():
        named: list[tuple[Loc, str]] = []
        if spec.kind == "source":
            named += [(("plant", "nodes", node_name, "mix", p), p) for p in spec.mix or {}]
            named += [(("plant", "nodes", node_name, "sequence", i), p)
                      for i, p in enumerate(spec.sequence or [])]
        matrix = getattr(spec.setup, "matrix", None) if spec.kind == "machine" else None
        if matrix:
            for a, row in matrix.items():
                named += [(("plant", "nodes", node_name, "setup", "matrix", a), a)]
                named += [(("plant", "nodes", node_name, "setup", "matrix", a, b), b)
                          for b in row]
        for where, product_name in named:
            if product_name not in products:
                problems.append((where, f"unknown product {product_name!r}"
                                        f"{did_you_mean(product_name, list(products))}"))
        if spec.kind == "source" and products and spec.interarrival is not None \
                and not (spec.mix or spec.sequence):
            problems.append((("plant", "nodes", node_name, "interarrival"),
                             f"source {node_name!r} releases parts in a plant with products: "
                             "give it a mix or a sequence of products (or no interarrival: "
                             "orders then release the parts)"))
        if spec.kind == "source" and (spec.mix or spec.sequence) and products:
            for p in list(spec.mix or {}) + list(spec.sequence or []):
                if p in products and node_name not in entry_sources(scenario,
                                                                     products[p].route[0]):
                    problems.append((("plant", "nodes", node_name),
                                     f"source {node_name!r} releases product {p!r}, whose "
                                     f"route starts at {products[p].route[0]!r}, which it "
                                     "does not feed"))
    if scenario.orders is not None and not products:
        problems.append((("orders",), "an order list needs products: (each order names one)"))
    return problems


def hop(succ: dict[str, set[str]], nodes: Any, machine: str, nxt: str) -> str | None:
    """The node ``machine`` sends a part to on its way to ``nxt``: ``nxt`` itself (a direct
    edge) or the buffer between them."""
    targets = succ.get(machine, set())
    if nxt in targets:
        return nxt
    for b in sorted(targets):
        if nodes[b].kind == "buffer" and nxt in succ.get(b, set()):
            return b
    return None


def exit_of(succ: dict[str, set[str]], nodes: Any, machine: str) -> str | None:
    """Where a part leaves the line after ``machine``: a sink or warehouse it feeds."""
    ends = sorted(t for t in succ.get(machine, set())
                  if nodes[t].kind in ("sink", "warehouse") and not getattr(nodes[t], "scrap",
                                                                              False))
    return ends[0] if ends else None


def entry_sources(scenario: Scenario, machine: str) -> list[str]:
    """The sources that feed ``machine``, directly or through one buffer."""
    nodes = scenario.plant.nodes
    preds: dict[str, set[str]] = {}
    for edge in scenario.plant.edges:
        preds.setdefault(edge.target, set()).add(edge.source)
    out = []
    for p in sorted(preds.get(machine, set())):
        if p in nodes and nodes[p].kind == "source":
            out.append(p)
        elif p in nodes and nodes[p].kind == "buffer":
            out += [q for q in sorted(preds.get(p, set()))
                    if q in nodes and nodes[q].kind == "source"]
    return out
