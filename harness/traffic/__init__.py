"""Production traffic files (access logs, JSON lines, HAR): read, named, filtered and timed for
replay (load.model: replay) and summarized (`harness traffic`)."""
