"""Studies above the engine: runs, compares and sweeps on executors; statistics, summaries and
output files."""
