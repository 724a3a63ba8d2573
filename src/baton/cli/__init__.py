"""The ``baton`` command line: thin commands over the service functions."""
