"""Fitting a scenario from an event log: ``twin fit LOG``.

log (read and check the log), observe (durations, lives with censoring, moves), graph (nodes,
edges, routing), laws (maximum-likelihood fits, AIC, KS, intervals), survival (censored lives),
scenario (the YAML), report (the HTML page), fit (``fit_log``, tying them together).
"""

from twin.fitting.fit import FitResult, fit_log, fit_observations
from twin.fitting.log import EventLog, check_frame, read_log

__all__ = ["EventLog", "FitResult", "check_frame", "fit_log", "fit_observations", "read_log"]
