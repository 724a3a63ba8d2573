"""Persistence: the registry database and the content-addressed artifact store."""
