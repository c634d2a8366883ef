"""Production traffic files read as one stream of requests: nginx/Apache combined logs, JSON lines
and HAR 1.2. A file is streamed line by line (gzip too), never loaded whole, except HAR, which is
one JSON document (a browser's export, small by nature).

Each reader yields `Entry` for a request it understands and `Bad` for a line it does not; the
caller counts the bad ones and shows the first few (`Source`). Nothing here raises on a line:
only a file that cannot be read at all (missing, binary, a truncated HAR) is a HarnessError.
"""
from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from harness.errors import HarnessError

FORMATS = ("auto", "combined", "jsonl", "har")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
SNIFF_BYTES = 64 * 1024
SHOWN_BAD = 5


@dataclass(slots=True)
class Entry:
    """One request of the log, on the log's clock (seconds since the epoch)."""
    t: float                          # when the request started (or ended: see stamp_is_end)
    method: str
    target: str                       # path and query, starting with '/'
    line: int
    whole_second: bool = False        # the stamp had no sub-second part
    stamp_is_end: bool = False        # the stamp is when the request ended (nginx's $time_local)
    host: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None
    status: int | None = None
    duration: float | None = None     # seconds, when the log has it

    @property
    def start(self) -> float:
        return self.t - (self.duration or 0.0) if self.stamp_is_end else self.t


@dataclass(frozen=True, slots=True)
class Bad:
    line: int
    why: str
    text: str


# -- opening -------------------------------------------------------------------------------------

def open_text(path: Path) -> io.TextIOBase:
    """The file as text lines (gzip by its magic bytes); a binary file is a clear error."""
    try:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError as e:
        raise HarnessError("cannot read the traffic file", where=str(path), seen=e.strerror or str(e),
                           hint="give the path of an access log, a JSON-lines file or a HAR file") from None
    if head[:2] == b"\x1f\x8b":
        try:
            head = gzip.open(path, "rb").read(SNIFF_BYTES)
        except (OSError, EOFError) as e:
            raise HarnessError("a gzip file that does not decompress", where=str(path), seen=str(e)) from None
        raw = gzip.open(path, "rb")
    else:
        raw = open(path, "rb")  # noqa: SIM115 - the caller closes the text wrapper
    if b"\0" in head or _not_text(head):
        raw.close()
        raise HarnessError("a binary file, not a traffic log", where=str(path),
                           seen=f"first bytes {head[:16]!r}",
                           hint="give an access log (combined format), JSON lines or a HAR file, "
                                "plain or gzip-compressed")
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline=None)


def _not_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start < len(head) - 4          # a cut multi-byte character at the end is fine
    return False


def sniff(path: Path) -> str:
    """The format of a file from its first line: HAR, JSON lines or a combined log."""
    with open_text(path) as f:
        first = ""
        for line in f:
            if line.strip():
                first = line.strip()
                break
    if path.suffix.lower() == ".har" or first in ("{", "{\"log\":{", "{\"log\": {") or first.startswith('{"log"'):
        return "har"
    if first.startswith("{"):
        return "jsonl"
    return "combined"


# -- combined log --------------------------------------------------------------------------------

_COMBINED = re.compile(
    r'^(?P<addr>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" (?P<status>\d{3}) \S+'
    r'(?: "(?P<referer>[^"]*)" "(?P<agent>[^"]*)")?(?P<rest>.*)$')
_REQUEST_TIME = re.compile(r'(?:^|\s)(?:rt=|request_time=)?"?(\d+\.\d+|\d+)"?\s*$')


class _Clock:
    """Timestamps of a combined log, parsed once per distinct second (a second's lines share one).
    '10/Oct/2026:13:55:36 +0000' has whole seconds; '10/Oct/2026:13:55:36.123 +0000' (Apache's
    %{msec_frac}t, or nginx with a custom format) has more."""

    def __init__(self):
        self.text, self.value = None, 0.0

    def parse(self, text: str) -> tuple[float, bool]:
        frac = 0.0
        dot = text.find(".")
        if dot >= 0:
            space = text.find(" ", dot)
            digits = text[dot + 1:space if space > 0 else None]
            if not digits.isdigit():
                raise ValueError(text)
            frac = int(digits) / 10 ** len(digits)
            text = text[:dot] + (text[space:] if space > 0 else "")
        if text != self.text:
            self.value = datetime.strptime(text, "%d/%b/%Y:%H:%M:%S %z").timestamp()
            self.text = text
        return self.value + frac, dot < 0


def read_combined(lines, start_line: int = 1) -> Iterator[Entry | Bad]:
    """nginx/Apache combined format; a trailing number (nginx's $request_time, seconds, or
    rt=/request_time=) is the request's duration, and the stamp is then its end."""
    clock = _Clock()
    for n, line in enumerate(lines, start_line):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        m = _COMBINED.match(line)
        if m is None:
            yield Bad(n, "not a combined-log line", line)
            continue
        parts = m["request"].split(" ")
        if len(parts) != 3 or parts[0] not in METHODS or not parts[2].startswith("HTTP/"):
            yield Bad(n, "no 'METHOD /path HTTP/x' request", line)
            continue
        target = _target(parts[1])
        if target is None:
            yield Bad(n, "the request's target is not a path or URL", line)
            continue
        try:
            t, whole = clock.parse(m["time"])
        except ValueError:
            yield Bad(n, "a timestamp not like 10/Oct/2026:13:55:36 +0000", line)
            continue
        duration = None
        rt = _REQUEST_TIME.search(m["rest"] or "")
        if rt:
            duration = float(rt[1])
        headers = tuple((k, v) for k, v in (("Referer", m["referer"]), ("User-Agent", m["agent"]))
                        if v and v != "-")
        yield Entry(t, parts[0], target, n, whole_second=whole, stamp_is_end=duration is not None,
                    headers=headers, status=int(m["status"]), duration=duration)


def _target(raw: str) -> str | None:
    """A request target as path and query ('http://h/p?q' -> '/p?q'); None when it is neither."""
    if raw.startswith("/"):
        return raw
    m = re.match(r"^https?://[^/?#]+(.*)$", raw)
    if m:
        rest = m[1].split("#", 1)[0]
        return rest if rest.startswith("/") else "/" + rest
    return None


def _host(url: str) -> str | None:
    m = re.match(r"^https?://([^/?#]+)", url)
    return m[1] if m else None


# -- JSON lines ----------------------------------------------------------------------------------

def read_jsonl(lines, start_line: int = 1) -> Iterator[Entry | Bad]:
    """One JSON object a line: ts (epoch seconds or ISO 8601, when the request started), method,
    url or path, and optionally headers ({name: value} or [[name, value]]), body, status and
    duration (seconds)."""
    for n, line in enumerate(lines, start_line):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as e:
            yield Bad(n, f"not JSON ({e.msg})", line.rstrip("\n"))
            continue
        entry = _json_entry(obj, n) if isinstance(obj, dict) else "not a JSON object"
        yield entry if isinstance(entry, Entry) else Bad(n, entry, line.rstrip("\n"))


def _json_entry(obj: dict, n: int) -> Entry | str:
    stamp = _stamp(obj.get("ts", obj.get("time", obj.get("timestamp"))))
    if stamp is None:
        return "no ts (epoch seconds or ISO 8601)"
    url = obj.get("url", obj.get("path"))
    req = _method_target(obj.get("method", "GET"), url, "no url or path starting with '/'")
    if isinstance(req, str):
        return req
    method, target = req
    headers = _header_pairs(obj.get("headers"))
    if headers is None:
        return "headers are neither {name: value} nor [[name, value], ...]"
    body = obj.get("body")
    if body is not None and not isinstance(body, str):
        body = json.dumps(body)
    duration = _number(obj.get("duration"))
    status = obj.get("status")
    return Entry(stamp[0], method, target, n, whole_second=stamp[1], host=_host(url), headers=headers,
                 body=body, status=int(status) if isinstance(status, (int, float)) else None,
                 duration=duration)


def _method_target(method, url, no_url: str) -> tuple[str, str] | str:
    """(METHOD, path and query) of a logged request, or why it is not one."""
    target = _target(url) if isinstance(url, str) else None
    if target is None:
        return no_url
    method = str(method).upper()
    if method not in METHODS:
        return f"unknown method {method[:20]!r}"
    return method, target


def _stamp(value) -> tuple[float, bool] | None:
    """(epoch seconds, whole second?) of a number or an ISO 8601 text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value), float(value).is_integer()
    if isinstance(value, str):
        text = value.strip()
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        if dt.tzinfo is None:
            return None
        return dt.timestamp(), dt.microsecond == 0 and "." not in text
    return None


def _number(value) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def _header_pairs(value) -> tuple[tuple[str, str], ...] | None:
    if value is None:
        return ()
    if isinstance(value, dict):
        return tuple((str(k), str(v)) for k, v in value.items())
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, dict) and "name" in item:
                out.append((str(item["name"]), str(item.get("value", ""))))
            elif isinstance(item, (list, tuple)) and len(item) == 2:
                out.append((str(item[0]), str(item[1])))
            else:
                return None
        return tuple(out)
    return None


# -- HAR -----------------------------------------------------------------------------------------

def read_har(text_file, where: str) -> Iterator[Entry | Bad]:
    """HAR 1.2: log.entries[] with startedDateTime, request {method, url, headers, postData},
    response.status and time (milliseconds). The entry's index stands for its line."""
    try:
        doc = json.load(text_file)
    except ValueError as e:
        raise HarnessError("the HAR file is not valid JSON (cut short?)", where=where,
                           seen=f"{e.msg} (line {getattr(e, 'lineno', '?')}, column {getattr(e, 'colno', '?')})",
                           hint="export the HAR again from the browser's network panel") from None
    entries = doc.get("log", {}).get("entries") if isinstance(doc, dict) and isinstance(doc.get("log"), dict) else None
    if not isinstance(entries, list):
        raise HarnessError("not a HAR file: no log.entries list", where=where,
                           seen=f"top-level keys {sorted(doc)[:5] if isinstance(doc, dict) else type(doc).__name__}",
                           hint="HAR 1.2 has {\"log\": {\"entries\": [...]}}")
    for n, item in enumerate(entries, 1):
        entry = _har_entry(item, n) if isinstance(item, dict) else "not an object"
        yield entry if isinstance(entry, Entry) else Bad(n, entry, json.dumps(item)[:200])


def _har_entry(item: dict, n: int) -> Entry | str:
    req = item.get("request")
    if not isinstance(req, dict):
        return "no request"
    stamp = _stamp(item.get("startedDateTime"))
    if stamp is None:
        return "no startedDateTime (ISO 8601)"
    url = req.get("url")
    mt = _method_target(req.get("method", ""), url, "no request.url")
    if isinstance(mt, str):
        return mt
    method, target = mt
    headers = _header_pairs(req.get("headers")) or ()
    post = req.get("postData")
    body = post.get("text") if isinstance(post, dict) and isinstance(post.get("text"), str) else None
    status = (item.get("response") or {}).get("status")
    ms = _number(item.get("time"))
    return Entry(stamp[0], method, target, n, whole_second=stamp[1], host=_host(url), headers=headers, body=body,
                 status=status if isinstance(status, int) and status > 0 else None,
                 duration=ms / 1000.0 if ms is not None else None)


# -- one stream ----------------------------------------------------------------------------------

@dataclass
class Source:
    """A traffic file's entries in file order, with the bad lines counted (the first few kept)."""
    path: Path
    format: str = "auto"
    bad: int = 0
    good: int = 0
    first_bad: list[Bad] = field(default_factory=list)

    def __post_init__(self):
        if self.format == "auto":
            self.format = sniff(self.path)

    def _items(self) -> Iterator[Entry | Bad]:
        with open_text(self.path) as f:
            yield from (read_har(f, str(self.path)) if self.format == "har"
                        else read_jsonl(f) if self.format == "jsonl" else read_combined(f))

    def __iter__(self) -> Iterator[Entry]:
        for item in self._items():
            if isinstance(item, Bad):
                self._note_bad(item)
                continue
            self.good += 1
            yield item

    def first(self, max_bad: int) -> Entry | None:
        """The first request, reading at most `max_bad` bad lines before it."""
        items = self._items()
        try:
            for item in items:
                if isinstance(item, Entry):
                    return item
                self._note_bad(item)
                if self.bad >= max_bad:
                    return None
            return None
        finally:
            items.close()

    def _note_bad(self, item: Bad) -> None:
        self.bad += 1
        if len(self.first_bad) < SHOWN_BAD:
            self.first_bad.append(item)

    def bad_lines(self) -> list[str]:
        """The first bad lines as 'file:line: why: text'."""
        return [f"{self.path}:{b.line}: {b.why}: {b.text[:120]}" for b in self.first_bad]
