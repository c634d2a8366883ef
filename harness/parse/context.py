"""What a section parser knows about the rest of the scenario while it parses."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ParseContext:
    file: str                        # the scenario file, as given
    scenario_dir: Path               # relative paths in the scenario resolve against this
    services: tuple[str, ...]        # service names from the compose file(s)
    phase_names: tuple[str, ...]     # phase names in order ("main" when the scenario has none)
    allow_external_targets: bool     # the scenario's explicit opt-in for non-loopback targets

    def resolve(self, path: str) -> Path:
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
