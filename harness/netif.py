"""This machine's network interfaces: the address a scenario's named interface has.

A scenario names an interface (load.master.interface, load.target.publish), never an address:
the same file then works on every machine of a team, and nothing binds to every address."""
from __future__ import annotations

import socket

import psutil

from harness.errors import HarnessError


def interface_address(name: str, where: str) -> str:
    """The first IPv4 address of interface `name`, or a HarnessError listing those there are."""
    addrs = psutil.net_if_addrs()
    ipv4 = [a.address for a in addrs.get(name, ()) if a.family == socket.AF_INET]
    if ipv4:
        return ipv4[0]
    have = ", ".join(f"{n} ({a})" for n, a in sorted(_ipv4_of(addrs).items())) or "none"
    raise HarnessError(f"network interface '{name}' " + ("has no IPv4 address" if name in addrs else "does not exist"),
                       where=where, seen=f"interfaces with IPv4 addresses: {have}",
                       hint="name the interface the other machines reach this one on (`ip -brief addr`)")


def _ipv4_of(addrs: dict) -> dict[str, str]:
    out = {}
    for n, entries in addrs.items():
        v4 = [a.address for a in entries if a.family == socket.AF_INET]
        if v4:
            out[n] = v4[0]
    return out
