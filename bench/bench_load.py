"""Load: the dashboard over 1,000 stored runs, and 5 browser sessions at once (docs/benchmarks.md).

Synthesises a store of ``--runs`` finished runs (comparisons of 3 topologies, each run with a 120 s request log
and a 20 s outage, kept curves and summaries as the runner leaves them), then measures:

1. listing: ``RunStore.list_runs`` of every run, and ``aftershock runs --json`` as a process (import included);
2. the History page (it lists every run and comparison, and draws the trends): first render and cached render,
   in-process (AppTest);
3. ``--sessions`` Chromium sessions opening the History page of a real ``aftershock dashboard`` at the same time:
   time until each shows the list of runs, and until each page is complete (no script running).

    .venv/bin/python bench/bench_load.py --runs 1000 --sessions 5
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import requests
from playwright.async_api import async_playwright
from streamlit.testing.v1 import AppTest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.settings import Settings  # noqa: E402
from presentation.derived import keep_comparison, keep_run  # noqa: E402
from store import RunStore  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TOPOLOGIES = ("centralized", "decentralized", "hybrid")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _request_log(path: Path, start: float, t0: float, rng: np.random.Generator, seconds: int = 120,
                 rate: float = 5.0) -> None:
    n = int(seconds * rate)
    ts = np.sort(start + rng.uniform(0, seconds, n))
    lat = rng.lognormal(np.log(0.08), 0.5, n)
    ok = ~((ts > t0) & (ts < t0 + 20) & (rng.random(n) < 0.6))
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ts", "end", "client_region", "session", "outcome", "latency_s", "agent", "served_region",
                    "session_ok", "attempts"])
        w.writerows([f"{ts[i]:.3f}", f"{ts[i] + lat[i]:.3f}", "us-east", f"s{i % 50}", "ok" if ok[i] else "error",
                     f"{lat[i]:.4f}", "a1" if ok[i] else "", "us-east" if ok[i] else "", "1" if ok[i] else "", 1]
                    for i in range(n))


def synthesise(home: Path, runs: int) -> dict[str, float]:
    settings = Settings(home=home).ensure()
    rng = np.random.default_rng(11)
    started = time.perf_counter()
    made = 0
    with RunStore.open(settings.store_dir) as store:
        while made < runs:
            cid = store.create_comparison("node-loss", title=f"load {made // 3}")
            for topo in TOPOLOGIES[: min(3, runs - made)]:
                start = 1.7e9 + made * 200.0
                rid = store.create_run(experiment="node-loss", topology=topo, comparison_id=cid,
                                       settings={"analysis_window_s": 60.0})
                log = home / f"{rid}.csv"
                _request_log(log, start, start + 60, rng)
                store.attach_request_log(rid, log, settings.runs_dir)
                log.unlink()
                store.update_run(rid, injected_at=start + 60)
                store.finish_run(rid, "completed")
                keep_run(store, rid)
                made += 1
            keep_comparison(store, cid)
    return {"synthesise_s": round(time.perf_counter() - started, 1)}


def listing(home: Path) -> dict[str, float]:
    settings = Settings(home=home)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        with RunStore.open(settings.store_dir, readonly=True) as store:
            frame = store.list_runs()
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "aftershock", "runs", "--json"], env={**os.environ,
                         "AFTERSHOCK_HOME": str(home)}, capture_output=True, text=True, check=True, cwd=ROOT)
    cli_s = time.perf_counter() - t
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import aftershock.cli"], check=True, cwd=ROOT)
    import_s = time.perf_counter() - t
    return {"runs": len(frame), "list_runs_ms_median": round(statistics.median(times) * 1000, 1),
            "cli_runs_json_s": round(cli_s, 2), "cli_import_s": round(import_s, 2),
            "cli_rows": len(json.loads(out.stdout))}


def history_page(home: Path) -> dict[str, float]:
    def script(home: str) -> None:
        from dashboards.config import config_from_environ
        from dashboards.pages import history

        history.render(config_from_environ({"AFTERSHOCK_HOME": home}))

    at = AppTest.from_function(script, kwargs={"home": str(home)}, default_timeout=300)
    t = time.perf_counter()
    at.run()
    first = time.perf_counter() - t
    assert not at.exception, [e.value for e in at.exception]
    t = time.perf_counter()
    at.run()
    cached = time.perf_counter() - t
    shown = [s.value for s in at.subheader if s.value.startswith("Runs (")]
    return {"history_first_render_s": round(first, 2), "history_cached_render_s": round(cached, 2),
            "history_lists": shown[0] if shown else None}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _session(browser: Any, url: str, runs: int) -> dict[str, float]:
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(300_000)
    t = time.perf_counter()
    await page.goto(url)
    await page.get_by_text(f"Runs ({runs})").wait_for()
    listed = time.perf_counter() - t
    await page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")
    complete = time.perf_counter() - t
    assert await page.locator('[data-testid="stException"]').count() == 0
    await page.close()
    return {"listed_s": listed, "complete_s": complete}


async def _sessions(url: str, n: int, runs: int) -> list[dict[str, float]]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            await _session(browser, url, runs)  # the server's first visit (imports, caches) is not a session's
            return await asyncio.gather(*(_session(browser, url, runs) for _ in range(n)))
        finally:
            await browser.close()


def browser_sessions(home: Path, n: int, runs: int) -> dict[str, Any]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "aftershock", "dashboard", "--port", str(port)],
                            env={**os.environ, "AFTERSHOCK_HOME": str(home)}, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)  # polling a server that is starting, with a deadline
        results = asyncio.run(_sessions(f"http://127.0.0.1:{port}/history", n, runs))
    finally:
        proc.terminate()
        proc.wait(30)
    listed = [r["listed_s"] for r in results]
    complete = [r["complete_s"] for r in results]
    return {"sessions": n, "listed_s_median": round(statistics.median(listed), 2),
            "listed_s_max": round(max(listed), 2), "complete_s_median": round(statistics.median(complete), 2),
            "complete_s_max": round(max(complete), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--home", type=Path, help="keep the synthesised data directory here (reused when it exists)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aftershock-load-") as tmp:
        home = args.home or Path(tmp) / "home"
        result: dict[str, Any] = {"machine": f"{os.cpu_count()} cores, {platform.python_version()}, "
                                             f"load {os.getloadavg()[0]:.1f}"}
        if not (home / "store" / "runs.sqlite").exists():
            result.update(synthesise(home, args.runs))
        result.update(listing(home))
        result.update(history_page(home))
        if not args.no_browser and Path(CHROMIUM).exists():
            result.update(browser_sessions(home, args.sessions, args.runs))
        result["load_after"] = round(os.getloadavg()[0], 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
