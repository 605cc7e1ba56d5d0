"""The bottom layer: what every other layer reads or writes.

Atomic output (``output``), recorded lives files (``lives``), the event vocabulary
(``events``), the one alignment of sensor windows (``windows``), costs per period
(``costs``), and the package's version. It imports nothing of twin above ``twin.errors``.
"""

__version__ = "0.1.0"
