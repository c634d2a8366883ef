"""Load generation: the `load:` section (spec), the engine-side runner, and the child worker.

The engine imports only `spec` and `runner`; Locust (and with it gevent's monkey-patching)
lives only in the child process started from `runner` (`python -m harness.load.worker`).
"""
