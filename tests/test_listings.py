"""The listings generated from the code (python -m harness.listings) are up to date: the fault
and capture kind tables of docs/ and the committed JSON Schema of scenario files. Adding a kind
touches its own module and its test; this says which listing to regenerate."""
from __future__ import annotations

import shutil

from harness import listings


def test_the_listings_are_up_to_date():
    assert listings.stale() == [], "run: python -m harness.listings"


def test_a_stale_listing_is_found_and_rewritten(tmp_path):
    for rel in ("docs/faults.md", "docs/captures.md", "vscode-client/schemas/scenario.schema.json"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(listings.REPO / rel, tmp_path / rel)
    doc = tmp_path / "docs" / "faults.md"
    doc.write_text(doc.read_text().replace("| delay |", "| delayed |"))
    (tmp_path / "vscode-client/schemas/scenario.schema.json").write_text("{}")
    assert sorted(p.name for p in listings.stale(tmp_path)) == ["faults.md", "scenario.schema.json"]
    for p, text in listings.listings(tmp_path).items():
        p.write_text(text)
    assert listings.stale(tmp_path) == []
    assert "| delay | add latency" in doc.read_text()
