"""The scenario language: schema, YAML with line numbers, overrides, messages, distributions.

Everything downstream works from the frozen ``Scenario`` this package validates.
"""
