"""pprof profiles: loading (protobuf library, gzip or not) and per-line aggregation.

    from rundir.pprof import load_profile, ProfileError, line_costs, function_costs
    prof = load_profile("cpu.pb.gz")
    costs = line_costs(prof, prof.default_index, is_own=lambda f: f.startswith("/src/"))

Pure functions, no I/O besides reading the file; harness/ may import this package.
"""
from rundir.pprof.aggregate import (
    FuncCost,
    LineCost,
    Neighbours,
    function_costs,
    line_costs,
    neighbours,
    neighbours_ready,
    own_costs,
)
from rundir.pprof.model import Profile, ProfileError, ProfileTooLarge, implausible, load_profile

__all__ = [
    "FuncCost",
    "LineCost",
    "Neighbours",
    "Profile",
    "ProfileError",
    "ProfileTooLarge",
    "function_costs",
    "implausible",
    "line_costs",
    "load_profile",
    "neighbours",
    "neighbours_ready",
    "own_costs",
]
