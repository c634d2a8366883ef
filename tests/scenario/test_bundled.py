"""Every bundled scenario validates, and the schema accepts what the parser accepts."""
from pathlib import Path

import pytest

from harness.scenario import load_scenario

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.yaml"))


def test_there_are_bundled_scenarios():
    assert any(p.name == "demo.yaml" for p in SCENARIOS)


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_bundled_scenario_validates(path):
    sc = load_scenario(path)
    assert sc.name == path.stem
    assert sc.duration > 0
    assert sc.load is not None


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_schema_accepts_bundled_scenario(path):
    """The schema editors use must not underline a scenario the harness accepts."""
    import jsonschema
    import yaml

    from harness.scenario.schema import scenario_schema

    jsonschema.validate(yaml.safe_load(path.read_text()), scenario_schema())


def test_schema_rejects_unknown_keys():
    import jsonschema
    import yaml

    from harness.scenario.schema import scenario_schema

    doc = yaml.safe_load(SCENARIOS[0].read_text())
    doc["lod"] = {}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, scenario_schema())


@pytest.mark.parametrize("where", ["load", "captures", "expect", "fault"])
def test_schema_sections_come_from_their_parts(where):
    """Each section's schema is the part's own (a fallback `{"type": "object"}` would accept
    anything): a misspelt key inside the section is rejected."""
    import jsonschema
    import yaml

    from harness.scenario.schema import scenario_schema

    doc = yaml.safe_load(next(p for p in SCENARIOS if p.name == "demo.yaml").read_text())
    section = {"load": lambda d: d["load"], "captures": lambda d: d["captures"],
               "expect": lambda d: d["expect"][0], "fault": lambda d: d["phases"][1]["faults"][0]}[where](doc)
    jsonschema.validate(doc, scenario_schema())
    section["rat"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, scenario_schema())


def test_the_readme_scenario_validates():
    """The scenario users copy from the README is a valid one (paths as if it sat in scenarios/)."""
    import re

    from harness.parse.node import load_yaml
    from harness.scenario.model import parse_scenario

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    text = re.search(r"```yaml\n(.*?)```", readme, re.S).group(1)
    sc = parse_scenario(load_yaml(text, "README.md"), SCENARIOS[0].parent / "readme-example.yaml", text)
    assert sc.name == "demo" and [p.name for p in sc.phases] == ["baseline", "slow-store"]
    assert sc.expect.rules
