"""Experiments: the library, loading with precise errors, validation before anything breaks.

Experiments are plain Chaos Toolkit experiments. Before a run they are validated with chaoslib and
with our own checks: known providers only (the ``chaos`` extension, unless the caller allows any
provider), argument names and types against the action's signature, and guardrails well formed.
Every problem is one line naming the file and the activity (``ExperimentError``, exit code 2).
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import logging
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaoslib.activity import get_all_activities_in_experiment

from chaos.limits import check_limits
from core.errors import ExperimentError
from core.yamlsafe import YamlRefused, check_shape, load_yaml

__all__ = ["LIBRARY_DIR", "library_names", "resolve_experiment", "load_experiment", "validate_experiment",
           "activities", "PHASES", "Guardrails", "guardrails_of", "LoadedExperiment", "CONTROL_MODULE"]

log = logging.getLogger("chaos.library")

LIBRARY_DIR = Path(__file__).resolve().parent / "experiments"
CONTROL_MODULE = "chaos.control"
EXTENSION_MODULES = ("chaos.actions", "chaos.probes")
# Actions that break things must say what: blast radius is explicit, never "everything" by default.
TARGETED_ACTIONS = {"kill_node", "kill_agent", "pause_node", "stress_node", "churn"}
TARGET_ARGS = {"name", "region", "role", "agent", "count", "percent", "node"}


@dataclass(frozen=True)
class LoadedExperiment:
    name: str
    path: Path
    data: dict[str, Any]
    from_library: bool


@dataclass(frozen=True)
class Guardrails:
    """Stop conditions: abort when availability in the watched regions stays below ``min_availability``
    for ``window_s`` (regions the experiment targets can be excluded: they are expected to suffer)."""

    min_availability: float | None = None
    window_s: float = 10.0
    exclude_regions: tuple[str, ...] = ()


def library_names() -> list[str]:
    return sorted(p.stem for p in LIBRARY_DIR.glob("*.yaml")) + sorted(p.stem for p in LIBRARY_DIR.glob("*.json"))


def resolve_experiment(ref: str) -> tuple[Path, bool]:
    """A library name (file stem in chaos/experiments) or a path; returns (path, from_library)."""
    for suffix in (".yaml", ".json"):
        candidate = LIBRARY_DIR / f"{ref}{suffix}"
        if "/" not in ref and candidate.exists():
            return candidate, True
    path = Path(ref)
    if path.exists() and path.is_file():
        return path, path.resolve().parent == LIBRARY_DIR
    names = ", ".join(library_names()) or "(library is empty)"
    raise ExperimentError(f"{ref}: no such experiment file or library name (library: {names})")


def load_experiment(ref: str, *, allow_any_provider: bool = False) -> LoadedExperiment:
    """Load and validate an experiment; nothing runs."""
    path, from_library = resolve_experiment(ref)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExperimentError(f"{path}: cannot read: {exc}") from None
    if path.suffix == ".json":
        try:
            data = check_shape(json.loads(text), str(path))
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            raise ExperimentError(f"{path}: JSON syntax error at {where}: {exc.msg}") from None
        except RecursionError:
            raise ExperimentError(f"{path}: nested too deeply to read") from None
        except YamlRefused as exc:
            raise ExperimentError(str(exc)) from None
    else:
        try:
            data = load_yaml(text, str(path))  # bounded: size, depth, alias bombs (core/yamlsafe.py)
        except YamlRefused as exc:
            raise ExperimentError(str(exc)) from None
    if not isinstance(data, dict):
        raise ExperimentError(f"{path}: an experiment is a mapping with title, method, ...; got {type(data).__name__}")
    validate_experiment(data, str(path), allow_any_provider=allow_any_provider and not from_library)
    return LoadedExperiment(path.stem, path, data, from_library)


PHASES = ("steady-state-hypothesis", "method", "rollbacks")


def activities(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every activity with where it sits: ('steady-state-hypothesis', a), ('method', a), ('rollbacks', a).

    The walk is chaoslib's own (``get_all_activities_in_experiment``, in its order); only the phase of each
    activity is added here, so the dry run, the reports and the validation list exactly what Chaos Toolkit runs.
    """
    hypothesis = data.get("steady-state-hypothesis") or {}
    counts = (len(hypothesis.get("probes") or []), len(data.get("method") or []), len(data.get("rollbacks") or []))
    phases = [phase for phase, n in zip(PHASES, counts, strict=True) for _ in range(n)]
    walk = get_all_activities_in_experiment({"steady-state-hypothesis": hypothesis or None,
                                             "method": data.get("method") or [],
                                             "rollbacks": data.get("rollbacks") or []})
    return [(phase, a) for phase, a in zip(phases, walk, strict=True) if isinstance(a, dict)]


def _type_ok(value: Any, annotation: Any) -> bool:
    if annotation is inspect.Parameter.empty or annotation is Any:
        return True
    if isinstance(value, str) and "${" in value:
        return True  # a Chaos Toolkit configuration substitution, resolved at run time
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation in (str, bool):
        return isinstance(value, annotation)
    if origin in (list, tuple) or annotation in (list, tuple):
        return isinstance(value, list | tuple)
    if origin is dict or annotation is dict:
        return isinstance(value, dict)
    return True


def _check_activity(activity: dict[str, Any], where: str, source: str, allow_any_provider: bool) -> None:
    name = activity.get("name", "<unnamed>")
    if activity.get("type") == "action" and "ref" in activity:
        return
    provider = activity.get("provider")
    if not isinstance(provider, dict):
        raise ExperimentError(f"{source}: {where} activity {name!r}: missing provider")
    kind, module_name, func_name = provider.get("type"), provider.get("module"), provider.get("func")
    if kind != "python" or module_name not in EXTENSION_MODULES:
        if not allow_any_provider:
            raise ExperimentError(
                f"{source}: {where} activity {name!r}: provider {kind}:{module_name or provider.get('path')} is "
                f"outside the Aftershock extension ({', '.join(EXTENSION_MODULES)}); allowed only for experiment files "
                f"run with --allow-any-provider, never from the library"
            )
        return
    module = importlib.import_module(module_name)
    func = getattr(module, str(func_name), None)
    if func is None or func_name not in getattr(module, "__all__", [func_name]):
        raise ExperimentError(f"{source}: {where} activity {name!r}: unknown function {module_name}.{func_name} "
                              f"(see `aftershock experiments functions` or docs/chaos.md)")
    args = provider.get("arguments") or {}
    if not isinstance(args, dict):
        raise ExperimentError(f"{source}: {where} activity {name!r}: arguments must be a mapping")
    sig = inspect.signature(func)
    try:
        hints = typing.get_type_hints(func)
    except Exception:  # unresolvable annotations: skip the type checks, keep the name checks
        hints = {}
    for arg, value in args.items():
        if arg not in sig.parameters or arg in ("configuration", "secrets"):
            takes = ", ".join(p for p in sig.parameters if p not in ("configuration", "secrets"))
            raise ExperimentError(f"{source}: {where} activity {name!r}: {func_name} has no argument {arg!r} "
                                  f"(it takes: {takes})")
        if not _type_ok(value, hints.get(arg, inspect.Parameter.empty)):
            expected = getattr(hints.get(arg), "__name__", str(hints.get(arg)))
            raise ExperimentError(f"{source}: {where} activity {name!r}: argument {arg!r} should be {expected}, "
                                  f"got {type(value).__name__} {value!r}")
    if module_name == "chaos.actions" and func_name in TARGETED_ACTIONS and not TARGET_ARGS & set(args):
        raise ExperimentError(f"{source}: {where} activity {name!r}: missing target: give {func_name} a name, "
                              f"region, role, count or percent (the blast radius must be explicit)")
    for pname, param in sig.parameters.items():
        if param.default is inspect.Parameter.empty and pname not in args and pname not in ("configuration", "secrets"):
            raise ExperimentError(f"{source}: {where} activity {name!r}: {func_name} needs argument {pname!r}")


def validate_experiment(data: dict[str, Any], source: str, *, allow_any_provider: bool = False) -> None:
    """Raise ``ExperimentError`` with one line for the first problem found."""
    for key in ("title", "description", "method"):
        if key not in data:
            raise ExperimentError(f"{source}: missing required field {key!r}")
    if not isinstance(data["method"], list) or not data["method"]:
        raise ExperimentError(f"{source}: method must be a non-empty list of activities")
    walked = activities(data)
    for where, activity in walked:
        _check_activity(activity, where, source, allow_any_provider)
    check_limits(data, source, walked)
    guardrails_of(data, source)
    from chaoslib.exceptions import ChaosException
    from chaoslib.experiment import ensure_experiment_is_valid

    checked = copy.deepcopy(data)
    checked.pop("controls", None)  # controls are validated when loaded; the recorder is ours
    chaos_logger = logging.getLogger("chaostoolkit")
    level = chaos_logger.level
    chaos_logger.setLevel(logging.CRITICAL)
    try:
        ensure_experiment_is_valid(checked)
    except ChaosException as exc:
        raise ExperimentError(f"{source}: {str(exc).strip().splitlines()[0]}") from None
    finally:
        chaos_logger.setLevel(level)


def guardrails_of(data: dict[str, Any], source: str = "<experiment>") -> Guardrails:
    """Guardrails from the experiment's ``extensions: [{name: aftershock, guardrails: {...}}]``."""
    for ext in data.get("extensions", []) or []:
        if isinstance(ext, dict) and ext.get("name") == "aftershock":
            raw = ext.get("guardrails") or {}
            if not isinstance(raw, dict):
                raise ExperimentError(f"{source}: extensions.aftershock.guardrails must be a mapping")
            try:
                g = Guardrails(
                    min_availability=None if raw.get("min_availability") is None else float(raw["min_availability"]),
                    window_s=float(raw.get("window_s", 10.0)),
                    exclude_regions=tuple(str(r) for r in raw.get("exclude_regions", []) or []),
                )
            except (TypeError, ValueError) as exc:
                raise ExperimentError(f"{source}: extensions.aftershock.guardrails: {exc}") from None
            if g.min_availability is not None and not 0 <= g.min_availability <= 1:
                raise ExperimentError(f"{source}: guardrails.min_availability must be in 0..1")
            if g.window_s <= 0:
                raise ExperimentError(f"{source}: guardrails.window_s must be > 0")
            return g
    return Guardrails()
