"""Supply chains: suppliers, warehouses, transport and customers around the line."""
