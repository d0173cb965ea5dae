"""Label selectors and the labels Aftershock puts on what it touches, as pure functions.

Why our own parser: the target's selectors are checked when the target is added (one line naming the bad
part), combined with the opt-in label for every list call, matched against a pod's labels for the safety
re-check before a deletion, and translated into Chaos Mesh's ``labelSelectors``/``expressionSelectors``.
The official client only passes selector strings through to the API server, so none of this is there.

Grammar (the Kubernetes one, ``kubectl get -l``): comma-separated requirements, each ``key=value``,
``key==value``, ``key!=value``, ``key in (a,b)``, ``key notin (a,b)``, ``key`` (exists) or ``!key``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from core.errors import EngineError

__all__ = [
    "OPT_IN_LABEL",
    "OPT_IN_VALUE",
    "MANAGED_LABEL",
    "MANAGED_VALUE",
    "TARGET_LABEL",
    "RUN_LABEL",
    "CORDON_RUN_LABEL",
    "CORDON_TARGET_LABEL",
    "FORBIDDEN_NAMESPACES",
    "Requirement",
    "parse_selector",
    "matches",
    "with_opt_in",
    "to_chaos_mesh",
    "check_label_value",
]

#: Only pods and namespaces carrying this label (with this value) are ever targeted.
OPT_IN_LABEL = "aftershock.io/chaos"
OPT_IN_VALUE = "enabled"
#: Every object Aftershock creates carries these: who made it, for which target, in which run.
MANAGED_LABEL = "app.kubernetes.io/managed-by"
MANAGED_VALUE = "aftershock"
TARGET_LABEL = "aftershock.io/target"
RUN_LABEL = "aftershock.io/run-id"
#: A node Aftershock cordoned carries these until it is uncordoned (so a crashed run's cordons are found).
CORDON_RUN_LABEL = "aftershock.io/cordoned-by-run"
CORDON_TARGET_LABEL = "aftershock.io/cordoned-for"
#: Never targeted, whatever labels they carry.
FORBIDDEN_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})

_NAME = r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?"
_KEY_RE = re.compile(rf"^([a-z0-9]([a-z0-9.-]{{0,251}}[a-z0-9])?/)?{_NAME}$")
_VALUE_RE = re.compile(rf"^({_NAME})?$")
_SET_RE = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*(?:(==|=|!=)\s*([^\s,()]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


@dataclass(frozen=True)
class Requirement:
    """One requirement of a selector: ``key``, an operator (``In``, ``NotIn``, ``Exists``,
    ``DoesNotExist``, as the API's ``matchExpressions`` spell them) and values."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def holds(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "Exists":
            return present
        if self.operator == "DoesNotExist":
            return not present
        if self.operator == "In":
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values  # NotIn

    def text(self) -> str:
        if self.operator == "Exists":
            return self.key
        if self.operator == "DoesNotExist":
            return f"!{self.key}"
        if self.operator == "In" and len(self.values) == 1:
            return f"{self.key}={self.values[0]}"
        if self.operator == "NotIn" and len(self.values) == 1:
            return f"{self.key}!={self.values[0]}"
        word = "in" if self.operator == "In" else "notin"
        return f"{self.key} {word} ({','.join(self.values)})"


def check_label_value(value: str, what: str) -> str:
    """``value`` when it is a valid label value (63 characters at most, alphanumerics, ``-_.``)."""
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise EngineError(f"{what} {value!r} is not a valid Kubernetes label value "
                          "(at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric)")
    return value


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def parse_selector(text: str, what: str = "selector") -> tuple[Requirement, ...]:
    """The requirements of a label selector; :class:`EngineError` names the part that is wrong."""
    if not text or not text.strip():
        raise EngineError(f"{what} is empty; give a label selector such as 'app=agent'")
    out: list[Requirement] = []
    for part in _split(text):
        m = _SET_RE.match(part)
        if m is None or (m.group(1) and (m.group(3) or m.group(5))):
            raise EngineError(f"{what} {text!r}: cannot read {part.strip()!r}; expected key=value, key!=value, "
                              "key in (a,b), key notin (a,b), key or !key")
        bang, key, op, value, word, values = m.groups()
        if not _KEY_RE.match(key):
            raise EngineError(f"{what} {text!r}: {key!r} is not a valid label key")
        if op:
            vals: tuple[str, ...] = (value,)
        elif word:
            vals = tuple(v.strip() for v in values.split(",") if v.strip())
            if not vals:
                raise EngineError(f"{what} {text!r}: {key} {word} () needs at least one value")
        else:
            vals = ()
        for v in vals:
            check_label_value(v, f"{what} {text!r}: value")
        if bang:
            out.append(Requirement(key, "DoesNotExist"))
        elif op in ("=", "=="):
            out.append(Requirement(key, "In", vals))
        elif op == "!=":
            out.append(Requirement(key, "NotIn", vals))
        elif word == "in":
            out.append(Requirement(key, "In", vals))
        elif word == "notin":
            out.append(Requirement(key, "NotIn", vals))
        else:
            out.append(Requirement(key, "Exists"))
    return tuple(out)


def matches(requirements: tuple[Requirement, ...], labels: Mapping[str, str] | None) -> bool:
    """Whether a label set satisfies every requirement."""
    given = dict(labels or {})
    return all(r.holds(given) for r in requirements)


def with_opt_in(selector: str) -> str:
    """``selector`` plus the opt-in requirement: the string every pod list call sends to the API server."""
    reqs = [r for r in parse_selector(selector) if r.key != OPT_IN_LABEL]
    reqs.append(Requirement(OPT_IN_LABEL, "In", (OPT_IN_VALUE,)))
    return ",".join(r.text() for r in reqs)


def to_chaos_mesh(selector: str) -> dict[str, object]:
    """Chaos Mesh's pod selector fields for ``selector`` with the opt-in label: equality requirements go to
    ``labelSelectors``, the rest to ``expressionSelectors`` (Kubernetes ``matchExpressions``)."""
    labels: dict[str, str] = {}
    expressions: list[dict[str, object]] = []
    for r in parse_selector(with_opt_in(selector)):
        if r.operator == "In" and len(r.values) == 1 and r.key not in labels:
            labels[r.key] = r.values[0]
        else:
            expr: dict[str, object] = {"key": r.key, "operator": r.operator}
            if r.values:
                expr["values"] = list(r.values)
            expressions.append(expr)
    out: dict[str, object] = {"labelSelectors": labels}
    if expressions:
        out["expressionSelectors"] = expressions
    return out
