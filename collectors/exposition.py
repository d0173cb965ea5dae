"""A fast path for the Prometheus text exposition format (0.0.4), with prometheus_client as the reference.

Why this exists: in ``bench/bench_collectors.py`` (30 targets of 126 samples, 1 s interval) the embedded
collector used 3.8-4.2x the CPU of Prometheus per million samples (goal: 3x), and 60-65 % of it was
``prometheus_client.parser.text_string_to_metric_families`` at ~35 us per line. We prefer the library, so it
stays the reference: here one compiled regular expression handles the common line shapes, and if any line of
a payload falls outside them the *whole* payload goes to prometheus_client's parser. Correctness therefore
never depends on the fast path covering everything; ``tests/test_collectors_exposition.py`` checks that both
give the same samples.

What the fast path reproduces from the reference: names as exposed, except that a sample of a family declared
``# TYPE x counter`` whose name is ``x`` (no ``_total``) is renamed ``x_total`` (prometheus_client munges
counters that way); escapes in label values (only ``\\\\``, ``\\"`` and ``\\n``, other backslashes stay);
``+Inf``/``-Inf``/``NaN``; integer values converted through ``int`` (so ``-0`` is ``0.0``); timestamps
accepted and dropped (every sample of a scrape gets the scrape time).
"""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["RawSample", "parse_samples", "reference_samples", "fast_samples"]

#: (metric name as exposed, labels, value); a sample without labels has an empty dict.
RawSample = tuple[str, dict[str, str], float]

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
# Names starting with "__" are reserved (the reference rejects them or treats __name__ specially).
_LABEL = r'(?!__)[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*(?:\\.[^"\\]*)*"'  # an "unrolled" loop: fast in re
# Integers go through int() in the reference; beyond ~308 digits that overflows, so leave those to it.
_INT = r"[0-9]{1,300}"
_FLOAT = r"(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+"
_VALUE = rf"[-+]?(?:{_INT}|{_FLOAT}|Inf|NaN)"
_SAMPLE_RE = re.compile(
    rf"({_NAME})(?:\{{((?:{_LABEL}(?:,{_LABEL})*,?)?)\}} *| +)({_VALUE})(?: +[-+]?{_INT})?", re.DOTALL
)
_LABEL_PAIR_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"\\]*(?:\\.[^"\\]*)*)"', re.DOTALL)
_HELP_RE = re.compile(rf"# HELP ({_NAME})(?: .*)?", re.DOTALL)
_TYPES = ("counter", "gauge", "summary", "histogram", "untyped", "unknown", "gaugehistogram", "info", "stateset")
_TYPE_RE = re.compile(rf"# TYPE ({_NAME}) ({'|'.join(_TYPES)})")
_ESCAPE_RE = re.compile(r'\\[\\n"]')
_ESCAPES = {"\\\\": "\\", "\\n": "\n", '\\"': '"'}
_SUFFIXES = {"summary": ("_count", "_sum", ""), "histogram": ("_count", "_sum", "_bucket")}


def _unescape(match: re.Match[str]) -> str:
    return _ESCAPES[match.group(0)]


def reference_samples(text: str) -> list[RawSample]:
    """Samples as prometheus_client's parser gives them; raises ``ValueError`` on malformed text."""
    out: list[RawSample] = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            try:
                value = float(s.value)
            except OverflowError as exc:  # an integer literal beyond the float range
                raise ValueError(f"sample value of {s.name} out of range") from exc
            out.append((s.name, s.labels, value))
    return out


def _close_family(out: list[RawSample], start: int, family: str, typ: str) -> None:
    """The reference's counter munging: samples of counter ``x`` (not ``x_total``) become ``x_total``."""
    if typ == "counter" and not family.endswith("_total"):
        for i in range(start, len(out)):
            name, labels, value = out[i]
            out[i] = (name + "_total", labels, value)


def fast_samples(text: str) -> list[RawSample] | None:
    """The samples of ``text`` if every line has a common shape, else ``None`` (use the reference)."""
    out: list[RawSample] = []
    append = out.append
    match_sample = _SAMPLE_RE.fullmatch
    find_labels = _LABEL_PAIR_RE.findall
    family, typ, allowed, start = "", "untyped", (), 0
    for line in text.split("\n"):  # the reference splits on "\n" only, then strips each line
        line = line.strip()
        if not line:
            continue
        if line[0] == "#":
            m = _TYPE_RE.fullmatch(line)
            if m is not None:
                name, new_type = m.groups()
                if name == "_total" and new_type == "counter":
                    return None  # the reference fails on an empty family name
                if name != family:
                    _close_family(out, start, family, typ)
                    family, start = name, len(out)
                typ = new_type
                allowed = tuple(name + s for s in _SUFFIXES.get(new_type, ("",)))
                continue
            m = _HELP_RE.fullmatch(line)
            if m is not None:
                name = m.group(1)
                if name != family:
                    _close_family(out, start, family, typ)
                    family, typ, allowed, start = name, "untyped", (name,), len(out)
                continue
            if "HELP" in line or "TYPE" in line:
                return None  # an unusual HELP/TYPE line: let the reference decide
            continue  # a plain comment
        m = match_sample(line)
        if m is None:
            return None
        name, label_text, raw = m.groups()
        if label_text:
            pairs = find_labels(label_text)
            if "\\" in label_text:
                labels = {k: _ESCAPE_RE.sub(_unescape, v) if "\\" in v else v for k, v in pairs}
            else:
                labels = dict(pairs)
            if len(labels) != len(pairs):
                return None  # duplicate label names: the reference raises
        else:
            labels = {}
        value = float(raw)
        if value == 0.0 and raw[0] == "-" and raw[1:].isdigit():
            value = 0.0  # the reference parses "-0" with int(): no negative zero
        if name in allowed:
            append((name, labels, value))
        else:  # the reference yields it as an untyped singleton and ends the current family
            _close_family(out, start, family, typ)
            append((name, labels, value))
            family, typ, allowed, start = "", "untyped", (), len(out)
    _close_family(out, start, family, typ)
    return out


def parse_samples(text: str) -> list[RawSample]:
    """Samples of one exposition payload: the fast path, or prometheus_client's parser for the whole payload."""
    fast = fast_samples(text)
    return reference_samples(text) if fast is None else fast
