"""The engine: SimPy processes of one replication (flow, stations, crew, health, sensors), built
from the plant graph node by node through the node-kind registry, and measured."""
