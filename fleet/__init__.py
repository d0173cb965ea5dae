"""The embedded lab: real agent deployments on this machine, in three process tiers.

- **Library API** (this package's top level, what other packages import): ``lab`` (bring labs up and down,
  read their status, drive their control API), ``engine`` (the lab as a ``core.engine.Engine``), ``topology``
  (the topology model and its built-ins), ``plan`` (which processes a topology becomes, for dry runs) and
  ``presets`` (named timing presets). It never imports process code: it launches ``python -m fleet.supervisor``
  by name and reads the lab directory.
- **The supervisor process** (``fleet.supervisor``): lifecycle, node records, faults, the control API, the
  link layer (egress proxies).
- **Child processes** (``fleet.agents``): nodes hosting agents, hubs, the load generator, SWIM, sessions.

The tiers are pinned by an import-linter contract in pyproject.toml.
"""
