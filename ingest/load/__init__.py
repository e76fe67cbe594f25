"""Loaders, one module per source, named as its parser in ``ingest.parse``: they find the input, keep
its offsets, call the parser and write through the one store (``ingest.store``)."""
