"""What harness/ (the engine) and lsp/ (the language server) share, importing neither:

    contract.py  the run directory's files: manifest.json, the artifact and event kinds, the
                 function latency files (docs/DESIGN.md "Run directory")
    gosource.py  own code (which frames of a profile are the service's), go.mod, the Go toolchain
    pprof/       the pprof reader: parsing, per-line aggregation, flame graphs and their formats
"""
