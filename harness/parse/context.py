"""What a section parser knows about the rest of the scenario while it parses."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ParseContext:
    file: str                        # the scenario file, as given
    scenario_dir: Path               # relative paths in the scenario resolve against this
    services: tuple[str, ...]        # service names from the compose file(s)
    phase_names: tuple[str, ...]     # phase names in order ("main" when the scenario has none)
    allow_external_targets: bool     # the scenario's explicit opt-in for non-loopback targets
    allow_host_namespaces: bool = False   # opt-in: network faults on services sharing the host's namespaces
    # service -> why it shares the host's namespaces ("network_mode: host at compose.yml:7")
    host_access: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # service -> container ports the harness publishes on 127.0.0.1 (None: not known yet)
    ports: dict[str, tuple[int, ...]] | None = None

    def resolve(self, path) -> Path:
        """A path relative to the scenario's folder; given the Node, a path the system cannot
        look up (NUL byte, unknown ~user, too long) is an error at its place."""
        if not isinstance(path, str):
            return path.as_path(self.scenario_dir)
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.scenario_dir / p).resolve()

    def check_service(self, node) -> str:
        """Read a service name from `node`, failing with the list of known services."""
        import difflib

        name = node.as_str()
        if name not in self.services:
            close = difflib.get_close_matches(name, self.services, n=1, cutoff=0.6)
            raise node.error(f"unknown service '{name}'",
                             seen=f"services in the compose file: {', '.join(self.services) or 'none'}",
                             hint=f"did you mean '{close[0]}'?" if close else
                             "use a service name from the compose file")
        return name
