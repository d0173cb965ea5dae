"""A Kubernetes target: which deployment to attach to, how to reach its service and its Prometheus.

Validated with pydantic when added and every time it is read, so a hand-edited file fails with one line
naming the field. Light on purpose (no ``kubernetes`` import): the command line reads targets at start.
"""

from __future__ import annotations

import re
import time
from string import Template
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import EngineError
from engines.kubernetes.labels import FORBIDDEN_NAMESPACES, parse_selector
from engines.targets import TARGET_NAME_RE

__all__ = ["KubeTarget", "RequestShape", "LoadShape", "DEFAULT_QUERIES", "DEFAULT_ZONE_LABEL", "parse_target"]

DEFAULT_ZONE_LABEL = "topology.kubernetes.io/zone"

#: PromQL per metric name; ``${namespace}`` is replaced by the target's namespace, escaped for PromQL.
#: kube-state-metrics for the pods, and the common HTTP server metric names for the service.
DEFAULT_QUERIES: dict[str, str] = {
    "k8s_pods_ready": 'sum(kube_pod_status_ready{namespace="${namespace}",condition="true"})',
    "k8s_pods_not_ready": 'sum(kube_pod_status_ready{namespace="${namespace}",condition!="true"})',
    "k8s_container_restarts": 'sum(kube_pod_container_status_restarts_total{namespace="${namespace}"})',
    "k8s_http_requests_per_s": 'sum(rate(http_requests_total{namespace="${namespace}"}[1m]))',
    "k8s_http_errors_per_s": 'sum(rate(http_requests_total{namespace="${namespace}",code=~"5.."}[1m]))',
    "k8s_http_p99_s": 'histogram_quantile(0.99, sum by (le) '
                      '(rate(http_request_duration_seconds_bucket{namespace="${namespace}"}[1m])))',
}
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_METRIC = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_PLACEHOLDERS = ("task", "session", "turn", "work_ms", "client_region")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _http_url(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an http(s) URL such as http://agents.example:8080, not {value!r}")
    return value.rstrip("/")


class RequestShape(_Model):
    """One request the load generator sends to the service: method, path, headers and a JSON body whose
    string values may hold ``{task}``, ``{session}``, ``{turn}``, ``{work_ms}``, ``{client_region}``."""

    method: Literal["GET", "POST", "PUT"] = "POST"
    path: str = "/task"
    headers: dict[str, str] = Field(default_factory=dict)
    body: dict[str, Any] | None = Field(default_factory=lambda: {
        "task": "{task}", "session": "{session}", "turn": "{turn}", "work_ms": "{work_ms}",
        "client_region": "{client_region}"})
    ok_status: list[int] = Field(default_factory=lambda: list(range(200, 300)), min_length=1)
    #: Fields of a JSON reply naming the agent and the region that served (empty when absent).
    agent_field: str = "agent"
    region_field: str = "region"
    #: A reply field holding the session's turn count (session memory check); empty to skip the check.
    turn_field: str = "turn"

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"path must start with '/', not {value!r}")
        return value

    @field_validator("ok_status")
    @classmethod
    def _codes(cls, value: list[int]) -> list[int]:
        bad = [c for c in value if not 100 <= c <= 599]
        if bad:
            raise ValueError(f"HTTP status {bad[0]} is outside 100..599")
        return value


class LoadShape(_Model):
    """The workload: open-loop Poisson arrivals, seeded, as the lab's clients send them."""

    tasks_per_s: float = Field(default=10.0, gt=0, le=10_000)
    sessions: int = Field(default=100, ge=1, le=1_000_000)
    work_ms: float = Field(default=80.0, ge=0, le=60_000)
    timeout_s: float = Field(default=3.0, gt=0, le=120)
    client_region: str = Field(default="external", pattern=r"^[a-z][a-z0-9-]{0,30}$")
    max_in_flight: int = Field(default=256, ge=1, le=10_000)


class KubeTarget(_Model):
    """A deployment on Kubernetes that Aftershock attaches to (it never creates the user's workload)."""

    engine: Literal["kubernetes"] = "kubernetes"
    name: str
    kube_context: str = Field(min_length=1)
    namespace: str
    selector: str
    hub_selector: str | None = None
    zone_label: str = DEFAULT_ZONE_LABEL
    service_url: str | None = None
    prometheus_url: str | None = None
    queries: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_QUERIES))
    request: RequestShape = RequestShape()
    load: LoadShape = LoadShape()
    grace_period_s: int = Field(default=0, ge=0, le=3600)
    created_at: float = Field(default_factory=time.time)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not TARGET_NAME_RE.match(value):
            raise ValueError("use 1-40 lowercase letters, digits and '-', starting and ending with a letter or digit")
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not _DNS_LABEL.match(value):
            raise ValueError(f"{value!r} is not a namespace name (lowercase DNS label)")
        if value in FORBIDDEN_NAMESPACES:
            raise ValueError(f"{value} is never a chaos target; deploy the agents in a namespace of their own")
        return value

    @field_validator("selector", "hub_selector")
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_selector(value)
            except EngineError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("zone_label")
    @classmethod
    def _zone_label(cls, value: str) -> str:
        try:
            (req,) = parse_selector(value, "zone label")
        except (EngineError, ValueError):
            raise ValueError(f"{value!r} is not a label key") from None
        if req.operator != "Exists":
            raise ValueError(f"{value!r} is not a label key")
        return value

    @field_validator("service_url")
    @classmethod
    def _service(cls, value: str | None) -> str | None:
        return _http_url(value, "service_url")

    @field_validator("prometheus_url")
    @classmethod
    def _prometheus(cls, value: str | None) -> str | None:
        return _http_url(value, "prometheus_url")

    @field_validator("queries")
    @classmethod
    def _queries(cls, value: dict[str, str]) -> dict[str, str]:
        for name, query in value.items():
            if not _METRIC.match(name):
                raise ValueError(f"{name!r} is not a metric name (letters, digits, '_' and ':')")
            if not query.strip():
                raise ValueError(f"query of {name} is empty")
            try:
                Template(query).substitute(namespace="x")
            except (KeyError, ValueError) as exc:
                raise ValueError(f"query of {name}: only ${{namespace}} may be substituted ({exc})") from None
        return value

    @model_validator(mode="after")
    def _body(self) -> KubeTarget:
        for key, value in (self.request.body or {}).items():
            if isinstance(value, str):
                try:
                    value.format(**{p: "" for p in _PLACEHOLDERS})
                except (KeyError, IndexError, ValueError):
                    raise ValueError(f"request.body.{key}: placeholders are {', '.join(_PLACEHOLDERS)} "
                                     f"in braces, not {value!r}") from None
        return self

    def pod_selector(self, role: str = "agent") -> str:
        """The user's selector for a role (hubs: ``hub_selector``)."""
        if role == "hub":
            if not self.hub_selector:
                raise EngineError(f"target {self.name} has no hub selector (--hub-selector)")
            return self.hub_selector
        return self.selector

    def to_file(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def parse_target(data: dict[str, Any], source: str) -> KubeTarget:
    """Validate a target's mapping; one line naming the field on failure."""
    try:
        return KubeTarget.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field (see docs/engines.md)"
        raise EngineError(f"{source}: {loc}: {msg}") from None
