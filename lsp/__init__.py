"""harness-lsp: per-line profile costs in the editor, from run directories or any pprof file."""

__version__ = "0.1.0"
