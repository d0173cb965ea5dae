"""Reading YAML a user gave us without letting it hurt: one loader for topologies, experiments and targets.

``yaml.safe_load`` already refuses to build objects, but three things still get through it: a file so large it
takes minutes, nesting deep enough to overflow Python's stack (a traceback instead of a message), and an alias
bomb ("billion laughs": a few hundred bytes whose anchors expand to billions of values the moment anything walks
them). :func:`load_yaml` bounds all three and reports each as one line naming the file.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["load_yaml", "check_shape", "YamlRefused", "MAX_BYTES", "MAX_VALUES", "MAX_ALIASES", "MAX_DEPTH"]

MAX_BYTES = 4 * 1024 * 1024
MAX_VALUES = 200_000  # values reachable once aliases are expanded; a real topology or experiment has hundreds
MAX_ALIASES = 1_000
MAX_DEPTH = 64


class YamlRefused(ValueError):
    """The text is not YAML we accept; the message is one line and names the source."""


class _Loader(yaml.SafeLoader):
    """SafeLoader counting aliases as it composes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise YamlRefused(f"more than {MAX_ALIASES} aliases (*name): refused as a possible YAML bomb")
        return super().compose_node(parent, index)


def _shape_problem(data: Any) -> str | None:
    """Walk ``data`` as a consumer would (shared values counted each time), without recursion, and say what is
    too big: the values once aliases are expanded, or the nesting depth (later readers recurse)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    seen = 0
    while stack:
        value, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            return (f"expands to more than {MAX_VALUES:,} values once its aliases are followed (a YAML bomb?); "
                    "write the values out")
        if depth > MAX_DEPTH:
            return f"nested more than {MAX_DEPTH} levels deep"
        if isinstance(value, dict):
            stack.extend((k, depth + 1) for k in value)
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list | tuple):
            stack.extend((v, depth + 1) for v in value)
    return None


def check_shape(data: Any, source: str) -> Any:
    """The same bounds for data parsed otherwise (JSON): :class:`YamlRefused` when too big or too deep."""
    problem = _shape_problem(data)
    if problem is not None:
        raise YamlRefused(f"{source}: {problem}")
    return data


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def load_yaml(text: str, source: str) -> Any:
    """Parse ``text`` (from ``source``, named in errors); raise :class:`YamlRefused` with one line otherwise."""
    if len(text) > MAX_BYTES:
        raise YamlRefused(f"{source}: {len(text):,} characters, more than the {MAX_BYTES:,} a topology, experiment "
                          "or target may have")
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # the reader checks the characters here already
        data = loader.get_single_data()
    except YamlRefused as exc:
        raise YamlRefused(f"{source}: {exc}") from None
    except RecursionError:
        raise YamlRefused(f"{source}: nested more than {MAX_DEPTH} levels deep") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = _one_line(getattr(exc, "problem", None) or exc)
        raise YamlRefused(f"{source}: YAML syntax error{where}: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()
    problem = _shape_problem(data)
    if problem is not None:
        raise YamlRefused(f"{source}: {problem}")
    return data
