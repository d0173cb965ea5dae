"""Dashboard query parameters from the hostile input corpus: every page renders a one-line message, never an
exception, keeps the string as text, and writes nothing (AppTest over a real store with one finished run)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from store import RunStore

HOSTILE_IDS = ["r-nope", "c-nope", "'; DROP TABLE runs; --", "<script>alert(1)</script>", "x" * 10_000,
               "../../../etc/passwd", "r-\u202e☃\u200b", "%00", "r-" + "9" * 400, " ", "c-20261127-101500-ab12\n"]
PAGES = {"run": "run", "compare": "comparison"}


def page_script(page: str, home: str) -> None:
    import importlib

    from dashboards.config import config_from_environ

    importlib.import_module(f"dashboards.pages.{page}").render(config_from_environ({"AFTERSHOCK_HOME": home}))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("hostile-dashboard") / "home"
    with RunStore.open(home / "store") as store:
        cid = store.create_comparison("node-loss", title="t")
        run = store.create_run(experiment="node-loss", topology="decentralized", comparison_id=cid)
        store.finish_run(run, "completed")
    RunStore.open(home / "store", readonly=True).close()  # SQLite's empty -wal file exists before the snapshots
    return home


def _digest(home: Path) -> dict[str, str]:
    return {str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(home.rglob("*"))
            if p.is_file() and not p.name.endswith("-shm")}


@pytest.mark.parametrize("page", sorted(PAGES))
@pytest.mark.parametrize("value", HOSTILE_IDS, ids=[f"id{i}" for i in range(len(HOSTILE_IDS))])
def test_a_hostile_id_in_the_url_is_a_message_not_an_exception(home: Path, page: str, value: str) -> None:
    before = _digest(home)
    at = AppTest.from_function(page_script, kwargs={"page": page, "home": str(home)}, default_timeout=60)
    at.query_params[PAGES[page]] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [e.value for kind in ("error", "warning", "info") for e in getattr(at, kind)]
    assert shown, "the page says why it shows nothing for this id"
    assert all("\n" not in str(s) for s in shown) and all(len(str(s)) < 2_000 for s in shown)
    assert _digest(home) == before
