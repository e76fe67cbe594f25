"""Datasette plugin for databases written by claude-ingest (hook implementations only)."""
