#!/usr/bin/env python3
"""Dashboard benchmark: p95 server time of every callback, first page load and tab switches, on a given database.

    python bench/bench_dashboard.py /tmp/sample100.db [--repeat 30] [--loads 3] [--switches 5] [--json out.json]

1. Serves `create_app()` on the database (threaded Flask server, as `python -m app` does) and drives
   headless Chromium through every tab, a user ledger and a set of filter changes (currency, date
   presets, tab parameters, a grid sort and a grid column filter). Each tab is first opened in a fresh
   browser: the *first page load*. Then, in one browser, a click on each tab's link in turn: a *tab switch*.
   Both are timed by the browser's own clock (Navigation and Resource Timing): from the navigation's start, or
   from the click, to the end of the last callback response of the tab. Beside it, the time to a settled page
   (no callback running, every graph drawn, every grid showing rows or its empty message), by this script's
   clock, and the number of callback requests.
2. Every callback request the browser sent is recorded with its server time, then replayed
   `--repeat` times in-process (Flask test client: routing, the callback, JSON; no network). The p50,
   p95 and max per callback over all its requests and replays are the *server times*.

The CSV export (a streamed download, not a callback) is timed separately for the whole unfiltered table.
Needs chromium and chromedriver (Debian: apt-get install chromium chromium-driver).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1440,1000")
TABS = ("trends", "overdrafts", "reconciliation", "anomalies", "health")
SETTLED_JS = """
  const busy = document.querySelectorAll('[data-dash-is-loading="true"]').length;
  const graphs = document.querySelectorAll('.dash-graph').length;
  const drawn = document.querySelectorAll('.dash-graph .main-svg').length;
  let ready = 0; const grids = document.querySelectorAll('.data-grid');
  grids.forEach(g => { if (g.querySelector('.ag-center-cols-container .ag-row .ag-cell')
                          || g.querySelector('.ag-overlay-no-rows-center, .ag-overlay-no-rows-wrapper')
            || (g.parentElement.querySelector('.grid-empty') || {}).textContent) ready += 1; });
  const page = document.querySelector('#page');
  return busy === 0 && drawn >= graphs && ready === grids.length && page !== null && page.children.length > 0;
"""


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def callback_label(body: dict) -> str:
    """A readable name per callback: its output, with the grid's name for the shared grid callback."""
    output = body.get("output", "")
    if "getRowsResponse" in output:
        outputs = body.get("outputs") or {}
        ident = (outputs[0] if isinstance(outputs, list) and outputs else outputs).get("id") or {}
        return f"grid {ident.get('name', '?')} (getRowsResponse)"
    if output.startswith(".."):
        parts = [p for p in output.strip(".").split("...") if p]
        first = parts[0].split("@")[0]
        return f"{first} (+{len(parts) - 1} outputs)" if len(parts) > 1 else first
    return output.split("@")[0]


class Recorder:
    """Flask hooks: every callback request's body and server time."""

    def __init__(self, server):
        self.requests: list[tuple[str, bytes, float]] = []
        self.lock = threading.Lock()
        self.enabled = True

        from flask import g, request

        @server.before_request
        def _start():
            g.bench_t0 = time.perf_counter()

        @server.after_request
        def _stop(response):
            if self.enabled and request.path == "/_dash-update-component":
                took = (time.perf_counter() - g.bench_t0) * 1000
                body = request.get_data()
                with self.lock:
                    self.requests.append((callback_label(json.loads(body)), body, took))
            return response


def settle(driver, timeout: float = 60.0) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if driver.execute_script(SETTLED_JS):
            time.sleep(0.15)  # confirm: a callback chain may start right after another ends
            if driver.execute_script(SETTLED_JS):
                return time.perf_counter() - start - 0.15
        time.sleep(0.02)
    raise TimeoutError(f"not settled after {timeout}s: {driver.current_url}")


def new_driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    options = Options()
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    return webdriver.Chrome(options=options)


# The browser's own clock (Navigation and Resource Timing): milliseconds from `since` (0: the navigation's start)
# to the end of the last callback response, and how many callbacks answered after `since`.
LAST_CALLBACK_JS = """
  const since = arguments[0];
  const ends = performance.getEntriesByType('resource')
    .filter(e => e.name.includes('/_dash-update-component') && e.startTime >= since).map(e => e.responseEnd);
  return [ends.length ? Math.max(...ends) - since : null, ends.length];
"""
# A click's time on the same clock, taken by a listener that runs before the app's own handlers.
CLICK_LISTENER_JS = """
  performance.setResourceTimingBufferSize(100000);
  if (!window.__benchClicks) {
    window.__benchClicks = [];
    document.addEventListener('click', e => window.__benchClicks.push(e.timeStamp), true);
  }
"""


@dataclasses.dataclass
class Timings:
    """Per tab, seconds: `last` from navigation (or click) to the end of the tab's last callback response, by the
    browser's clock; `settled` from the same moment, by this script's clock, to a settled page (graphs drawn,
    grids showing rows); `callbacks` the number of callback requests."""
    last: dict[str, list[float]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    settled: dict[str, list[float]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    callbacks: dict[str, list[int]] = dataclasses.field(default_factory=lambda: defaultdict(list))

    def add(self, tab: str, last_ms, count: int, settled: float) -> None:
        self.last[tab].append(last_ms / 1000 if last_ms is not None else settled)
        self.settled[tab].append(settled)
        self.callbacks[tab].append(count)


def first_loads(base: str, loads: int) -> tuple[Timings, Timings]:
    """(first load in a fresh browser with an empty cache, the same page loaded again in that browser, scripts then
    coming from its cache)."""
    cold, warm = Timings(), Timings()
    for _ in range(loads):
        for tab in TABS:
            driver = new_driver()
            try:
                for out in (cold, warm):
                    start = time.perf_counter()
                    driver.get(f"{base}/{tab}")  # returns after the HTML and its scripts have loaded
                    settle(driver)
                    settled = time.perf_counter() - start
                    out.add(tab, *driver.execute_script(LAST_CALLBACK_JS, 0), settled)
            finally:
                driver.quit()
    return cold, warm


FIRST_SECTION = {"trends": "trends-kpis", "overdrafts": "overdrafts-summary", "reconciliation": "reconciliation-stake",
                 "anomalies": "anomalies-timeline", "health": "health-ingest"}


def tab_switches(base: str, rounds: int) -> Timings:
    """A click on a tab's link inside the single-page app (no page load), to the tab's last callback and to a
    settled page: every tab in turn, `rounds` times, in one browser."""
    from selenium.webdriver.common.by import By
    times = Timings()
    driver = new_driver()
    try:
        driver.get(f"{base}/health")
        settle(driver)
        driver.execute_script(CLICK_LISTENER_JS)
        for _ in range(rounds):
            for tab in TABS:
                start = time.perf_counter()
                driver.find_element(By.ID, f"nav-{tab}").click()
                while not driver.find_elements(By.ID, FIRST_SECTION[tab]):
                    if time.perf_counter() - start > 60:
                        raise TimeoutError(f"tab {tab} did not open")
                    time.sleep(0.01)
                opened = time.perf_counter() - start
                settled = opened + settle(driver)  # settle() leaves out its confirmation pause
                clicked = driver.execute_script("return window.__benchClicks[window.__benchClicks.length - 1]")
                times.add(tab, *driver.execute_script(LAST_CALLBACK_JS, clicked), settled)
    finally:
        driver.quit()
    return times


def tour(base: str, engine) -> None:
    """Visit every view and change filters, so every callback runs with realistic inputs."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    import queries as q
    latest = q.latest_business_date(engine)
    user = (q.find_users(engine, None, limit=1) or [{"user_id": "nobody"}])[0]["user_id"]
    detector = (q.detectors(engine) or ["none"])[0]
    urls = []
    for tab in TABS:
        urls += [f"/{tab}", f"/{tab}?cur=BHD", f"/{tab}?from={latest[:8]}01&to={latest}&cur=SAR"]
    urls += ["/trends?by=week", "/trends?by=month&cur=BHD", f"/trends?uid={user}",
             "/reconciliation?kind=out_of_sync&status=open", "/reconciliation?kind=continuity&cur=BHD",
             "/overdrafts?reason=wallet", "/overdrafts?reason=guard", f"/anomalies?detector={detector}",
             "/anomalies?severity=high", f"/ledger/{user}", f"/ledger/{user}?cur=BHD", "/reconciliation?user=ab"]
    driver = new_driver()
    try:
        for url in urls:
            driver.get(base + url)
            settle(driver)
        # interactions inside the single-page app: a select, a preset, a grid sort and a column filter
        driver.get(base + "/reconciliation")
        settle(driver)
        Select(driver.find_element(By.ID, "flt-currency")).select_by_value("SAR")
        settle(driver)
        for button in driver.find_elements(By.CSS_SELECTOR, "button.preset"):
            if button.text == "30 d":
                button.click()
                settle(driver)
        for _ in range(2):  # ascending, then descending
            header = driver.find_element(By.CSS_SELECTOR,
                                         ".ag-header-cell[col-id='amount_at_stake'] .ag-header-cell-label")
            driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", header)
            header.click()
            settle(driver)
        driver.execute_script("""
          const api = dash_ag_grid.getApi({"name": "discrepancies", "tab": "reconciliation", "type": "grid"});
          api.setFilterModel({user_id: {filterType: 'text', type: 'contains', filter: 'a'}});""")
        settle(driver)
        driver.execute_script("""
          const api = dash_ag_grid.getApi({"name": "discrepancies", "tab": "reconciliation", "type": "grid"});
          api.paginationGoToPage(3);""")
        settle(driver)
        cell = driver.find_element(By.CSS_SELECTOR, ".data-grid .ag-row [col-id=user_id] a")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", cell)
        cell.click()
        settle(driver)
    finally:
        driver.quit()


def replay(server, recorded: list[tuple[str, bytes, float]], repeat: int) -> dict[str, list[float]]:
    client = server.test_client()
    times: dict[str, list[float]] = defaultdict(list)
    for label, body, _ in recorded:
        for _ in range(repeat):
            start = time.perf_counter()
            response = client.post("/_dash-update-component", data=body, content_type="application/json")
            took = (time.perf_counter() - start) * 1000
            if response.status_code not in (200, 204):
                raise RuntimeError(f"{label}: HTTP {response.status_code} on replay")
            times[label].append(took)
    return times


def export_time(ctx) -> tuple[float, int, int]:
    """(seconds, rows, bytes) to stream the unfiltered discrepancy export, as the download link does."""
    from app.tabs.reconciliation import export_rows
    from queries.csv_export import iter_csv
    start = time.perf_counter()
    _, header, rows = export_rows(ctx, "")
    size = sum(len(chunk.encode()) for chunk in iter_csv(header, rows))
    return time.perf_counter() - start, sum(1 for _ in export_rows(ctx, "")[2]), size


def _spread(values: list[float]) -> str:
    return (f"median {statistics.median(values):5.2f} s  p95 {percentile(values, 95):5.2f} s  "
            f"max {max(values):5.2f} s")


def print_timings(title: str, t: Timings) -> None:
    every = [v for values in t.last.values() for v in values]
    settled = [v for values in t.settled.values() for v in values]
    print(f"\n{title}, {len(every)} in all:\n  to the last callback (browser's clock): {_spread(every)}\n"
          f"  to a settled page (graphs drawn, grids filled): {_spread(settled)}")
    print(f"  {'tab':16s} {'to the last callback':>38s}   {'to a settled page':>38s}   callbacks")
    for tab in t.last:
        print(f"  {tab:16s} {_spread(t.last[tab])}   {_spread(t.settled[tab])}   "
              f"{statistics.median(t.callbacks[tab]):.0f}")


def print_loads(loads: Timings, reloads: Timings, n, load_before) -> None:
    print(f"\npage loads: {n} per tab (machine load average before: {load_before:.1f}, {os.cpu_count()} CPUs)")
    print_timings("first page load, fresh browser, from the navigation's start", loads)
    print_timings("the same page again, scripts from the browser cache", reloads)


def print_switches(switches: Timings) -> None:
    print_timings("tab switch, from the click on the tab's link", switches)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database", help="SQLite file (or a database URL)")
    parser.add_argument("--repeat", type=int, default=30, help="replays of each recorded request (default 30)")
    parser.add_argument("--loads", type=int, default=3, help="first page loads per tab (default 3)")
    parser.add_argument("--port", type=int, default=8071)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--only-loads", action="store_true", help="measure page loads and tab switches only")
    parser.add_argument("--switches", type=int, default=5, help="rounds of tab switches (default 5)")
    args = parser.parse_args(argv)

    import logging

    from werkzeug.serving import make_server
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # not a line per request

    import settings as settings_mod
    from app import create_app
    url = args.database if "://" in args.database else f"sqlite:///{Path(args.database).resolve()}"
    settings = settings_mod.load(env_file=os.devnull, DATABASE_URL=url)
    app = create_app(settings)
    ctx = app.server.config["BALANCE_LOGS_CONTEXT"]
    recorder = Recorder(app.server)
    httpd = make_server("127.0.0.1", args.port, app.server, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{args.port}"
    import queries as q
    fresh = q.freshness(ctx.engine)
    size = {k: v for k, v in q.ingest_totals(ctx.engine).items()}
    print(f"database: {settings_mod.redact_url(url)}  ({fresh.first_date} → {fresh.last_date}, "
          f"{size['count_files']:,} files)", flush=True)

    load_before = os.getloadavg()[0]
    try:
        # one visit of every tab first, untimed: the server's caches hold what a running dashboard would have
        # (its background warm-up may still be running; its results are printed, not judged)
        started = time.perf_counter()
        cold, _ = first_loads(base, 1)
        print(f"warm-up visit of every tab, {time.perf_counter() - started:.1f} s; to the last callback per tab: "
              + ", ".join(f"{tab} {v[0]:.2f} s" for tab, v in cold.last.items()), flush=True)
        load_before = os.getloadavg()[0]
        loads, reloads = first_loads(base, args.loads)
        switches = tab_switches(base, args.switches)
        if args.only_loads:
            print_loads(loads, reloads, args.loads, load_before)
            print_switches(switches)
            return 0
        recorder.requests.clear()
        tour(base, ctx.engine)
        recorded = list(recorder.requests)
        recorder.enabled = False
        live: dict[str, list[float]] = defaultdict(list)
        for label, _, took in recorded:
            live[label].append(took)
        replays = replay(app.server, [r for r in recorded], args.repeat)
        export_seconds, export_count, export_bytes = export_time(ctx)
    finally:
        httpd.shutdown()

    print_loads(loads, reloads, args.loads, load_before)
    print_switches(switches)
    print(f"\nserver time per callback: {len(recorded)} recorded requests, each replayed {args.repeat}×")
    print(f"  {'callback':58s} {'requests':>8s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s} {'live max':>9s}")
    rows = []
    for label in sorted(replays, key=lambda k: -percentile(replays[k], 95)):
        values = replays[label]
        row = {"callback": label, "requests": len(live[label]), "p50_ms": round(percentile(values, 50), 1),
               "p95_ms": round(percentile(values, 95), 1), "max_ms": round(max(values), 1),
               "live_max_ms": round(max(live[label]), 1)}
        rows.append(row)
        print(f"  {label:58s} {row['requests']:8d} {row['p50_ms']:8.1f} {row['p95_ms']:8.1f} {row['max_ms']:8.1f} "
              f"{row['live_max_ms']:9.1f}")
    worst = max(r["p95_ms"] for r in rows)
    print(f"\nworst callback p95: {worst:.1f} ms; slowest first load: {max(max(v) for v in loads.last.values()):.2f} s; "
          f"load average after: {os.getloadavg()[0]:.1f}")
    print(f"CSV export of every discrepancy, streamed ({export_count:,} rows, {export_bytes / 1e6:.0f} MB): "
          f"{export_seconds:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"first_load_s": dataclasses.asdict(loads),
                                               "reload_s": dataclasses.asdict(reloads),
                                               "tab_switch_s": dataclasses.asdict(switches),
                                               "callbacks": rows,
                                               "export": {"rows": export_count, "bytes": export_bytes,
                                                          "seconds": export_seconds}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
