"""A machine's states, by number (the state clock's index) and by name (its timeline's)."""

from __future__ import annotations

WORKING, STARVED, BLOCKED, DOWN, REPAIR, MAINTENANCE, SETUP, WAITING_OPERATOR, OFF = range(9)
STATES = ("working", "starved", "blocked", "down", "repair", "maintenance", "setup",
          "waiting_operator", "off")
"""Machine states. ``down``: failed, waiting for a technician; ``maintenance`` includes waiting;
``setup``: changing over between batches; ``waiting_operator``: waiting for an operator (walk
included); ``off``: outside the machine's calendar (not planned production time)."""
