"""The report layer: what a person reads of a study.

``pages`` writes the self-contained HTML reports (run, compare, sweep), ``optimize`` the
optimisation's, ``save`` saves a study's data with its report, and ``console`` holds the tables
and progress the commands print (a notebook gets the same tables). Importing this package
imports none of them: the command line loads plotting only where it draws.
"""
