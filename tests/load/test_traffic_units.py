"""Traffic files read for replay: the three formats, bad input, the timing steps, names, privacy."""
from __future__ import annotations

import gzip
import json

import pytest

from harness.errors import HarnessError
from harness.traffic.formats import Source, sniff
from harness.traffic.names import OTHER, Namer, Rule
from harness.traffic.privacy import HeaderFilter
from harness.traffic.summary import sparkline, summarize
from harness.traffic.timing import Counts, Timeline, Window, for_worker, in_order, spread

T0 = "07/Dec/2026:10:00:00 +0000"


def combined(stamp: str, path: str = "/a", tail: str = "", method: str = "GET") -> str:
    return f'10.0.0.1 - - [{stamp}] "{method} {path} HTTP/1.1" 200 12 "-" "curl/8"{tail}\n'


def write(tmp_path, name: str, text: str):
    p = tmp_path / name
    p.write_text(text)
    return p


def times(timeline) -> list[float]:
    return [round(t, 6) for t, _e in timeline]


# -- formats -------------------------------------------------------------------------------------

def test_combined_whole_seconds_are_spread_evenly_and_said(tmp_path):
    p = write(tmp_path, "a.log", combined(T0) * 4 + combined("07/Dec/2026:10:00:01 +0000", "/b"))
    tl = Timeline(Source(p))
    assert times(tl) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert tl.counts.spread == 4 and tl.counts.arrivals == 5     # a lone line in its second is not spread


def test_combined_request_time_makes_the_stamp_the_end(tmp_path):
    # nginx logs a request when it ends: a 2.5 s request logged at :03 started at :00.5
    p = write(tmp_path, "a.log", combined("07/Dec/2026:10:00:01.000 +0000", "/fast", " 0.000")
              + combined("07/Dec/2026:10:00:03.000 +0000", "/slow", " 2.500"))
    got = [(round(t, 3), e.target, e.duration) for t, e in Timeline(Source(p))]
    assert got == [(0.0, "/slow", 2.5), (0.5, "/fast", 0.0)]


def test_combined_millisecond_stamps_and_absolute_urls(tmp_path):
    p = write(tmp_path, "a.log", combined("07/Dec/2026:10:00:00.250 +0000", "http://shop.example/cart?x=1")
              + combined("07/Dec/2026:10:00:00.251 +0000", "/b", method="POST"))
    tl = Timeline(Source(p))
    got = [(round(t, 6), e.method, e.target, e.whole_second) for t, e in tl]
    assert got == [(0.0, "GET", "/cart?x=1", False), (0.001, "POST", "/b", False)]
    assert tl.counts.spread == 0


def test_jsonl_with_iso_and_epoch_stamps_headers_and_body(tmp_path):
    lines = [{"ts": "2026-12-07T10:00:00.100Z", "method": "post", "url": "http://api/x/1", "body": {"a": 1},
              "headers": {"Authorization": "Bearer s3cret", "X-Trace": "t1"}, "status": 201, "duration": 0.02},
             {"ts": 1796637600.35, "path": "/y", "headers": [["Cookie", "sid=1"]]}]
    p = write(tmp_path, "a.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
    assert sniff(p) == "jsonl"
    entries = list(Source(p))
    assert [(e.method, e.target, e.status, e.duration, e.host) for e in entries] == \
        [("POST", "/x/1", 201, 0.02, "api"), ("GET", "/y", None, None, None)]
    assert entries[0].body == '{"a": 1}' and entries[0].headers[1] == ("X-Trace", "t1")


def test_har_entries(tmp_path):
    har = {"log": {"version": "1.2", "entries": [
        {"startedDateTime": "2026-12-07T10:00:00.000+00:00", "time": 12.5,
         "request": {"method": "GET", "url": "https://shop.example/p/42?ref=a", "headers": [
             {"name": ":authority", "value": "shop.example"}, {"name": "Cookie", "value": "x"}]},
         "response": {"status": 200}},
        {"startedDateTime": "2026-12-07T10:00:01.500+00:00", "time": 3,
         "request": {"method": "POST", "url": "https://shop.example/cart", "postData": {"text": "{}"}},
         "response": {"status": 0}},
        {"startedDateTime": "not a date", "request": {"method": "GET", "url": "/z"}}]}}
    p = write(tmp_path, "a.har", json.dumps(har, indent=1))
    src = Source(p)
    got = [(round(t, 3), e.method, e.target, e.body) for t, e in Timeline(src)]
    assert src.format == "har"
    assert got == [(0.0, "GET", "/p/42?ref=a", None), (1.5, "POST", "/cart", "{}")]
    assert src.bad == 1 and "startedDateTime" in src.bad_lines()[0]


def test_truncated_har_is_a_clear_error(tmp_path):
    p = write(tmp_path, "cut.har", '{"log": {"entries": [{"startedDateTime": "2026-')
    with pytest.raises(HarnessError) as e:
        list(Source(p))
    assert "not valid JSON" in e.value.what and "line 1" in e.value.seen


def test_binary_file_is_a_clear_error(tmp_path):
    p = tmp_path / "core"
    p.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(HarnessError) as e:
        Source(p)
    assert "binary" in e.value.what and str(p) in e.value.where


def test_gzip_log_is_read(tmp_path):
    p = tmp_path / "a.log.gz"
    with gzip.open(p, "wt") as f:
        f.write(combined(T0) * 3)
    assert len(list(Source(p))) == 3


def test_bad_lines_are_counted_and_the_first_shown_with_line_numbers(tmp_path):
    text = combined(T0) + "junk\n" + combined(T0, method="BREW") + '1.2.3.4 - - [yesterday] "GET / HTTP/1.1" 200 1\n'
    src = Source(write(tmp_path, "a.log", text))
    assert len(list(src)) == 1
    assert src.bad == 3
    shown = src.bad_lines()
    assert [s.split(":")[1] for s in shown] == ["2", "3", "4"]
    assert "not a combined-log line" in shown[0] and "METHOD" in shown[1] and "timestamp" in shown[2]


def test_timestamps_going_backwards_are_counted_and_skipped(tmp_path):
    # :05 comes after :20 was sent (the 10 s horizon passed it when :31 came): skipped, never sent late;
    # :29 is 2 s back, within the horizon: put in order
    stamps = ["10:00:00", "10:00:20", "10:00:31", "10:00:05", "10:00:29"]
    text = "".join(combined(f"07/Dec/2026:{s}.000 +0000", f"/{i}") for i, s in enumerate(stamps))
    tl = Timeline(Source(write(tmp_path, "a.log", text)))
    got = [(t, e.target) for t, e in tl]
    assert [x[1] for x in got] == ["/0", "/1", "/4", "/2"]
    assert tl.counts.out_of_order == 1


def test_summary_of_a_file_with_no_request_is_an_error(tmp_path):
    p = write(tmp_path, "a.log", "nothing\nhere\n")
    with pytest.raises(HarnessError) as e:
        summarize(p)
    assert "no request" in e.value.what and ":1: not a combined-log line" in e.value.seen


# -- timing --------------------------------------------------------------------------------------

def _stamped(tmp_path, offsets):
    return write(tmp_path, "t.jsonl", "".join(json.dumps({"ts": 1796637600 + o + 0.5, "path": f"/{i}"}) + "\n"
                                              for i, o in enumerate(offsets)))


def test_window_speed_and_max_rate(tmp_path):
    p = _stamped(tmp_path, [0, 1, 2, 3, 4, 4.1, 4.2, 4.3, 5, 6])
    assert times(Timeline(Source(p), Window(start_s=2, end_s=5, speed=2))) == [0.0, 0.5, 1.0, 1.05, 1.1, 1.15]
    tl = Timeline(Source(p), Window(start_s=4, end_s=5, max_rate=2))
    assert times(tl) == [0.0, 0.1]
    assert tl.counts.over_max_rate == 2


def test_loop_repeats_the_window_one_mean_gap_later(tmp_path):
    p = _stamped(tmp_path, [0, 1, 2])
    it = iter(Timeline(Source(p), Window(loop=True)))
    assert [round(next(it)[0], 6) for _ in range(7)] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def test_workers_share_the_arrivals_exactly(tmp_path):
    p = _stamped(tmp_path, [i * 0.01 for i in range(101)])
    whole = times(Timeline(Source(p)))
    parts = [times(for_worker(Timeline(Source(p)), i, 3)) for i in range(3)]
    assert sorted(sum(parts, [])) == whole and [len(x) for x in parts] == [34, 34, 33]


def test_spread_and_order_are_lazy(tmp_path):
    """Streaming: the ordered stream yields before the whole input is read."""
    from harness.traffic.formats import Entry
    consumed = []

    def entries():
        for i in range(10_000):
            consumed.append(i)
            yield Entry(float(i), "GET", "/", i + 1)
    c = Counts()
    first = next(in_order(spread(entries(), c), c, horizon=10.0))
    assert first.t == 0.0 and len(consumed) <= 12


# -- names and headers ---------------------------------------------------------------------------

def test_paths_are_templated_and_bounded():
    n = Namer((Rule(r"[a-z]+-\d+", "{slug}"),), max_names=3)
    assert n.name("/users/123/orders/9f86d081884c7d65?x=1") == "/users/{id}/orders/{id}"
    assert n.name("/u/0b0e7c3e-52f1-4a51-9f3c-3f1a2c3d4e5f") == "/u/{id}"
    assert n.name("/posts/hello-42") == "/posts/{slug}"
    assert n.name("/health") == OTHER              # a fourth name
    assert n.name("/users/9/orders/abcdef0123") == "/users/{id}/orders/{id}"
    assert n.template("/static/app.js") == "/static/app.js"


def test_credentials_are_dropped_unless_kept():
    f = HeaderFilter(keep=("X-Api-Key",), drop=("X-Debug",))
    sent = f.apply((("Authorization", "Bearer a"), ("Cookie", "s=1"), ("X-Session-Id", "9"), ("X-Api-Key", "k"),
                    ("X-Debug", "1"), ("Accept", "*/*"), ("Host", "prod"), ("Content-Length", "3"),
                    (":path", "/"), ("X-Bad", "a\r\nb")))
    assert sent == (("X-Api-Key", "k"), ("Accept", "*/*"))
    assert dict(f.dropped) == {"authorization": 1, "cookie": 1, "x-session-id": 1, "x-debug": 1}
    assert HeaderFilter(keep_host=True).apply((("Host", "prod"),)) == (("Host", "prod"),)


def test_sparkline_shows_a_burst():
    from collections import Counter
    line, step = sparkline(Counter({0: 1, 1: 1, 2: 10, 3: 1}), 4.0)
    assert line == "▂▂█▂" and step == 1.0


def test_the_load_end_event_says_what_the_replay_read():
    from harness.load.runner import replay_note
    note = replay_note({"sent": 120, "file": "prod.jsonl", "format": "jsonl", "speed": 2.0, "bad_lines": 3,
                        "out_of_order": 0, "headers_dropped": {"cookie": 120, "authorization": 120}})
    assert note == ("; replayed 120 lines of prod.jsonl (jsonl, speed 2.0), 3 not understood, "
                    "headers not sent: authorization, cookie")
    assert replay_note(None) == ""
