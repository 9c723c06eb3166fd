"""Load benchmark: the dashboard's callbacks under concurrent clients while ingests write.

    .venv/bin/python bench/bench_load.py [--backend sqlite|postgresql|both] [--clients 20] [--seconds 60]
                                         [--corpus DIR] [--record docs/benchmarks.md]

For each backend: a database is loaded with the real export (the dashboard has
something to show), gunicorn serves `app.wsgi:server` on a free loopback port
with app/gunicorn_conf.py, and ingests of freshly generated sample exports
(`python -m sample`, new users and transactions, so every ingest writes and
rebuilds the derived tables) run one after another for the whole window. In the
meantime N client threads, each with its own keep-alive connection, replay
what a browser sends: for a random tab and filter (or a user's ledger) the page
route, the navigation, every section callback of the tab and the first page of
each of its grids, as POST /_dash-update-component with the payloads Dash
itself sends (built from /_dash-dependencies and the rendered page).

An error is any answer other than 200 or 204 (PreventUpdate), a body that is
not JSON, a timeout or a broken connection. PostgreSQL runs on a throwaway
server (tests/pg.py). Only 127.0.0.1 is ever contacted; every loop is bounded
by --seconds.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

UPDATE = "/_dash-update-component"
REQUEST_TIMEOUT_S = 30
SAMPLES = 12  # sample exports generated ahead (about 1 s each); ingested in turn while the clients run
SAMPLE_DAYS, SAMPLE_USERS = 20, 600
SEARCHES = ("", "?cur=SAR", "?cur=BHD", "?from=2024-02-01&to=2024-02-29", "?cur=SAR&from=2024-03-01&to=2024-03-31")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


# --- the traffic ------------------------------------------------------------------------------------

def outputs_of(output: str) -> list[dict] | dict:
    """Dash's output string -> the `outputs` of a request (a list for multi-output callbacks)."""
    def one(text: str) -> dict:
        ident, prop = text.rsplit(".", 1)
        return {"id": json.loads(ident) if ident.startswith("{") else ident, "property": prop.split("@")[0]}
    if output.startswith("..") and output.endswith(".."):
        return [one(part) for part in output[2:-2].split("...")]
    return one(output)


def prop_id(ident, prop: str) -> str:
    key = json.dumps(ident, separators=(",", ":"), sort_keys=True) if isinstance(ident, dict) else ident
    return f"{key}.{prop}"


class Traffic:
    """The requests one page view sends, per tab, built from the app's own dependency list."""

    def __init__(self, deps: list[dict], users: list[str]):
        self.users = users
        self.route = self.nav = None
        self.sections: dict[str, list[dict]] = defaultdict(list)  # tab -> callbacks fed by url.search
        self.grid = None
        for dep in deps:
            if dep.get("clientside_function"):
                continue
            inputs = [(i["id"], i["property"]) for i in dep["inputs"]]
            out = dep["output"]
            if inputs == [("url", "pathname"), ("url", "search")]:
                if "page.children" in out:
                    self.route = dep
                elif "nav-" in out:
                    self.nav = dep
            elif inputs == [("url", "search")] and not out.startswith(".."):
                self.sections[out.split("-", 1)[0]].append(dep)
            elif out.endswith(".getRowsResponse"):
                self.grid = dep
        if not (self.route and self.nav and self.grid and self.sections):
            raise SystemExit("bench_load: the dashboard's callbacks are not the ones this benchmark knows "
                             f"(route={bool(self.route)}, nav={bool(self.nav)}, grid={bool(self.grid)})")
        self.grids: dict[str, list[tuple[dict, int]]] = {}  # path -> [(grid id, page size)]

    @staticmethod
    def body(dep: dict, values: dict) -> dict:
        """A request for `dep` where values[(id, prop)] gives every input and state (None if absent)."""
        def fill(items):
            return [{"id": i["id"], "property": i["property"], "value": values.get((i["id"], i["property"]))}
                    for i in items]
        inputs = fill(dep["inputs"])
        return {"output": dep["output"], "outputs": outputs_of(dep["output"]), "inputs": inputs,
                "state": fill(dep["state"]), "changedPropIds": [prop_id(i["id"], i["property"]) for i in inputs]}

    def grid_body(self, grid_id: dict, page_size: int, path: str, search: str) -> dict:
        request = {"startRow": 0, "endRow": page_size, "sortModel": [], "filterModel": {}}
        return {"output": self.grid["output"], "outputs": {"id": grid_id, "property": "getRowsResponse"},
                "inputs": [{"id": grid_id, "property": "getRowsRequest", "value": request}],
                "state": [{"id": "url", "property": "search", "value": search},
                          {"id": "url", "property": "pathname", "value": path}],
                "changedPropIds": [prop_id(grid_id, "getRowsRequest")]}

    def page_view(self, rng: random.Random) -> tuple[str, str, list[tuple[str, dict]]]:
        """(path, search, [(label, body)]) for one random page view."""
        if self.users and rng.random() < 0.2:
            path, tab = f"/ledger/{rng.choice(self.users)}", "ledger"
        else:
            tab = rng.choice(sorted(t for t in self.sections if t not in ("ledger",)))
            path = f"/{tab}"
        search = rng.choice(SEARCHES)
        values = {("url", "pathname"): path, ("url", "search"): search}
        out = [("route", self.body(self.route, values)), ("nav", self.body(self.nav, values))]
        out += [(dep["output"].split(".")[0], self.body(dep, values)) for dep in self.sections.get(tab, [])]
        out += [(f"grid:{gid['name']}", self.grid_body(gid, size, path, search))
                for gid, size in self.grids.get(path if tab != "ledger" else "/ledger", [])]
        return path, search, out


def find_grids(children) -> list[tuple[dict, int]]:
    """Grid ids and page sizes in a rendered page (the route callback's answer)."""
    found, stack = [], [children]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            props = node.get("props") if isinstance(node.get("props"), dict) else None
            ident = props.get("id") if props else None
            if isinstance(ident, dict) and ident.get("type") == "grid":
                size = ((props.get("dashGridOptions") or {}).get("paginationPageSize")) or 100
                found.append((ident, int(size)))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


class Client:
    def __init__(self, port: int):
        self.port, self.conn = port, None

    def post(self, body: dict) -> tuple[int, bytes]:
        data = json.dumps(body).encode()
        for attempt in (1, 2):  # a keep-alive connection the server closed is reopened once
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S)
            try:
                self.conn.request("POST", UPDATE, body=data, headers={"Content-Type": "application/json"})
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def get(self, path: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()


def drive(port: int, traffic: Traffic, clients: int, seconds: float, seed: int) -> dict:
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    views = [0]

    def worker(n: int) -> None:
        rng, client = random.Random(seed * 1000 + n), Client(port)
        while time.monotonic() < deadline:
            _path, _search, requests = traffic.page_view(rng)
            for label, body in requests:
                if time.monotonic() >= deadline:
                    break
                t0 = time.perf_counter()
                try:
                    status, data = client.post(body)
                    if status == 200:
                        json.loads(data)
                    problem = None if status in (200, 204) else f"HTTP {status}: {data[:200]!r}"
                except Exception as exc:  # timeouts, resets, bad JSON: all errors
                    problem = f"{type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - t0
                with lock:
                    latencies[label].append(elapsed)
                    if problem:
                        errors.append(f"{label}: {problem}")
            with lock:
                views[0] += 1

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + REQUEST_TIMEOUT_S * 3)
    wall = time.monotonic() - started
    everything = [v for vals in latencies.values() for v in vals]
    return {"requests": len(everything), "errors": len(errors), "error_samples": errors[:5],
            "page_views": views[0], "seconds": round(wall, 1), "rps": round(len(everything) / wall, 1),
            "p50_ms": round(percentile(everything, 50) * 1000), "p95_ms": round(percentile(everything, 95) * 1000),
            "p99_ms": round(percentile(everything, 99) * 1000), "max_ms": round(max(everything, default=0) * 1000),
            "by_callback": {k: {"n": len(v), "p95_ms": round(percentile(v, 95) * 1000)}
                            for k, v in sorted(latencies.items())}}


# --- the setting: database, ingests, server ---------------------------------------------------------

class IngestLoop:
    """Ingest the generated samples one after another until stopped; records what ran and for how long."""

    def __init__(self, url: str, samples: list[Path], env: dict):
        self.url, self.samples, self.env = url, samples, env
        self.runs: list[dict] = []
        self.busy_s = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.proc: subprocess.Popen | None = None

    def _loop(self) -> None:
        for sample in self.samples:
            if self.stop.is_set():
                return
            t0 = time.monotonic()
            self.proc = subprocess.Popen([sys.executable, "ingest.py", str(sample), "--database-url", self.url,
                                          "--env-file", os.devnull, "-q"], cwd=ROOT, env=self.env,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                         start_new_session=True)
            _, err = self.proc.communicate()
            took = time.monotonic() - t0
            self.busy_s += took
            self.runs.append({"sample": sample.name, "exit": self.proc.returncode, "seconds": round(took, 1),
                              "stopped": self.stop.is_set(), "stderr": err.strip()[-300:]})

    def start(self) -> None:
        self.thread.start()

    def finish(self) -> None:
        self.stop.set()
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the window is over: the last ingest is not waited for
        self.thread.join(timeout=60)


def start_dashboard(url: str, port: int, env: dict, log: Path) -> subprocess.Popen:
    env = dict(env, DATABASE_URL=url, DASH_HOST="127.0.0.1", DASH_PORT=str(port), DASH_AUTH_USERS="")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "app/gunicorn_conf.py", "app.wsgi:server"],
                            cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench_load: gunicorn exited ({proc.returncode}); see {log}")
        try:
            if Client(port).get("/")[0] == 200:
                return proc
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"bench_load: the dashboard did not answer within 120 s; see {log}")


def some_users(url: str, limit: int = 40) -> list[str]:
    from sqlalchemy import text

    from db.engine import make_engine
    engine = make_engine(url, readonly=True)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT DISTINCT user_id FROM balance_events WHERE user_id IS NOT NULL "
                                          "ORDER BY user_id LIMIT :n"), {"n": limit}).scalars())
    finally:
        engine.dispose()


def prepare_traffic(port: int, url: str) -> Traffic:
    client = Client(port)
    status, data = client.get("/_dash-dependencies")
    if status != 200:
        raise SystemExit(f"bench_load: /_dash-dependencies answered {status}")
    traffic = Traffic(json.loads(data), some_users(url))
    paths = [f"/{tab}" for tab in traffic.sections if tab != "ledger"]
    if traffic.users:
        paths.append(f"/ledger/{traffic.users[0]}")
    for path in paths:
        values = {("url", "pathname"): path, ("url", "search"): ""}
        status, data = client.post(Traffic.body(traffic.route, values))
        if status != 200:
            raise SystemExit(f"bench_load: rendering {path} answered {status}: {data[:300]!r}")
        page = json.loads(data)["response"]["page"]["children"]
        traffic.grids["/ledger" if path.startswith("/ledger/") else path] = find_grids(page)
    return traffic


def run_backend(backend: str, corpus: Path, samples: list[Path], clients: int, seconds: float, seed: int,
                work: Path) -> dict:
    from tests import pg
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTHONPATH")}
    server = None
    try:
        if backend == "postgresql":
            server = pg.PostgresServer.start()
            url = server.create_database("bench_load")
        else:
            url = f"sqlite:///{work / 'bench_load.db'}"
        t0 = time.monotonic()
        loaded = subprocess.run([sys.executable, "ingest.py", str(corpus), "--database-url", url, "--env-file",
                                 os.devnull, "-q"], cwd=ROOT, env=env, capture_output=True, text=True)
        if loaded.returncode not in (0, 3):
            raise SystemExit(f"bench_load: loading the corpus failed: {loaded.stderr[-1000:]}")
        load_s = time.monotonic() - t0
        port = free_port()
        dashboard = start_dashboard(url, port, env, work / f"gunicorn-{backend}.log")
        try:
            traffic = prepare_traffic(port, url)
            ingests = IngestLoop(url, samples, env)
            ingests.start()
            time.sleep(1.0)  # the first ingest is under way before the clients start
            result = drive(port, traffic, clients, seconds, seed)
            ingests.finish()
        finally:
            os.killpg(dashboard.pid, signal.SIGTERM)
            dashboard.wait(timeout=30)
        result.update(backend=backend, corpus_load_s=round(load_s, 1), ingests=ingests.runs,
                      ingest_busy_pct=round(100 * min(ingests.busy_s, result["seconds"] + 1) / (result["seconds"] + 1)),
                      server=server.version if server else __import__("sqlite3").sqlite_version)
        return result
    finally:
        if server:
            server.stop()


def markdown(results: list[dict], args, command: str) -> str:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"### Run of {now}", "",
             f"`{command}`", "",
             f"{args.clients} concurrent clients for {args.seconds:g} s against gunicorn (app/gunicorn_conf.py: "
             "2 workers × 4 threads) on 127.0.0.1, replaying page views (route, navigation, every section "
             "callback of the tab, the first page of each grid; 20% user ledgers) while ingests of freshly "
             f"generated sample exports ({SAMPLE_DAYS} days, {SAMPLE_USERS} users each, with transforms) run "
             f"back to back. Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
             f"{platform.python_version()}, load average {args.load_before:.1f} before the run (other work on "
             "the machine inflates latencies).", "",
             "| backend | requests | errors | req/s | p50 ms | p95 ms | p99 ms | max ms | ingests (s) | "
             "window with an ingest running |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in results:
        runs = ", ".join(f"{x['seconds']}{'*' if x['stopped'] else ''}" for x in r["ingests"])
        lines.append(f"| {r['backend']} {r['server']} | {r['requests']} | {r['errors']} | {r['rps']} | {r['p50_ms']} "
                     f"| {r['p95_ms']} | {r['p99_ms']} | {r['max_ms']} | {runs} | {r['ingest_busy_pct']}% |")
    lines += ["", "p95 per callback (ms): " + "; ".join(
        f"**{r['backend']}** " + ", ".join(f"{k} {v['p95_ms']}" for k, v in r["by_callback"].items())
        for r in results), "",
        "`*` an ingest still running when the window closed (stopped there). "
        "Errors count any answer but 200/204, bad JSON, timeouts and resets.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--corpus", default=os.environ.get("BALANCE_LOGS_CORPUS",
                                                           str(ROOT.parent / "shared/corpus/balance-sync-logs")))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--record", metavar="MARKDOWN", help="append the results to this file (docs/benchmarks.md)")
    parser.add_argument("--json", metavar="PATH", help="also write the raw results as JSON")
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= 200 or not 1 <= args.seconds <= 600:
        parser.error("--clients must be 1..200 and --seconds 1..600 (this is a bounded benchmark)")
    args.load_before = os.getloadavg()[0]
    corpus = Path(args.corpus)
    if not corpus.is_dir():
        parser.error(f"--corpus {corpus} is not a folder (set BALANCE_LOGS_CORPUS)")
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    try:
        from sample import generate
        samples = []
        for n in range(SAMPLES):
            out = work / f"sample-{n}"
            start = date(2024, 6, 1) + timedelta(days=SAMPLE_DAYS * n)  # after the corpus, one after another
            generate(out, days=SAMPLE_DAYS, users=SAMPLE_USERS, seed=1000 + n, start=start)
            samples.append(out)
        results = []
        for backend in backends:
            print(f"bench_load: {backend}: loading the corpus, starting the dashboard …", file=sys.stderr)
            result = run_backend(backend, corpus, samples, args.clients, args.seconds, args.seed, work)
            print(json.dumps({k: v for k, v in result.items() if k != "by_callback"}, indent=1))
            results.append(result)
        command = "python bench/bench_load.py " + " ".join(a for a in (argv if argv is not None else sys.argv[1:]))
        text = markdown(results, args, command.strip())
        print(text)
        if args.record:
            with open(args.record, "a", encoding="utf-8") as fh:
                fh.write("\n" + text)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
        return 1 if any(r["errors"] for r in results) else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
