"""The event vocabulary: the names of a plant's events, what each means, and the columns of
the event log. The engine writes these events, the live twin mirrors them, ``twin fit`` reads
them back, and a plant's own MES export in these columns is read the same way.

``replication, time, node, event, part, product, order``; ``part`` is the part's number (null
for a machine's own events), ``product`` and ``order`` are null where the plant has none.

| event | node | meaning |
| --- | --- | --- |
| release | source (or warehouse) | the part enters the plant |
| arrive | buffer or machine | the part is put there (a buffer, or a machine's input) |
| start, finish | machine | processing of the part starts, ends |
| blocked, unblocked | machine | it holds a finished part it cannot pass on, then passes it |
| fail, repair_start, repair_end | machine | a failure; a technician starts; renewed |
| pm_start, pm_end | machine | preventive maintenance called; done (renewed) |
| setup_start, setup_end | machine | a changeover |
| ship, scrap | sink or warehouse | the part leaves the line: shipped (to stock) or scrapped |
| load | the sender of a part a vehicle carries | the vehicle starts loading the part |
| travel | the same | the vehicle leaves with the part |
| unload | the node the part goes to | the vehicle arrives there and starts unloading |
"""

from __future__ import annotations

RELEASE = "release"
ARRIVE = "arrive"
START = "start"
FINISH = "finish"
BLOCKED = "blocked"
UNBLOCKED = "unblocked"
FAIL = "fail"
REPAIR_START = "repair_start"
REPAIR_END = "repair_end"
PM_START = "pm_start"
PM_END = "pm_end"
SETUP_START = "setup_start"
SETUP_END = "setup_end"
SHIP = "ship"
SCRAP = "scrap"
LOAD = "load"
TRAVEL = "travel"
UNLOAD = "unload"

EVENTS = (RELEASE, ARRIVE, START, FINISH, BLOCKED, UNBLOCKED, FAIL, REPAIR_START, REPAIR_END,
          PM_START, PM_END, SETUP_START, SETUP_END, SHIP, SCRAP, LOAD, TRAVEL, UNLOAD)
"""Every event name, in the order of the table above."""
STOPS = (FAIL, REPAIR_START, PM_START)
"""The events that stop a machine's work (and its wear)."""
COLUMNS = ("replication", "time", "node", "event", "part", "product", "order")
"""The columns of the event log."""
