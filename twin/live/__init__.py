"""The live twin: a plant's MQTT topics in, its mirrored state, forecasts and alarms out.

- ``schema``: the topics and JSON payloads (versioned), encoded and checked in one place.
- ``connector``: the MQTT seam over paho-mqtt (its network thread feeds a queue).
- ``emulator``: ``twin emulate``, a scenario run in scaled real time, publishing as a plant.
- ``mirror``: the plant's state rebuilt from its events and machine states (``PlantState``).
- ``forecast``: look-aheads from the mirrored state, run in a worker process.
- ``status``: the rolling ``status.json`` and the report page that refreshes.
- ``health``: a log that says the first few of a kind of problem, then how many more; the
  watch that says within seconds when there is no broker connection, and why.
- ``record``: what the twin receives, written to Parquet, kept whole through a kill.
- ``twin``: ``twin live``, the loop that ties them together.
- ``opcua_server``, ``opcua_client``, ``opcua_map``: the same over OPC UA (asyncua): the
  emulated plant served in twin's address space, a connector reading any server through a
  mapping file into the same messages.
"""
