"""The plugin's own pages under ``/-/claude/``, one module each."""
