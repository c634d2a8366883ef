"""`harness-lsp` / `python -m lsp`: the language server on stdio."""
from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness-lsp", description="Hot Go source lines from pprof profiles "
                                     "and harness run directories (Language Server Protocol on stdio).")
    parser.add_argument("--stdio", action="store_true", help="talk LSP on stdin/stdout (the default)")
    parser.add_argument("--log-file", help="write the server's debug log to this file")
    args = parser.parse_args(argv)
    if args.log_file:
        logging.basicConfig(filename=args.log_file, level=logging.DEBUG,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Background work (call edges of huge profiles) holds the GIL in long stretches; a short switch
    # interval hands it back to the request loop sooner.
    sys.setswitchinterval(0.001)
    from lsp.server import build_server
    build_server().start_io()
    return 0


if __name__ == "__main__":
    sys.exit(main())
