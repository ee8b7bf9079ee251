"""Serving a replay session over gdb-remote: the glue between replay and protocol."""
