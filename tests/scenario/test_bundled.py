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
