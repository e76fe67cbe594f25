"""Parsers, one module per input format. Pure: decoded input in, ``(table, row)`` records out."""
