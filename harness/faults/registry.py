"""The fault-kind registry: one small class per kind, registered by name."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from harness.faults.steps import Plan

_KINDS: dict[str, Kind] = {}


class Kind:
    """One fault kind.

    name:       the `kind:` value in a scenario
    network:    True for faults on traffic (they accept peer and direction)
    backends:   backend names in order of preference for `backend: auto`
    default_direction: direction when the scenario gives none
    resource:   True for faults on the container's resources (CPU, memory): the report's
                "squeezed" cause looks for them
    backend_needs: backend -> host capabilities this kind needs there beyond the backend's own
                (names of capabilities.PROBES)
    example:    typical parameters, for asking the kind which backends serve it (harness doctor)
    params_doc: its parameters in one line for docs/faults.md's table (name=default, ...)
    units:      parameter -> its unit, for reports: duration (seconds), size (bytes), bits (per
                second), percent; a parameter not listed is a plain number or text
    """

    name: ClassVar[str] = ""
    network: ClassVar[bool] = True
    backends: ClassVar[tuple[str, ...]] = ()
    default_direction: ClassVar[str] = "egress"
    directions: ClassVar[tuple[str, ...]] = ("egress", "ingress", "both")
    params_schema: ClassVar[dict[str, Any]] = {}
    summary: ClassVar[str] = ""
    params_doc: ClassVar[str] = ""
    resource: ClassVar[bool] = False
    backend_needs: ClassVar[dict[str, tuple[str, ...]]] = {}
    example: ClassVar[dict[str, Any]] = {}
    units: ClassVar[dict[str, str]] = {}

    def parse(self, params: dict, node) -> dict:
        """Read the kind's own parameters from `params` (key -> Node); return plain values."""
        raise NotImplementedError

    def unsupported(self, backend: str, params: dict, direction: str) -> str | None:
        """Why `backend` cannot do this fault with these parameters, or None if it can."""
        return None

    def proxy(self, params: dict):
        """The proxy backend's behaviour for this kind (a harness.faults.proxy.Behaviour)."""
        raise NotImplementedError(f"the proxy cannot do {self.name}")

    def build(self, backend: str, spec, target) -> Plan:
        """The plan (do steps + undo steps) for this fault on `backend`."""
        raise NotImplementedError


def register(cls: type[Kind]) -> type[Kind]:
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _KINDS[cls.name] = cls()
    return cls


def kinds() -> dict[str, Kind]:
    """All registered kinds by name (importing the kind modules on first use)."""
    if not _KINDS:
        from harness.faults import kinds as _k  # registers every kind
        _k.load_all()
    return dict(_KINDS)


def get(name: str) -> Kind | None:
    return kinds().get(name)
