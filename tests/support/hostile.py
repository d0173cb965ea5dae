"""The hostile input corpus: every input Aftershock takes, broken on purpose (YAML bombs, huge and non-finite
numbers, unicode, missing and extra fields, wrong types, bad cron specs, bad URLs, bad ids, bad arguments).

Each case is a command line whose arguments may name a corpus file (``{file:NAME}``) or the temporary directory
(``{dir}``). Every one must end with exit code 2, one line on stderr, no traceback, and nothing written under
``$AFTERSHOCK_HOME``. tests/unit/test_hostile_inputs.py runs them all in-process; tests/e2e/test_hostile_cli.py
runs a sample as real subprocesses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Case", "FILES", "CASES", "materialise", "SUBPROCESS_SAMPLE"]

_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True))
_TOPO = "name: t\nkind: decentralized\nregions:\n- name: r1\n  nodes: 2\n- name: r2\n  nodes: 2\n"
_ACTION = "- type: action\n  name: a\n  provider: {type: python, module: chaos.actions, func: %s%s}\n"


def _experiment(method: str, extra: str = "") -> str:
    return f"title: hostile\ndescription: hostile corpus\n{extra}method:\n{method}"


def _act(func: str, arguments: str = "", pauses: str = "") -> str:
    text = _ACTION % (func, f", arguments: {{{arguments}}}" if arguments else "")
    return text + (f"  pauses: {{{pauses}}}\n" if pauses else "")


#: Corpus files: name -> text (str) or raw bytes.
FILES: dict[str, str | bytes] = {
    "bomb.yaml": _BOMB,
    "empty.yaml": "",
    "null.yaml": "~\n",
    "list.yaml": "- 1\n- 2\n",
    "scalar.yaml": "just a string\n",
    "short-token": "abc\n",
    "nul.yaml": b"name: \x00\x01\x02\n",
    "latin1.yaml": b"name: caf\xe9\n",
    "tabs.yaml": "a:\n\t- b\n",
    "unclosed.yaml": "name: [t\n",
    "deep.yaml": "a: " + "[" * 5000 + "]" * 5000 + "\n",
    "long-line.yaml": "name: " + "x" * 2_000_000 + "\n",
    # topologies
    "topo-huge-nodes.yaml": _TOPO.replace("nodes: 2\n-", "nodes: 1000000000\n-", 1),
    "topo-neg-nodes.yaml": _TOPO.replace("nodes: 2", "nodes: -3", 1),
    "topo-zero-nodes.yaml": _TOPO.replace("nodes: 2", "nodes: 0"),
    "topo-float-nodes.yaml": _TOPO.replace("nodes: 2", "nodes: 2.5", 1),
    "topo-inf-nodes.yaml": _TOPO.replace("nodes: 2", "nodes: .inf", 1),
    "topo-no-regions.yaml": "name: t\nkind: decentralized\nregions: []\n",
    "topo-no-kind.yaml": "name: t\nregions:\n- name: r1\n  nodes: 2\n",
    "topo-bad-kind.yaml": _TOPO.replace("decentralized", "galactic"),
    "topo-wrong-types.yaml": "name: [1]\nkind: 3\nregions: yes\n",
    "topo-extra-field.yaml": _TOPO + "teleport: true\n",
    "topo-dup-regions.yaml": _TOPO.replace("r2", "r1"),
    "topo-unicode.yaml": _TOPO.replace("r1", "régión☃"),
    "topo-huge-int.yaml": _TOPO.replace("nodes: 2", "nodes: " + "9" * 400, 1),
    "topo-nan-latency.yaml": _TOPO + "latency_ms: {r1->r2: .nan}\n",
    "topo-neg-latency.yaml": _TOPO + "latency_ms: {r1->r2: -50}\n",
    # experiments
    "exp-no-method.yaml": "title: x\ndescription: y\n",
    "exp-empty-method.yaml": _experiment("[]\n"),
    "exp-method-string.yaml": _experiment("'kill everything'\n"),
    "exp-foreign-provider.yaml": _experiment(
        "- type: action\n  name: a\n  provider: {type: python, module: os, func: system,"
        " arguments: {command: 'touch /tmp/aftershock-pwned'}}\n"),
    "exp-process-provider.yaml": _experiment(
        "- type: action\n  name: a\n  provider: {type: process, path: /bin/rm, arguments: '-rf /'}\n"),
    "exp-unknown-func.yaml": _experiment(_act("detonate")),
    "exp-unknown-arg.yaml": _experiment(_act("kill_node", "count: 1, force: true")),
    "exp-wrong-type-arg.yaml": _experiment(_act("kill_node", "count: 'many'")),
    "exp-neg-count.yaml": _experiment(_act("kill_node", "count: -5")),
    "exp-huge-count.yaml": _experiment(_act("kill_node", "count: 100000000000")),
    "exp-percent-200.yaml": _experiment(_act("kill_node", "percent: 200")),
    "exp-no-blast-radius.yaml": _experiment(_act("kill_node")),
    "exp-loss-2.yaml": _experiment(_act("add_loss", "src: r1, dst: r2, loss: 2")),
    "exp-latency-nan.yaml": _experiment(_act("add_latency", "src: r1, dst: r2, latency_ms: .nan")),
    "exp-cpu-0.yaml": _experiment(_act("stress_node", "count: 1, cpu_percent: 0")),
    "exp-pause-nan.yaml": _experiment(_act("heal", pauses="after: .nan")),
    "exp-pause-huge.yaml": _experiment(_act("heal", pauses="after: 1e308")),
    "exp-pause-negative.yaml": _experiment(_act("heal", pauses="before: -10")),
    "exp-pauses-list.yaml": _experiment(_act("heal") + "  pauses: [1, 2]\n"),
    "exp-churn-zero-interval.yaml": _experiment(_act("churn", "interval_s: 0")),
    "exp-max-fault-negative.yaml": _experiment(_act("heal"), "configuration: {aftershock_max_fault_s: -1}\n"),
    "exp-max-fault-huge.yaml": _experiment(_act("heal"), "configuration: {aftershock_max_fault_s: 1e12}\n"),
    "exp-guardrails-string.yaml": _experiment(_act("heal"), "extensions: [{name: aftershock, guardrails: lots}]\n"),
    "exp-no-provider.yaml": _experiment("- type: action\n  name: a\n"),
    "exp-arguments-list.yaml": _experiment(
        "- type: action\n  name: a\n  provider: {type: python, module: chaos.actions, func: heal, arguments: [1]}\n"),
    "exp-unicode-title.yaml": _experiment(_act("kill_node", "count: -1")).replace("hostile", "☃\u202e\u200b"),
    "exp-broken.json": "{\"title\": \"x\", ",
    "exp-deep.json": "{\"title\": " + "[" * 100_000 + "]" * 100_000 + "}",
    "exp-missing-needed-arg.yaml": _experiment(_act("partition_regions")),
}


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


def _c(case_id: str, *argv: str, env: dict[str, str] | None = None) -> Case:
    return Case(case_id, tuple(argv), tuple((env or {}).items()))


_TOPOLOGY_FILES = [n for n in FILES if n.startswith("topo-")] + [
    "bomb.yaml", "empty.yaml", "null.yaml", "list.yaml", "scalar.yaml", "nul.yaml", "latin1.yaml", "tabs.yaml",
    "unclosed.yaml", "deep.yaml", "long-line.yaml"]
_EXPERIMENT_FILES = [n for n in FILES if n.startswith("exp-")] + [
    "bomb.yaml", "empty.yaml", "list.yaml", "nul.yaml", "latin1.yaml", "unclosed.yaml", "deep.yaml"]
_KUBE = ("--kube-context", "nope", "--namespace", "ns", "--selector", "app=agent", "--service-url",
         "http://agents.example:8080")

CASES: list[Case] = [
    *(_c(f"topology-validate-{n}", "topology", "validate", f"{{file:{n}}}") for n in _TOPOLOGY_FILES),
    _c("topology-validate-dir", "topology", "validate", "{dir}"),
    _c("topology-validate-missing", "topology", "validate", "{dir}/missing.yaml"),
    _c("topology-show-unknown", "topology", "show", "no-such-topology"),
    _c("lab-up-bomb", "lab", "up", "{file:bomb.yaml}"),
    _c("lab-up-huge", "lab", "up", "{file:topo-huge-nodes.yaml}"),
    _c("run-topology-bad-kind", "run", "node-loss", "-t", "{file:topo-bad-kind.yaml}", "--dry-run"),
    *(_c(f"experiments-validate-{n}", "experiments", f"{{file:{n}}}") for n in _EXPERIMENT_FILES),
    _c("experiments-validate-dir", "experiments", "{dir}"),
    _c("experiments-validate-missing", "experiments", "{dir}/nope.yaml"),
    _c("run-foreign-provider", "run", "{file:exp-foreign-provider.yaml}", "-t", "decentralized"),
    _c("run-neg-count-dry", "run", "{file:exp-neg-count.yaml}", "--dry-run"),
    _c("run-unknown-experiment", "run", "no-such-experiment", "--dry-run"),
    _c("run-empty-experiment-name", "run", "", "--dry-run"),
    # run and sweep arguments
    _c("run-repeat-negative", "run", "node-loss", "--repeat", "-1", "--dry-run"),
    _c("run-repeat-zero", "run", "node-loss", "--repeat", "0", "--dry-run"),
    _c("run-repeat-huge", "run", "node-loss", "--repeat", "1000000000", "--dry-run"),
    _c("run-repeat-text", "run", "node-loss", "--repeat", "three", "--dry-run"),
    _c("run-warmup-negative", "run", "node-loss", "--warmup", "-5", "--dry-run"),
    _c("run-warmup-nan", "run", "node-loss", "--warmup", "nan", "--dry-run"),
    _c("run-warmup-inf", "run", "node-loss", "--warmup", "inf", "--dry-run"),
    _c("run-observe-overflow", "run", "node-loss", "--observe", "1e400", "--dry-run"),
    _c("run-seed-negative", "run", "node-loss", "--seed", "-1", "--dry-run"),
    _c("run-seed-huge", "run", "node-loss", "--seed", "9" * 30, "--dry-run"),
    _c("run-topology-unknown", "run", "node-loss", "-t", "no-such-topology", "--dry-run"),
    _c("run-topology-empty", "run", "node-loss", "-t", "", "--dry-run"),
    _c("run-topology-duplicate", "run", "node-loss", "-t", "hybrid", "-t", "hybrid", "--dry-run"),
    _c("run-topology-traversal", "run", "node-loss", "-t", "../../../../etc/passwd", "--dry-run"),
    _c("run-collector-unknown", "run", "node-loss", "--collector", "carrier-pigeon", "--dry-run"),
    _c("run-unknown-flag", "run", "node-loss", "--yolo"),
    _c("sweep-intensity-nan", "sweep", "node-loss", "-i", "nan", "--dry-run"),
    _c("sweep-intensity-negative", "sweep", "node-loss", "-i", "-1", "--dry-run"),
    _c("sweep-intensity-huge", "sweep", "node-loss", "-i", "1e300", "--dry-run"),
    _c("sweep-no-intensity", "sweep", "node-loss", "--dry-run"),
    # Prometheus URLs
    *(_c(f"prometheus-url-{i}", "run", "node-loss", "--prometheus-url", url, "--dry-run") for i, url in enumerate([
        "ftp://127.0.0.1:9090", "not a url", "http://", "127.0.0.1:9090", "http://127.0.0.1:99999",
        "javascript:alert(1)", "http://host:port", "file:///etc/passwd"])),
    # run and comparison ids
    *(_c(f"show-{i}", "show", ident) for i, ident in enumerate([
        "r-nope", "c-nope", "", "'; DROP TABLE runs; --", "x" * 10_000, "../../etc/passwd", "r-\u202e☃"])),
    *(_c(f"report-{i}", "report", *args) for i, args in enumerate([
        ("c-nope",), ("r-nope", "-f", "html"), ("c-x", "-f", "docx"), ("c-x", "--min-resilience", "500"),
        ("c-x", "--min-resilience", "nan"), ("c-x", "-o", "{dir}/no/such/dir/x.html")])),
    # cron specs and schedules
    *(_c(f"schedule-cron-{i}", "schedule", "add", "nightly", "--cron", cron, "node-loss") for i, cron in enumerate([
        "61 * * * *", "", "* * *", "* * * * * * * *", "@reboot", "0 0 31 2 *", "0 3 * * mon-xyz", "*/0 * * * *",
        "0 3 * * * ; rm -rf /", "☃ * * * *"])),
    *(_c(f"schedule-name-{i}", "schedule", "add", name, "--cron", "0 3 * * *", "node-loss")
      for i, name in enumerate(["", "a/b", "☃", "-leading-dash", "x" * 200])),
    *(_c(f"schedule-arg-{i}", "schedule", "add", "nightly", "--cron", "0 3 * * *", "node-loss", *args)
      for i, args in enumerate([("--repeat", "-1"), ("--timeout", "-1"), ("--grace", "nan"), ("--timeout", "inf"),
                                ("--gate-budget", "2"), ("--warmup", "nan"), ("-t", "no-such-topology")])),
    _c("schedule-add-unknown-experiment", "schedule", "add", "nightly", "--cron", "0 3 * * *", "no-such-experiment"),
    *(_c(f"schedule-{verb}-unknown", "schedule", verb, "nope") for verb in ("remove", "pause", "resume", "history",
                                                                            "run")),
    # labs
    _c("lab-status-unknown", "lab", "status", "nope"),
    _c("lab-down-unknown", "lab", "down", "nope"),
    _c("lab-up-unknown-topology", "lab", "up", "no-such-topology"),
    _c("lab-up-bad-name", "lab", "up", "decentralized", "--name", "BAD NAME!"),
    _c("lab-up-name-traversal", "lab", "up", "decentralized", "--name", "../../x"),
    _c("lab-up-seed-text", "lab", "up", "decentralized", "--seed", "x"),
    # dashboard
    _c("dashboard-port-zero", "dashboard", "--port", "0"),
    _c("dashboard-port-huge", "dashboard", "--port", "70000"),
    _c("dashboard-port-text", "dashboard", "--port", "http"),
    _c("dashboard-token-missing", "dashboard", "--token-file", "{dir}/no-token"),
    _c("dashboard-token-short", "dashboard", "--host", "0.0.0.0", "--token-file", "{file:short-token}"),
    # the emergency stop and the audit log
    _c("stop-no-mode", "stop"),
    _c("stop-two-modes", "stop", "--all", "--clear"),
    _c("stop-wait-negative", "stop", "--all", "--wait", "-1"),
    _c("stop-wait-nan", "stop", "--all", "--wait", "nan"),
    _c("stop-reason-newline", "stop", "--all", "--reason", "a\nb"),
    _c("stop-reason-huge", "stop", "--all", "--reason", "x" * 1000),
    _c("audit-limit-zero", "audit", "--limit", "0"),
    _c("audit-limit-negative", "audit", "--limit", "-5"),
    # target definitions
    *(_c(f"target-add-{i}", "target", "add", *args, env={"KUBECONFIG": "{dir}/no-kubeconfig"})
      for i, args in enumerate([
          ("BAD NAME", *_KUBE), ("t", *_KUBE[:3], "", *_KUBE[4:]), ("t", *_KUBE[:5], "!!", *_KUBE[6:]),
          ("t", *_KUBE[:7], "ftp://x"), ("t", *_KUBE, "--rate", "-1"), ("t", *_KUBE, "--prometheus-url", "nope"),
          ("t", *_KUBE, "--request", "{dir}/missing.yaml"), ("t", *_KUBE, "--query", "bad"), ("t", *_KUBE),
          ("t", *_KUBE, "--rate", "nan"), ("t", *_KUBE, "--request", "{file:bomb.yaml}"),
          ("t", *_KUBE, "--request", "{file:deep.yaml}")])),
    _c("target-show-unknown", "target", "show", "nope"),
    _c("target-remove-traversal", "target", "remove", "../x"),
    # the command line itself
    _c("no-command"),
    _c("unknown-command", "detonate"),
    _c("unknown-global-flag", "--bogus", "runs"),
    _c("runs-unknown-flag", "runs", "--format", "xml"),
]

#: Cases run as real subprocesses too (the process boundary: exit status, stderr, nothing written).
SUBPROCESS_SAMPLE = ("run-repeat-negative", "topology-validate-bomb.yaml", "experiments-validate-exp-pause-nan.yaml",
                     "schedule-cron-0", "prometheus-url-0", "show-3", "lab-up-bad-name", "dashboard-port-zero",
                     "stop-reason-newline", "target-add-0", "unknown-command", "report-0")


def materialise(case: Case, tmp: Path) -> tuple[list[str], dict[str, str]]:
    """The case's argv and environment with corpus files written under ``tmp`` (outside the home)."""
    folder = tmp / "corpus"
    folder.mkdir(exist_ok=True)
    argv = []
    for arg in case.argv:
        for name, content in FILES.items():
            token = f"{{file:{name}}}"
            if token in arg:
                path = folder / name
                if not path.exists():
                    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
                arg = arg.replace(token, str(path))
        argv.append(arg.replace("{dir}", str(folder)))
    env = {k: v.replace("{dir}", str(folder)) for k, v in case.env}
    return argv, env
