"""Drawings of the plant: its graph laid out along the flow as plain SVG, coloured by a run's
results, replayed over time from a run's timeline and event log, and followed live.

- ``sketch``: what is drawn (nodes by kind, edges), from a checked scenario or from raw data;
- ``layout``: positions, left to right along the flow, loops drawn back;
- ``svg``: the drawing (``plant_svg``), with an optional results overlay;
- ``results``: the overlay from a run's summary (state shares, bottleneck, buffers, flows);
- ``replay``: the animated replay of one replication (compact JSON and a small inline script);
- ``show``: ``twin show`` (the drawing before anything runs);
- ``live``: the drawing on the live twin's page, updated from its status.

Stable element ids: ``plant-diagram`` (the drawing), ``plant-replay`` (the replay) and
``replay-slider`` (its time slider). Each node is an element with ``data-node`` (its name) and
``data-kind``, each edge one with ``data-edge`` (``source->target``).
"""

from __future__ import annotations
