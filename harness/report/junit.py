"""junit.xml: one test case per expectation check (and one for the run itself, whose system-out
carries the verdict), for CI."""
from __future__ import annotations

from xml.etree import ElementTree as ET

from harness.report import verdict_view


def render(summary: dict) -> str:
    checks = (summary.get("expect") or {}).get("checks") or []
    res = summary.get("result") or {}
    suite = ET.Element("testsuite", name=f"harness.{summary.get('scenario') or 'run'}")
    props = ET.SubElement(suite, "properties")   # how the run ended, as manifest.json says
    for key in ("status", "exit_code", "reason"):
        ET.SubElement(props, "property", name=key, value="" if res.get(key) is None else str(res[key]))
    run_case = ET.SubElement(suite, "testcase", classname="run", name="run completed")
    failures = 0
    if res.get("status") not in (None, "completed"):
        failures += 1
        ET.SubElement(run_case, "failure", message=f"run {res.get('status')}: {res.get('reason') or ''}")
    story = verdict_view.text_lines(summary)    # the verdict, one line per finding
    if story:
        ET.SubElement(run_case, "system-out").text = "\n".join(story) + "\n"
    for c in checks:
        case = ET.SubElement(suite, "testcase", classname=f"expect.{c.get('phase') or 'run'}",
                             name=f"{c['phase']}: {c['name']}")
        if c.get("skipped"):
            ET.SubElement(case, "skipped", message=c["message"])
        elif not c["passed"]:
            failures += 1
            fail = ET.SubElement(case, "failure", message=c["message"])
            fail.text = (f"phase: {c['phase']}\ncheck: {c['name']}\nobserved: {c.get('observed')}\n"
                         f"limit: {c.get('limit')}\nscenario: {c.get('where')}\n")
        else:
            ET.SubElement(case, "system-out").text = c["message"]
    for f in summary.get("capture_failures") or []:
        ET.SubElement(run_case, "system-err").text = f"capture failed: {f.get('detail')}"
    suite.set("tests", str(1 + len(checks)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(sum(1 for c in checks if c.get("skipped"))))
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
