"""The one kind of error the library raises for "what was asked cannot be done as asked"."""


class IngestError(Exception):
    """A bad date, a settings file that is not JSON, a table name that is one of ours, output that
    is not a headless run's: the command line says it in one line and exits 2, as for a usage error."""
