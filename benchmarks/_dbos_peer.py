"""The peer: DBOS Transact on its embedded SQLite system database, doing what aiki does in
the benchmarks. Run as a child process by the scripts (DBOS is a process-wide singleton
with background threads, so it never shares a process with aiki's measurements):

    python benchmarks/_dbos_peer.py steps   --db FILE --ks 1,10,100
    python benchmarks/_dbos_peer.py enqueue --db FILE --runs 1000 --concurrency 10
    python benchmarks/_dbos_peer.py serve   --db FILE --concurrency 10 --executor w1

Each prints one JSON document on its last line. The SQLite database is configured in
the process (`system_database_url="sqlite:///FILE"`); no server is involved. `--db` may
instead be a `postgresql://` URL (DBOS's native backend; `bench_postgres.py` gives it a
database of its own on the server aiki is measured on). DBOS's own
SQLite settings are kept (rollback journal, synchronous=FULL: every commit is durable,
as every aiki journal append of a result is).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from typing import Any

from dbos import DBOS, DBOSConfig

QUEUE = "bench"
POLL = 0.01  # the queue's polling interval: short, so DBOS is not held back by polling


@DBOS.step()
def noop(value: Any) -> Any:
    return value


@DBOS.workflow()
def steps_wf(k: int) -> int:
    for i in range(k):
        noop(i)
    return k


@DBOS.workflow()
def one_wf(value: Any) -> Any:
    return noop(value)


def configure(db: str, executor: str | None = None) -> None:
    config: DBOSConfig = {
        "name": "aiki-bench",
        "system_database_url": db if db.startswith("postgresql") else f"sqlite:///{db}",
        "application_version": "bench",  # every process of the benchmark runs the same code
        "log_level": "WARNING",
    }
    if executor is not None:
        config["executor_id"] = executor
    DBOS(config=config)
    logging.getLogger("dbos").setLevel(logging.WARNING)


def steps(args: argparse.Namespace) -> dict[str, Any]:
    """Seconds of one workflow of k no-op steps, for each k."""
    configure(args.db)
    DBOS.launch()
    try:
        steps_wf(1)  # warm up: tables, connections
        times = {}
        for k in args.ks:
            start = time.perf_counter()
            steps_wf(k)
            times[str(k)] = time.perf_counter() - start
        return {"times": times}
    finally:
        DBOS.destroy()


def enqueue(args: argparse.Namespace) -> dict[str, Any]:
    """Enqueue `runs` one-step workflows without executing them; the seconds it took."""
    configure(args.db)
    DBOS.listen_queues([])  # this process only enqueues, like aiki's client
    DBOS.launch()
    try:
        queue = DBOS.register_queue(
            QUEUE, worker_concurrency=args.concurrency, polling_interval_sec=POLL
        )
        start = time.perf_counter()
        for i in range(args.runs):
            queue.enqueue(one_wf, i)
        return {"seconds": time.perf_counter() - start}
    finally:
        DBOS.destroy()


def serve(args: argparse.Namespace) -> dict[str, Any]:
    """Execute the queue's workflows until none is left enqueued or pending."""
    configure(args.db, executor=args.executor)
    DBOS.launch()
    try:
        DBOS.register_queue(QUEUE, worker_concurrency=args.concurrency, polling_interval_sec=POLL)
        while _left(["ENQUEUED", "PENDING"]):
            time.sleep(0.02)
        return {"completed": len(_listed("SUCCESS"))}
    finally:
        DBOS.destroy()


def _listed(status: str | list[str], limit: int | None = None) -> list[Any]:
    return DBOS.list_workflows(
        status=status, queue_name=QUEUE, limit=limit, load_input=False, load_output=False
    )


def _left(status: list[str]) -> bool:
    return bool(_listed(status, limit=1))


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("mode", choices=["steps", "enqueue", "serve"])
    options.add_argument("--db", required=True)
    options.add_argument("--ks", type=lambda text: [int(k) for k in text.split(",")])
    options.add_argument("--runs", type=int, default=1000)
    options.add_argument("--concurrency", type=int, default=10)
    options.add_argument("--executor")
    args = options.parse_args()
    result = {"steps": steps, "enqueue": enqueue, "serve": serve}[args.mode](args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
