"""Material handling inside the plant: conveyors between the line's nodes, plugged into the
engine as node kinds (``twin.node_kinds`` entry points) like the supply chain."""
