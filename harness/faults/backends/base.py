"""What a backend declares about itself: the host capabilities its faults need (names of
harness.faults.capabilities.PROBES) and whether its faults share run-wide objects."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backend:
    """One backend's declaration.

    needs:        capabilities every fault on this backend needs
    peer_egress:  more, for a fault scoped to a peer that has an egress side (egress, both)
    inbound:      more, for a fault with an ingress side (ingress, both)
    shared:       its faults share objects created once per run and interface (a root qdisc):
                  FaultController.prepare creates them before the load starts
    """
    name: str
    needs: tuple[str, ...]
    shared: bool = False
    peer_egress: tuple[str, ...] = ()
    inbound: tuple[str, ...] = ()

    def needs_for(self, direction: str, has_peer: bool) -> list[str]:
        """Capabilities one fault needs, in order, without repeats (a kind may add its own:
        registry.Kind.backend_needs)."""
        out = list(self.needs)
        if has_peer and direction != "ingress":
            out += self.peer_egress
        if direction in ("ingress", "both"):
            out += self.inbound
        return list(dict.fromkeys(out))

    @property
    def all_needs(self) -> tuple[str, ...]:
        """Every capability some fault on this backend needs."""
        return tuple(dict.fromkeys([*self.needs, *self.peer_egress, *self.inbound]))
