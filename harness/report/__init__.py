"""The report of a run: summary.json (data), report.html and junit.xml (renderings of it).
harness.report.writer writes them; this package's modules are imported where they are used,
so that parsing a scenario (harness.report.expect) loads none of the renderers."""
