"""Many people at once: real Streamlit sessions driven over the websocket against one studio server.

A temporary studio (database, runs, models, exports under a temp folder; the demo project loaded, no demo
model built) is served by the real server (``python -m studio serve`` on a free 127.0.0.1 port, in its own
process group). Each simulated person is one websocket to ``/_stcore/stream`` (subprotocol ``streamlit``)
speaking Streamlit's protobufs as a browser does: a ``BackMsg.rerun_script`` (a ``ClientState`` with the
query string and the ``page_script_hash`` of a page taken from the ``navigation`` ForwardMsg of its first
run), then ForwardMsgs read until ``script_finished``; the time between the two is one render. Sessions
render random pages back to back (no think time), so this is the worst case of N people all clicking.

Phases of 1, 10, 20 and 40 concurrent sessions (each ``--phase-seconds``, after all its sessions have
connected and rendered their first page): renders per second, p50 / p95 / max render time, errors (an
exception element in a page's deltas, a page not found, a script that failed to compile, a render that
timed out, a websocket that failed or closed; after one the person opens a new session and goes on), and
the server's CPU time per render (psutil; steadier than wall times on a shared machine). Then a soak at 40
sessions for ``--soak-minutes``: the server's RSS (psutil) is sampled at its start, every minute (printed)
and at its end; each soak session reconnects as a new session after a random 50-150 renders
(``--soak-churn``), so sessions come and go as people do. One more session opens every page once before
the phases and stays connected, idle, until the end (Streamlit drops its compiled page scripts whenever
the last session leaves). The server's log is checked at the end: its warnings and tracebacks are counted
(``server_log_records``) and the distinct ones printed.

Target: p95 <= 1 s per render at 40 sessions on this 2-core machine, 0 errors, RSS flat over the soak.
The machine's load average is printed beside the figures: other work on it inflates render times.

    .venv/bin/python benchmarks/bench_sessions.py [--quick] [--phase-seconds S] [--soak-minutes M]
        [--sessions 1,10,20,40] [--soak-churn N] [--seed N] [--serve-script PATCHED_SERVE.py]

The default run takes about 33 minutes (the soak is 30); ``--quick``: 8 s phases and a 1-minute soak (about
2 minutes). ``--serve-script`` serves with a patched copy of serve.py (e.g. under /tmp) to compare a change
without touching the repository. The table goes to stderr; stdout ends with one JSON line:
{"bench": "sessions", "ratio": p95_ms_40 / 1000, "target": 1.0, "better": "lower", ...}
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_P95_MS = 1000.0
RENDER_TIMEOUT_S = 120.0  # one render slower than this counts as an error (the person then opens a new session)
PHASES = (1, 10, 20, 40)


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


# --- the studio under test -------------------------------------------------------------------------------

def studio_env(tmp: Path) -> dict[str, str]:
    env = {**os.environ,
           "STUDIO_DB": str(tmp / "studio.duckdb"), "STUDIO_RUNS": str(tmp / "runs"),
           "STUDIO_MODELS": str(tmp / "models"), "STUDIO_EXPORTS": str(tmp / "exports"),
           "STUDIO_DEMO": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.pop("OPENAI_API_KEY", None)
    env.pop("STUDIO_PORT", None)
    return env


def prepare(env: dict[str, str]) -> None:
    """Migrate the database and load the demo project (no demo model: pages do not need it to render)."""
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from studio.project import init
        from store import db
        init(build_model=False)
        db.close_all()
    """)
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=600)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m studio serve`` in its own process group; always stopped by ``stop()``."""

    def __init__(self, env: dict[str, str], tmp: Path, script: str | None = None):
        self.port = free_port()
        self.log_file = tmp / "server.log"
        self._log = open(self.log_file, "wb")  # noqa: SIM115 - the server writes it until stop() closes it
        command = [script, "--host", "127.0.0.1"] if script else ["-m", "studio", "serve"]
        command += ["--port", str(self.port)]
        self.proc = subprocess.Popen([sys.executable, *command],
                                     cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"the server did not answer /_stcore/health within {timeout:.0f} s:\n{self.tail()}")

    def rss_mb(self) -> float:
        import psutil

        return psutil.Process(self.proc.pid).memory_info().rss / 2**20

    def cpu_s(self) -> float:
        import psutil

        t = psutil.Process(self.proc.pid).cpu_times()
        return t.user + t.system

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def log_records(self) -> list[str]:
        """The server log's records (Streamlit and uvicorn warnings, tracebacks): their first lines."""
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return []
        starts = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|WARNING|ERROR|CRITICAL|Traceback)")
        return [line for line in lines if starts.match(line)]

    def stop(self) -> None:
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        else:  # the server is gone; anything it started in its group goes too
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._log.close()


# --- one simulated person --------------------------------------------------------------------------------

class Stats:
    """What a group of sessions saw: render times (ms), first renders, errors by kind, a few messages."""

    def __init__(self) -> None:
        self.renders: list[float] = []
        self.by_page: dict[str, list[float]] = {}  # page url path ("" = Home) -> render times
        self.first: list[float] = []
        self.errors: dict[str, int] = {}
        self.messages: list[str] = []
        self.error_alerts = 0  # st.error boxes: the studio's own messages (a StudioError), not counted as errors

    def error(self, kind: str, message: str = "") -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if message and len(self.messages) < 8:
            self.messages.append(f"{kind}: {message}")

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())


class RenderError(Exception):
    pass


class Session:
    """One websocket session: ``render(page_hash)`` asks for a page and waits for its ``script_finished``."""

    def __init__(self, ws_url: str, stats: Stats):
        self.ws_url = ws_url
        self.stats = stats
        self.ws = None
        self.pages: list[str] = []
        self.names: dict[str, str] = {}  # page_script_hash -> url path

    async def connect(self) -> None:
        from websockets.asyncio.client import connect

        self.ws = await connect(self.ws_url, subprotocols=["streamlit"], max_size=None, open_timeout=120,
                                ping_interval=None, proxy=None)

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):  # closing a broken socket: nothing left to do
                await self.ws.close()
            self.ws = None

    async def render(self, page_hash: str = "") -> float:
        """Render one page; return its time in ms. Errors shown on the page are counted in ``stats``."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        back = BackMsg()
        back.rerun_script.query_string = ""
        back.rerun_script.page_script_hash = page_hash
        started = time.perf_counter()
        await self.ws.send(back.SerializeToString())
        deadline = started + RENDER_TIMEOUT_S
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise RenderError("timeout")
            data = await asyncio.wait_for(self.ws.recv(), timeout=left)
            msg = ForwardMsg()
            msg.ParseFromString(data)
            kind = msg.WhichOneof("type")
            if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                which = element.WhichOneof("type")
                if which == "exception":
                    ex = element.exception
                    self.stats.error("exception", f"{ex.type}: {ex.message[:200]}")
                elif which == "alert" and element.alert.format == 1:  # Alert.Format.ERROR
                    self.stats.error_alerts += 1
            elif kind == "navigation":
                self.pages = [p.page_script_hash for p in msg.navigation.app_pages]
                self.names = {p.page_script_hash: p.url_pathname for p in msg.navigation.app_pages}
            elif kind == "page_not_found":
                self.stats.error("page_not_found", msg.page_not_found.page_name)
            elif kind == "script_finished":
                status = msg.script_finished
                if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    continue  # the page called st.rerun(): its next run follows on the same request
                if status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    self.stats.error("compile_error")
                return (time.perf_counter() - started) * 1000


def record(stats: Stats, err: BaseException) -> None:
    """Count a failed render or connection as one error of its kind."""
    if isinstance(err, RenderError):
        stats.error(str(err).split(" ")[0], str(err))
    elif isinstance(err, asyncio.TimeoutError):
        stats.error("timeout", f"no script_finished within {RENDER_TIMEOUT_S:.0f} s")
    else:  # a failed or closed websocket
        stats.error("websocket", f"{type(err).__name__}: {err}")


async def open_session(ws_url: str, stats: Stats) -> Session:
    """A new session: connect and render its first page (the default page, as a browser opening the studio)."""
    session = Session(ws_url, stats)
    try:
        await session.connect()
        stats.first.append(await session.render())
        if not session.pages:
            raise RenderError("no_navigation in the first run")
    except BaseException:
        await session.close()
        raise
    return session


async def person(ws_url: str, stats: Stats, rng: random.Random, ready: asyncio.Barrier, window: dict,
                 churn: tuple[int, int] | None = None) -> None:
    """Open a session, wait for everyone, then render random pages until the window ends. After an error
    (counted) the person opens a new session and goes on, as a browser reconnects. With ``churn`` the session
    is also replaced by a new one after a random number of renders in that range."""
    session = None
    try:
        try:
            session = await open_session(ws_url, stats)
        except Exception as err:  # noqa: BLE001 - counted; the loop below opens a new one
            record(stats, err)
        finally:
            await ready.wait()
        budget = rng.randint(*churn) if churn else None
        while time.monotonic() < window["end"]:
            try:
                if session is None or (budget is not None and budget <= 0):
                    if session is not None:
                        await session.close()
                        session = None
                    session = await open_session(ws_url, stats)
                    budget = rng.randint(*churn) if churn else None
                    continue
                page = rng.choice(session.pages)
                ms = await session.render(page)
                stats.renders.append(ms)
                stats.by_page.setdefault(session.names.get(page, page), []).append(ms)
                if budget is not None:
                    budget -= 1
            except Exception as err:  # noqa: BLE001 - counted, then a new session
                record(stats, err)
                if session is not None:
                    await session.close()
                    session = None
                await asyncio.sleep(0.5)
    finally:
        if session is not None:
            await session.close()


async def run_group(ws_url: str, n: int, seconds: float, rng: random.Random, on_tick=None,
                    churn: tuple[int, int] | None = None) -> tuple[Stats, float]:
    """n sessions: connect and first-render all of them, then ``seconds`` of random renders. Returns the
    stats and the wall time of the measured window (until the last render started in it has finished)."""
    stats = Stats()
    ready = asyncio.Barrier(n + 1)
    window = {"end": float("inf")}
    tasks = [asyncio.create_task(person(ws_url, stats, random.Random(rng.random()), ready, window, churn))
             for _ in range(n)]
    await ready.wait()
    started = time.monotonic()
    window["end"] = started + seconds
    ticker = asyncio.create_task(on_tick(started)) if on_tick else None
    try:
        await asyncio.gather(*tasks)
    finally:
        if ticker:
            ticker.cancel()
    return stats, time.monotonic() - started


# --- figures ---------------------------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def load_avg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


async def warm_up(ws_url: str) -> tuple[Session, float]:
    """One session visits every page once (first imports of each page's modules), not measured. It stays
    connected, idle, until the end, like a browser tab left open: Streamlit drops its compiled scripts
    whenever the last session disconnects, which would otherwise happen between phases."""
    stats = Stats()
    session = Session(ws_url, stats)
    t = time.perf_counter()
    try:
        await session.connect()
        await session.render()
        for page in session.pages:
            await session.render(page)
    except BaseException:
        await session.close()
        raise
    if stats.n_errors:
        log(f"warm-up saw errors: {stats.errors} {stats.messages}")
    return session, time.perf_counter() - t


async def bench(server: Server, args) -> dict:
    ws_url = f"ws://127.0.0.1:{server.port}/_stcore/stream"
    rng = random.Random(args.seed)
    keeper, took = await warm_up(ws_url)
    log(f"warm-up: every page once in {took:.1f} s; server RSS {server.rss_mb():.0f} MB")
    try:
        return await phases(server, args, ws_url, rng)
    finally:
        await keeper.close()


async def phases(server: Server, args, ws_url: str, rng: random.Random) -> dict:
    result: dict = {}
    errors = 0
    header = (f"{'sessions':>8} {'renders':>8} {'per s':>7} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
              f"{'1st p95':>8} {'srv cpu/r':>9} {'errors':>7} {'RSS MB':>7}  load")
    log(header)
    first_phase = None
    for n in args.sessions:
        cpu0, client0 = server.cpu_s(), time.process_time()
        stats, elapsed = await run_group(ws_url, n, args.phase_seconds, rng)
        cpu = server.cpu_s() - cpu0
        cpu_ms = cpu / max(1, len(stats.renders) + len(stats.first)) * 1000  # first renders included
        rate = len(stats.renders) / elapsed if elapsed else 0.0
        p50, p95 = pct(stats.renders, 50), pct(stats.renders, 95)
        row = (f"{n:>8} {len(stats.renders):>8} {rate:>7.1f} {p50:>8.0f} {p95:>8.0f} "
               f"{max(stats.renders, default=0):>8.0f} {pct(stats.first, 95):>8.0f} "
               f"{cpu_ms:>7.0f}ms {stats.n_errors:>7} "
               f"{server.rss_mb():>7.0f}  {load_avg()}")
        log(row)
        if n == min(args.sessions) and first_phase is None:
            first_phase = stats
        for m in stats.messages:
            log(f"    {m}")
        errors += stats.n_errors
        result[f"p50_ms_{n}"] = round(p50, 1)
        result[f"p95_ms_{n}"] = round(p95, 1)
        result[f"renders_per_s_{n}"] = round(rate, 2)
        result[f"renders_{n}"] = len(stats.renders)
        result[f"server_cpu_ms_per_render_{n}"] = round(cpu_ms, 1)
        result[f"client_cpu_s_{n}"] = round(time.process_time() - client0, 2)
        if stats.error_alerts:
            result[f"error_alerts_{n}"] = stats.error_alerts

    if first_phase is not None:
        slowest = sorted(first_phase.by_page.items(), key=lambda kv: -pct(kv[1], 50))
        log(f"per page at {min(args.sessions)} session(s), p50 ms (n): "
            + ", ".join(f"{name or 'home'} {pct(v, 50):.0f} ({len(v)})" for name, v in slowest))
    soak_n = max(args.sessions)
    churn = (max(1, args.soak_churn // 2), args.soak_churn * 3 // 2) if args.soak_churn > 0 else None
    log(f"soak: {soak_n} sessions for {args.soak_minutes:g} min"
        + (f", each replaced by a new session after {churn[0]}-{churn[1]} renders" if churn else ""))
    rss_start = server.rss_mb()
    samples = [(0.0, rss_start)]
    log(f"  {0:>5.1f} min  RSS {rss_start:.0f} MB  load {load_avg()}")

    async def tick(started: float) -> None:
        while True:
            await asyncio.sleep(60)
            rss = server.rss_mb()
            samples.append(((time.monotonic() - started) / 60, rss))
            log(f"  {samples[-1][0]:>5.1f} min  RSS {rss:.0f} MB  load {load_avg()}")

    stats, elapsed = await run_group(ws_url, soak_n, args.soak_minutes * 60, rng, on_tick=tick, churn=churn)
    rss_end = server.rss_mb()
    log(f"  {elapsed / 60:>5.1f} min  RSS {rss_end:.0f} MB  (end) load {load_avg()}")
    soak_rate = len(stats.renders) / elapsed if elapsed else 0.0
    log(f"soak: {len(stats.renders)} renders ({soak_rate:.1f}/s), {len(stats.first)} sessions opened, "
        f"p50 {pct(stats.renders, 50):.0f} ms, p95 {pct(stats.renders, 95):.0f} ms, errors {stats.n_errors}, "
        f"RSS {rss_start:.0f} -> {rss_end:.0f} MB (max {max(r for _, r in samples + [(0, rss_end)]):.0f})")
    for m in stats.messages:
        log(f"    {m}")
    errors += stats.n_errors
    result.update({
        "soak_renders": len(stats.renders), "soak_renders_per_s": round(soak_rate, 2),
        "soak_p95_ms": round(pct(stats.renders, 95), 1), "soak_sessions_opened": len(stats.first),
        "soak_errors": stats.n_errors,
        "rss_start_mb": round(rss_start, 1), "rss_end_mb": round(rss_end, 1),
        "rss_max_mb": round(max([r for _, r in samples] + [rss_end]), 1),
        "rss_samples_mb": [round(r, 1) for _, r in samples] + [round(rss_end, 1)],
        "soak_minutes": round(elapsed / 60, 2), "errors": errors,
    })
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 s phases and a 1-minute soak")
    parser.add_argument("--phase-seconds", type=float, default=None, help="length of each phase (default 25; quick 8)")
    parser.add_argument("--soak-minutes", type=float, default=None, help="soak length (default 30; quick 1)")
    parser.add_argument("--sessions", default=",".join(map(str, PHASES)), help="concurrent sessions per phase")
    parser.add_argument("--soak-churn", type=int, default=100,
                        help="soak sessions reconnect after ~N renders (N/2 to 3N/2; 0 = never)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--serve-script", default=None,
                        help="serve with `python SCRIPT --host 127.0.0.1 --port P` instead of `python -m studio serve` "
                             "(to compare a patched copy of serve.py)")
    args = parser.parse_args()
    args.phase_seconds = args.phase_seconds or (8.0 if args.quick else 25.0)
    args.soak_minutes = args.soak_minutes if args.soak_minutes is not None else (1.0 if args.quick else 30.0)
    args.sessions = [int(x) for x in args.sessions.split(",") if x.strip()]
    top = max(args.sessions)

    # a SIGTERM to the benchmark still stops the server (finally below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    log(f"machine: {os.cpu_count()} cores, load average {load_avg()}")
    with tempfile.TemporaryDirectory(prefix="bench-sessions-") as tmp:
        tmp_path = Path(tmp)
        env = studio_env(tmp_path)
        t = time.perf_counter()
        prepare(env)
        log(f"demo project loaded in {time.perf_counter() - t:.1f} s")
        server = Server(env, tmp_path, args.serve_script)
        try:
            t = time.perf_counter()
            server.wait_healthy()
            log(f"server pid {server.proc.pid} on {server.url}, healthy after {time.perf_counter() - t:.1f} s")
            figures = asyncio.run(bench(server, args))
        except BaseException:
            log(f"server log (tail):\n{server.tail()}")
            raise
        finally:
            server.stop()
            records = server.log_records()
            if records:
                seen = sorted({re.sub(r"^[\d\- :.,]+", "", r)[:160] for r in records})
                log(f"server log: {len(records)} warnings/errors; distinct: " + " | ".join(seen[:5]))
    p95_top = figures.get(f"p95_ms_{top}", 0.0)
    ok = p95_top <= TARGET_P95_MS and figures["errors"] == 0
    log(f"p95 at {top} sessions: {p95_top:.0f} ms (target <= {TARGET_P95_MS:.0f} ms), errors {figures['errors']}, "
        f"RSS {figures['rss_start_mb']:.0f} -> {figures['rss_end_mb']:.0f} MB: {'ok' if ok else 'MISSES TARGET'}")
    print(json.dumps({
        "bench": "sessions", "ratio": round(p95_top / TARGET_P95_MS, 3), "target": 1.0, "better": "lower",
        "baseline": f"p95 render time at {top} sessions against the 1 s budget (one studio process on this machine)",
        **{k: figures[k] for k in (f"p95_ms_{n}" for n in args.sessions)},
        f"renders_per_s_{top}": figures[f"renders_per_s_{top}"],
        "errors": figures["errors"], "rss_start_mb": figures["rss_start_mb"], "rss_end_mb": figures["rss_end_mb"],
        "soak_minutes": figures["soak_minutes"],
        **{k: v for k, v in figures.items() if k not in {f"p95_ms_{n}" for n in args.sessions}
           and k not in ("errors", "rss_start_mb", "rss_end_mb", "soak_minutes", f"renders_per_s_{top}")},
        "server_log_records": len(records), "load_avg": load_avg(), "cores": os.cpu_count(),
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
