"""Topology files: regions, nodes, agents, links, workload, healing and membership, validated on load.

A topology is data (YAML); the lab's deployment classes read this model. Validation errors become one
line naming the file, the field and what is wrong (``TopologyError``, exit code 2 at the CLI).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import TopologyError
from core.yamlsafe import YamlRefused, load_yaml
from fleet.capacity import Capacity, capacity_of_slots, nominal_capacity
from fleet.nodeclasses import CLASS_NAME_PATTERN, DEFAULT_CLASS, RESERVED_CLASS_NAMES, NodeClass
from fleet.presets import HEALTH_PRESETS, MEMBERSHIP_PRESETS
from fleet.shapes import Constant, LoadShape

__all__ = [
    "Topology",
    "Region",
    "Workload",
    "WorkTime",
    "Healing",
    "Membership",
    "Health",
    "Hub",
    "Standby",
    "NodeClass",
    "Autoscale",
    "BUILTIN_DIR",
    "builtin_names",
    "load_topology",
    "parse_topology",
]

BUILTIN_DIR = Path(__file__).parent / "topologies"
Kind = Literal["centralized", "decentralized", "hybrid"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Region(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    nodes: int = Field(ge=0, le=200)
    # nodes of a class of ``node_classes`` (fleet/nodeclasses.py), beside the ``nodes`` of the default class
    classes: dict[str, int] = Field(default_factory=dict)

    @field_validator("classes")
    @classmethod
    def _counts(cls, value: dict[str, int]) -> dict[str, int]:
        for name, count in value.items():
            if not 0 <= count <= 200:
                raise ValueError(f"{name}: count {count} is outside 0..200")
        return value

    @property
    def class_nodes(self) -> int:
        return sum(self.classes.values())


class WorkTime(_Model):
    """Work time of one task, drawn by the client so every topology gets the same work."""
    distribution: Literal["constant", "uniform", "lognormal", "exponential"] = "lognormal"
    median_ms: float = Field(default=80.0, gt=0, le=60_000)
    sigma: float = Field(default=0.5, ge=0, le=3)
    max_ms: float = Field(default=1000.0, gt=0, le=600_000)


class Workload(_Model):
    """What the clients ask: a base rate (``tasks_per_s``, or ``utilization``: a share of the topology's nominal
    capacity, resolved to ``tasks_per_s`` on load), moved over time by ``shape`` (fleet/shapes.py)."""
    tasks_per_s: float = Field(default=40.0, gt=0, le=100_000)
    utilization: float | None = Field(default=None, gt=0, le=10)
    shape: LoadShape = Constant()
    client_split: dict[str, float] = Field(default_factory=dict)
    work_time: WorkTime = WorkTime()
    sessions: int = Field(default=300, ge=1, le=1_000_000)
    timeout_s: float = Field(default=3.0, gt=0, le=120)
    max_attempts: int = Field(default=3, ge=1, le=10)

    @field_validator("client_split")
    @classmethod
    def _split_positive(cls, value: dict[str, float]) -> dict[str, float]:
        for region, share in value.items():
            if share < 0:
                raise ValueError(f"share of {region!r} is negative")
        if value and sum(value.values()) <= 0:
            raise ValueError("shares add up to 0")
        return value


class Healing(_Model):
    """Who brings dead agents back: ``restarts: lab`` (default) the deployment's own orchestrator (hub restarts,
    peers spawning replacements); ``restarts: engine`` the engine's own machinery instead (Ray's actor restarts,
    ``--engine ray``), so a run measures the engine's recovery against the lab's."""
    restart_delay_s: float = Field(default=3.0, ge=0, le=3600)
    migrate: bool = True
    restarts: Literal["lab", "engine"] = "lab"


class _WithPreset(_Model):
    """A block whose ``preset`` names a row of a preset table; explicit fields override the preset."""
    _presets: ClassVar[dict[str, dict[str, float | int]]] = {}
    preset: Literal["lan", "wan", "lab", "test"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset") in cls._presets:
            return {**cls._presets[data["preset"]], **data}
        return data


class Membership(_WithPreset):
    """SWIM parameters (decentralized): probe period and timeout, indirect probes, suspicion multiplier."""
    _presets: ClassVar[dict[str, dict[str, float | int]]] = MEMBERSHIP_PRESETS
    probe_period_s: float = Field(default=0.5, gt=0, le=60)
    probe_timeout_s: float = Field(default=0.25, gt=0, le=60)
    indirect_probes: int = Field(default=2, ge=0, le=10)
    suspicion_mult: float = Field(default=2, gt=0, le=20)

    @model_validator(mode="after")
    def _timeout_below_period(self) -> Membership:
        if self.probe_timeout_s >= self.probe_period_s:
            raise ValueError("probe_timeout_s must be smaller than probe_period_s")
        return self


class Health(_WithPreset):
    """Hub health checks (centralized, hybrid): interval, timeout and consecutive failures to declare dead."""
    _presets: ClassVar[dict[str, dict[str, float | int]]] = HEALTH_PRESETS
    interval_s: float = Field(default=0.5, gt=0, le=60)
    timeout_s: float = Field(default=0.25, gt=0, le=60)
    failure_threshold: int = Field(default=3, ge=1, le=100)


class Standby(_Model):
    region: str
    failover_delay_s: float = Field(default=5.0, ge=0, le=3600)


class Hub(_Model):
    region: str | None = None
    standby: Standby | None = None


class Autoscale(_Model):
    """An autoscaling policy, after Kubernetes' HorizontalPodAutoscaler: every decision period the deployment's own
    orchestrator (a hub; in a mesh, the leader peer) computes ``desired = ceil(agents x signal / target)``, and
    acts only when the recommendation held for the delay (scale up to the smallest of the last
    ``scale_up_delay_s``, down to the largest of the last ``scale_down_delay_s``). Agents come and go a whole node
    (``agents_per_node`` agents) at a time; ``min_agents`` and ``max_agents`` bound the whole topology (the lab
    refuses beyond them, like a cloud quota). Signal ``utilization``: the demand on the slots, (tasks running +
    tasks queued + tasks shed per second x the mean task time) over slots (fleet/agents/autoscale.py)."""
    min_agents: int = Field(ge=1, le=100_000)
    max_agents: int = Field(ge=1, le=100_000)
    signal: Literal["utilization"] = "utilization"
    target: float = Field(default=0.6, gt=0, le=1)
    tolerance: float = Field(default=0.1, ge=0, lt=1)  # HPA's: no change while |signal/target - 1| <= tolerance
    scale_up_delay_s: float = Field(default=3.0, ge=0, le=3600)
    scale_down_delay_s: float = Field(default=30.0, ge=0, le=3600)
    max_step_nodes: int = Field(default=3, ge=1, le=1000)  # nodes added or removed per decision at most
    drain_s: float = Field(default=2.0, ge=0, le=600)  # a removed node stops taking tasks this long before it exits

    @model_validator(mode="after")
    def _ordered(self) -> Autoscale:
        if self.min_agents > self.max_agents:
            raise ValueError(f"min_agents ({self.min_agents}) is above max_agents ({self.max_agents})")
        return self


class Topology(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    kind: Kind
    description: str = ""
    regions: list[Region] = Field(min_length=1)
    agents_per_node: int = Field(default=3, ge=1, le=100)
    agent_concurrency: int = Field(default=2, ge=1, le=1000)
    # Tasks that may wait for a busy agent's slot, per agent (a hub holds that many per agent it manages);
    # 0 sheds at once. A shed task is answered 429 and recorded ``rejected``; a waiting one is ``queued_s``.
    agent_queue: int = Field(default=0, ge=0, le=10_000)
    latency_ms: dict[str, float] = Field(default_factory=dict)
    workload: Workload = Workload()
    healing: Healing = Healing()
    membership: Membership = Membership()
    health: Health = Health()
    hub: Hub = Hub()
    replication: int = Field(default=2, ge=0, le=10)
    autoscale: Autoscale | None = None
    node_classes: dict[str, NodeClass] = Field(default_factory=dict)  # fleet/nodeclasses.py

    @field_validator("latency_ms")
    @classmethod
    def _latency_keys(cls, value: dict[str, float]) -> dict[str, float]:
        for key, ms in value.items():
            if key.count("/") != 1:
                raise ValueError(f"key {key!r} must be 'SRC/DST' (two region names)")
            if not 0 <= ms <= 10_000:
                raise ValueError(f"{key}: latency {ms} ms is outside 0..10000")
        return value

    @model_validator(mode="after")
    def _classes_known(self) -> Topology:
        """Before ``_consistent``: capacity (and so ``utilization``) needs every class a region names."""
        for name in self.node_classes:
            if name in RESERVED_CLASS_NAMES or not re.match(CLASS_NAME_PATTERN, name):
                raise ValueError(f"node_classes: class name {name!r} must be 1-20 lowercase letters, "
                                 f"not {' or '.join(sorted(RESERVED_CLASS_NAMES))}")
        for i, region in enumerate(self.regions):
            for name in region.classes:
                if name not in self.node_classes:
                    known = ", ".join(sorted(self.node_classes)) or "none declared in node_classes"
                    raise ValueError(f"regions.{i}.classes: unknown node class {name!r} (classes: {known})")
        return self

    @model_validator(mode="after")
    def _consistent(self) -> Topology:
        names = [r.name for r in self.regions]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"regions: duplicate region {sorted(dupes)[0]!r}")
        known = set(names)
        for key in self.latency_ms:
            for part in key.split("/"):
                if part not in known:
                    raise ValueError(f"latency_ms: unknown region {part!r} in {key!r}")
        for region in self.workload.client_split:
            if region not in known:
                raise ValueError(f"workload.client_split: unknown region {region!r}")
        if self.total_nodes == 0:
            raise ValueError("regions: no region has nodes; give at least one region nodes > 0")
        if self.kind == "centralized":
            home = self.hub.region or self.regions[0].name
            if home not in known:
                raise ValueError(f"hub.region: unknown region {home!r}")
            if self.hub.standby and self.hub.standby.region not in known:
                raise ValueError(f"hub.standby.region: unknown region {self.hub.standby.region!r}")
            if self.hub.standby and self.hub.standby.region == home:
                raise ValueError("hub.standby.region: the standby must be in another region than the hub")
        elif self.hub.region or self.hub.standby:
            raise ValueError(f"hub: only centralized topologies place a hub (this one is {self.kind})")
        if self.autoscale is not None:
            a = self.autoscale
            if not a.min_agents <= self.total_agents <= a.max_agents:
                raise ValueError(f"autoscale: the topology starts with {self.total_agents} agents, outside "
                                 f"min_agents..max_agents ({a.min_agents}..{a.max_agents})")
            if a.max_agents - a.min_agents < self.agents_per_node:
                raise ValueError(f"autoscale: min_agents..max_agents ({a.min_agents}..{a.max_agents}) leaves no room "
                                 f"for one node of {self.agents_per_node} agents")
        if self.workload.utilization is not None:
            rate = round(self.workload.utilization * self.capacity().tasks_per_s, 3)
            # A dumped topology carries both (the resolved rate beside its share): that one reloads as it was.
            if "tasks_per_s" in self.workload.model_fields_set and abs(self.workload.tasks_per_s - rate) > 1e-6:
                raise ValueError("workload: give either tasks_per_s or utilization, not both")
            if rate > 100_000:
                raise ValueError(f"workload.utilization: asks {rate:.0f} tasks/s, above the 100000 limit")
            # The model is frozen; the resolved rate replaces the default once, here, at validation.
            object.__setattr__(self, "workload", self.workload.model_copy(update={"tasks_per_s": rate}))
        return self

    def capacity(self) -> Capacity:
        """Nominal capacity: task slots over the mean (capped) work time (fleet/capacity.py)."""
        wt = self.workload.work_time
        if self.node_classes:
            return capacity_of_slots(self.slots_by_region_class(), wt.distribution, wt.median_ms, wt.sigma, wt.max_ms)
        return nominal_capacity({r.name: r.nodes for r in self.regions}, self.agents_per_node,
                                self.agent_concurrency, wt.distribution, wt.median_ms, wt.sigma, wt.max_ms)

    # Node classes (fleet/nodeclasses.py) ---------------------------------------------------
    def node_class(self, name: str | None) -> NodeClass:
        """The class ``name`` (None or ``default``: the topology's own agents, concurrency and a perfect link)."""
        if name in (None, DEFAULT_CLASS):
            return NodeClass(agents_per_node=self.agents_per_node, agent_concurrency=self.agent_concurrency)
        return self.node_classes[str(name)]

    def class_agents(self, name: str | None) -> int:
        return self.node_class(name).agents_per_node or self.agents_per_node

    def class_concurrency(self, name: str | None) -> int:
        return self.node_class(name).agent_concurrency or self.agent_concurrency

    def slots_by_region_class(self) -> dict[str, dict[str, int]]:
        """Task slots per region and class (``default`` for the ``nodes`` of a region)."""
        out: dict[str, dict[str, int]] = {}
        for r in self.regions:
            counts = {DEFAULT_CLASS: r.nodes, **r.classes}
            out[r.name] = {c: n * self.class_agents(c) * self.class_concurrency(c) for c, n in counts.items()}
        return out

    @property
    def churning_classes(self) -> list[str]:
        return sorted(name for name, c in self.node_classes.items() if c.churn is not None)

    # Derived views the deployments use -------------------------------------------------
    @property
    def region_names(self) -> list[str]:
        return [r.name for r in self.regions]

    @property
    def total_nodes(self) -> int:
        return sum(r.nodes + r.class_nodes for r in self.regions)

    @property
    def total_agents(self) -> int:
        per_class = sum(n * self.class_agents(c) for r in self.regions for c, n in r.classes.items())
        return sum(r.nodes for r in self.regions) * self.agents_per_node + per_class

    @property
    def home_region(self) -> str:
        """Where a centralized hub lives (the first region unless ``hub.region`` says otherwise)."""
        return self.hub.region or self.regions[0].name

    def link_latency_ms(self, src: str, dst: str) -> float:
        """One-way latency; ``A/B`` applies both ways unless ``B/A`` is also given."""
        if src == dst:
            return 0.0
        if f"{src}/{dst}" in self.latency_ms:
            return self.latency_ms[f"{src}/{dst}"]
        return self.latency_ms.get(f"{dst}/{src}", 0.0)

    def client_shares(self) -> dict[str, float]:
        """Client share per region, normalised; even over all regions when unspecified."""
        split = self.workload.client_split or {r: 1.0 for r in self.region_names}
        total = sum(split.values())
        return {r: split.get(r, 0.0) / total for r in self.region_names}

    def region_pairs(self) -> list[tuple[str, str]]:
        return list(itertools.permutations(self.region_names, 2))


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def _format_validation(source: str, exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field (check the spelling; see docs/topologies.md)"
    elif err["type"] == "missing":
        msg = "required field is missing"
    more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
    return f"{source}: {loc}: {msg}{more}"


def parse_topology(data: Any, source: str = "<topology>") -> Topology:
    """Validate already-parsed YAML data; ``source`` names the file in error messages."""
    if not isinstance(data, dict):
        raise TopologyError(f"{source}: expected a mapping of fields at the top level, got {type(data).__name__}")
    try:
        return Topology.model_validate(data)
    except ValidationError as exc:
        raise TopologyError(_format_validation(source, exc)) from None


def load_topology(ref: str | Path) -> Topology:
    """Load a built-in topology by name, or a YAML file by path."""
    ref_str = str(ref)
    path = Path(ref_str)
    if not path.suffix and (BUILTIN_DIR / f"{ref_str}.yaml").exists():
        path = BUILTIN_DIR / f"{ref_str}.yaml"
    if not path.exists():
        names = ", ".join(builtin_names())
        raise TopologyError(f"{ref_str}: no such topology file or built-in name (built-ins: {names})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TopologyError(f"{path}: cannot read: {exc}") from None
    try:
        data = load_yaml(text, str(path))  # bounded: size, depth, alias bombs (core/yamlsafe.py)
    except YamlRefused as exc:
        raise TopologyError(str(exc)) from None
    return parse_topology(data, str(path))
