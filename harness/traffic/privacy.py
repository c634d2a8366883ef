"""Which of a logged request's headers are sent again: credentials never, unless kept by name.

Dropped by default: the credential headers below and any whose name says token, secret, session,
password or auth; always dropped: hop-by-hop and length headers (the client sets its own) and
HTTP/2 pseudo-headers. Host is sent only with rewrite_host: false. The run directory records which
names were dropped and how often (load/replay.json), never their values.
"""
from __future__ import annotations

import re
from collections import Counter

SENSITIVE = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
                       "x-auth-token", "x-csrf-token", "x-xsrf-token", "x-amz-security-token"})
SENSITIVE_WORDS = re.compile(r"token|secret|session|passw|auth|api-?key", re.IGNORECASE)
TRANSPORT = frozenset({"connection", "keep-alive", "content-length", "transfer-encoding", "te", "trailer",
                       "upgrade", "proxy-connection", "accept-encoding"})


class HeaderFilter:
    def __init__(self, keep: tuple[str, ...] = (), drop: tuple[str, ...] = (), keep_host: bool = False):
        self.keep = frozenset(h.lower() for h in keep)
        self.drop = frozenset(h.lower() for h in drop)
        self.keep_host = keep_host
        self.dropped: Counter = Counter()        # header name (lower case) -> requests it was dropped from
        self._verdict: dict[str, bool] = {}

    def sensitive(self, name: str) -> bool:
        low = name.lower()
        return low in SENSITIVE or bool(SENSITIVE_WORDS.search(low))

    def _sent(self, low: str) -> bool:
        if low.startswith(":") or low in TRANSPORT:
            return False
        if low == "host":
            return self.keep_host
        if low in self.keep:
            return True
        return low not in self.drop and not self.sensitive(low)

    def apply(self, headers: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        out = []
        for name, value in headers:
            low = name.lower()
            sent = self._verdict.get(low)
            if sent is None:
                sent = self._verdict[low] = self._sent(low)
            if sent:
                if not any(ch in value for ch in "\r\n\0"):
                    out.append((name, value))
            elif not low.startswith(":") and low not in TRANSPORT and low != "host":
                self.dropped[low] += 1
        return tuple(out)
