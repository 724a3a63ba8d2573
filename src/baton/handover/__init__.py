"""Hand-over: read what research delivers, check it, and register it."""
