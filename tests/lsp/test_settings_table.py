"""The settings table (lsp/settings.py CHECKS): one check per setting, each keeping good values
and refusing bad ones with what was expected; an unknown key is kept aside, never an error."""
from __future__ import annotations

from dataclasses import fields

import pytest

from lsp.settings import CHECKS, Settings, parse_settings


def test_every_setting_has_its_check():
    assert set(CHECKS) == {f.name for f in fields(Settings)} - {"extra"}


@pytest.mark.parametrize("key,good,bad,expected", [
    ("runsDir", "runs", "", "non-empty string"),
    ("run", None, 3, "a string or null"),
    ("hover", False, "no", "true or false"),
    ("mode", "cum", "sum", "one of own, flat, cum"),
    ("staleMode", "hide", "drop", "one of mark, hide"),
    ("threshold", 0.5, 2, "between 0 and 1"),
    ("pollInterval", 0.5, 0, "positive number of seconds"),
    ("maxProfileMiB", 64, True, "number of MiB"),
    ("diagnosticsTopN", 0, -1, "non-negative integer"),
    ("pathMappings", [{"from": "/src", "to": "/here"}], [{"to": "/here"}], "item 0"),
])
def test_each_check(key, good, bad, expected):
    _settings, problems = parse_settings({key: good})
    assert problems == [], problems
    settings, problems = parse_settings({key: bad})
    assert len(problems) == 1 and expected in problems[0] and key in problems[0], problems
    assert getattr(settings, key) == getattr(Settings(), key)          # the default stands


def test_an_unknown_key_is_kept_aside():
    settings, problems = parse_settings({"harness": {"colour": "red"}})
    assert problems == [] and settings.extra == {"colour": "red"}
