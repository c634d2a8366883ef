"""The report of a run: summary.json (data, built by summary.py), report.html and junit.xml
(renderings of it and of the judging in harness/judge). harness.report.writer writes them;
this package's modules are imported where they are used, so that parsing a scenario
(harness.judge.expect, which formats with report.units) loads none of the renderers."""
