"""The Redis bookkeeping of runs (celery_app.joins) against a real Redis.

A pure-Python simulated worker (pop the outbox, claim, finish, release) drives whole graphs and
checks the central promise: every task becomes ready exactly once, only once all its
requirements are done, and as soon as the last of them is (no task waits for anything it does
not require). The same steps drive :class:`dagcore.plan.RunState`, which must agree.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from multiprocessing.synchronize import Barrier

import pytest
from redis import Redis

from celery_app.joins import RunExistsError, RunStore, RunStoreError
from dagcore.plan import Node, Plan, RunState

PREFIX = "dgtest"
LEASE_MS = 30_000


@pytest.fixture
def client(redis_url: str) -> Iterator[Redis[str]]:
    connection: Redis[str] = Redis.from_url(redis_url, decode_responses=True)
    yield connection
    connection.close()


@pytest.fixture
def store(client: Redis[str]) -> RunStore:
    return RunStore(client, PREFIX)


def node(task_id: str, deps: Sequence[str] = (), complete: bool = False) -> Node:
    return Node(task_id, "tests.Fake", "tests", {"id": task_id}, list(deps), complete=complete)


def make_plan(graph: Mapping[str, Sequence[str]], complete: Sequence[str] = ()) -> Plan:
    """A plan from ``task -> requirements``; every task is a root unless something requires it."""
    required = {dep for deps in graph.values() for dep in deps}
    plan = Plan(roots=[t for t in graph if t not in required])
    for task_id, deps in graph.items():
        plan.nodes[task_id] = node(task_id, deps, task_id in complete)
    return plan


def diamond() -> dict[str, list[str]]:
    return {"A": [], "B": ["A"], "C": ["A"], "D": ["B", "C"]}


def n_shape() -> dict[str, list[str]]:
    return {"A": [], "B": [], "C": ["A", "B"], "D": ["B"]}


def lattice(size: int) -> dict[str, list[str]]:
    graph: dict[str, list[str]] = {}
    for i in range(size):
        for j in range(size):
            deps = ([f"L{i - 1}_{j}"] if i else []) + ([f"L{i}_{j - 1}"] if j else [])
            graph[f"L{i}_{j}"] = deps
    return graph


def etl(n: int) -> dict[str, list[str]]:
    """The benchmark's shape: n x (Extract -> Transform -> Load) -> Report (3n + 1 tasks)."""
    graph: dict[str, list[str]] = {}
    for i in range(n):
        graph[f"E{i}"] = []
        graph[f"T{i}"] = [f"E{i}"]
        graph[f"L{i}"] = [f"T{i}"]
    graph["Report"] = [f"L{i}" for i in range(n)]
    return graph


def publish(store: RunStore, run_id: str, returned: Sequence[str]) -> list[str]:
    """What a worker does after finish: the outbox holds exactly what was returned; ack it."""
    pending = store.pending_outbox(run_id)
    assert Counter(pending) == Counter(returned)
    store.ack_outbox(run_id, pending)
    assert store.pending_outbox(run_id) == []
    return pending


def simulate(store: RunStore, run_id: str, plan: Plan, seed: int) -> Counter[str]:
    """Run a whole plan with one simulated worker taking ready messages in random order."""
    rng = random.Random(seed)
    graph = {t: list(n.deps) for t, n in plan.nodes.items()}
    dependents = plan.dependents()
    mirror = RunState(make_plan(graph, [t for t, n in plan.nodes.items() if n.complete]))
    done = {t for t, n in plan.nodes.items() if n.complete}
    remaining = {t: len(set(deps) - done) for t, deps in graph.items()}
    messages = publish(store, run_id, store.create_run(run_id, plan))
    assert sorted(messages) == sorted(mirror.ready())
    readied: Counter[str] = Counter(messages)
    while messages:
        task = messages.pop(rng.randrange(len(messages)))
        assert remaining[task] == 0, f"{task} ran before its requirements"
        claim = store.claim(run_id, task, LEASE_MS)
        assert claim.ok and claim.token is not None
        mirror.start(task)
        ready = store.finish(run_id, task)
        done.add(task)
        assert sorted(ready) == sorted(mirror.done(task))
        # Ready exactly when the last requirement finishes: it was this task, and no other
        # dependent of this task is left waiting with all its requirements done.
        for dependent in dependents[task]:
            remaining[dependent] -= 1
            expected = remaining[dependent] == 0 and not plan.nodes[dependent].complete
            assert (dependent in ready) == expected
        messages.extend(publish(store, run_id, ready))
        readied.update(ready)
        assert store.release(task, claim.token)
        if len(graph) < 100:  # a redelivered copy is turned away (round trips add up on big ones)
            assert store.claim(run_id, task, LEASE_MS).status == "done"
    return readied


@pytest.mark.parametrize(
    ("shape", "seeds"),
    [(diamond(), range(10)), (n_shape(), range(10)), (lattice(30), [1]), (etl(1000), [7])],
    ids=["diamond", "n-shape", "lattice-30x30", "etl-3001"],
)
def test_every_task_is_ready_exactly_once_when_its_last_requirement_finishes(
    store: RunStore, shape: dict[str, list[str]], seeds: range | list[int]
) -> None:
    for seed in seeds:
        run_id = f"run-{seed}"
        plan = make_plan(shape)
        readied = simulate(store, run_id, plan, seed)
        assert readied == Counter(list(plan.nodes))  # each once, and nothing else
        status = store.run_status(run_id)
        assert status["done"] == status["total"] == len(shape)
        assert status["failed"] == status["outbox"] == 0
        done_events = [f for _, f in store.read_events(run_id) if f["type"] == "done"]
        assert sorted(f["task"] for f in done_events) == sorted(shape)


def test_complete_tasks_start_done_and_their_dependents_ready(store: RunStore) -> None:
    graph = etl(5)
    complete = ["E0", "E1", "T1"]
    plan = make_plan(graph, complete)
    readied = simulate(store, "run", plan, 3)
    assert readied == Counter(t for t in graph if t not in complete)


def test_create_writes_the_schema(store: RunStore, client: Redis[str]) -> None:
    ready = store.create_run("r1", make_plan(diamond(), complete=["A"]))
    assert sorted(ready) == ["B", "C"]
    base = f"{PREFIX}:run:{{r1}}:"
    assert client.hgetall(base + "waiting") == {"B": "0", "C": "0", "D": "2"}
    assert client.smembers(base + "done") == {"A"}
    assert client.lrange(base + "outbox", 0, -1) == ready
    meta = client.hgetall(base + "meta")
    assert (meta["status"], meta["total"], json.loads(meta["roots"])) == ("RUNNING", "4", ["D"])
    stored = store.node("r1", "A")
    assert stored is not None
    assert sorted(stored.pop("dependents")) == ["B", "C"]
    assert stored == node("A", complete=True).to_dict()
    assert store.node("r1", "nope") is None
    assert store.missing_nodes("r1", ["A", "X", "D", "Y"]) == ["X", "Y"]


def test_create_refuses_an_existing_run_and_a_dangling_requirement(store: RunStore) -> None:
    store.create_run("r1", make_plan(diamond()))
    with pytest.raises(RunExistsError, match="r1"):
        store.create_run("r1", make_plan(diamond()))
    broken = make_plan({"A": ["ghost"]})
    with pytest.raises(RunStoreError, match="ghost"):
        store.create_run("r2", broken)


def test_create_of_the_etl_plan_is_fast(store: RunStore) -> None:
    plan = make_plan(etl(1000))
    started = time.perf_counter()
    ready = store.create_run("big", plan)
    elapsed = time.perf_counter() - started
    assert len(ready) == 1000
    assert elapsed < 0.5, f"creating 3001 nodes took {elapsed:.2f}s"


def test_a_task_with_thousands_of_dependents(store: RunStore, client: Redis[str]) -> None:
    # Far more than Lua can unpack() at once: the scripts push in slices.
    leaves = [f"leaf{i}" for i in range(20_000)]
    graph: dict[str, list[str]] = {"root": [], **{leaf: ["root"] for leaf in leaves}}
    graph["join"] = leaves
    assert store.create_run("star", make_plan(graph)) == ["root"]
    assert client.hget(f"{PREFIX}:run:{{star}}:waiting", "join") == "20000"
    ready = store.finish("star", "root")
    assert sorted(ready) == sorted(leaves)
    assert Counter(store.pending_outbox("star")) == Counter(["root", *leaves])


def test_finish_twice_changes_nothing(store: RunStore) -> None:
    store.create_run("r", make_plan(diamond()))
    store.ack_outbox("r", store.pending_outbox("r"))
    assert sorted(store.finish("r", "A")) == ["B", "C"]
    assert store.finish("r", "A") == []
    assert sorted(store.pending_outbox("r")) == ["B", "C"]
    assert store.finish("r", "B") == []
    assert store.finish("r", "B") == []
    assert store.finish("r", "C") == ["D"]
    assert store.finish("r", "C") == []
    assert sorted(store.pending_outbox("r")) == ["B", "C", "D"]
    events = [f["task"] for _, f in store.read_events("r") if f["type"] == "done"]
    assert events == ["A", "B", "C"]


def test_finish_of_a_task_outside_the_run_is_an_error(store: RunStore) -> None:
    store.create_run("r", make_plan(diamond()))
    with pytest.raises(RunStoreError, match="ghost"):
        store.finish("r", "ghost")


def test_concurrent_finish_of_a_join_pushes_it_once_threads(store: RunStore) -> None:
    rounds = 150
    for i in range(rounds):
        store.create_run(f"j{i}", make_plan(n_shape()))
    pushed: list[tuple[str, str]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(2)

    def worker(order: Sequence[str]) -> None:
        for i in range(rounds):
            barrier.wait(timeout=10)
            for task in order:  # both finish both requirements: racing, then redelivered
                got = store.finish(f"j{i}", task)
                with lock:
                    pushed.extend((f"j{i}", t) for t in got)

    threads = [threading.Thread(target=worker, args=(o,)) for o in (["A", "B"], ["B", "A"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    expected = Counter({(f"j{i}", t): 1 for i in range(rounds) for t in ("C", "D")})
    assert Counter(pushed) == expected
    for i in range(rounds):
        assert sorted(store.pending_outbox(f"j{i}")) == ["A", "B", "C", "D"]


def _finish_in_process(url: str, rounds: int, order: list[str], barrier: Barrier) -> None:
    """Child process body: finish ``order`` in every run, in step with the other process."""
    client: Redis[str] = Redis.from_url(url, decode_responses=True)
    child = RunStore(client, PREFIX)
    for i in range(rounds):
        barrier.wait(timeout=10)
        for task in order:
            for ready in child.finish(f"p{i}", task):
                client.rpush("dgtest:pushed", f"p{i}/{ready}")
    client.close()


def test_concurrent_finish_of_a_join_pushes_it_once_processes(
    store: RunStore, client: Redis[str], redis_url: str
) -> None:
    import multiprocessing

    rounds = 100
    for i in range(rounds):
        store.create_run(f"p{i}", make_plan(n_shape()))
    # fork: a spawned child would re-import the test stack, which costs seconds on a busy box.
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(2)
    processes = [
        context.Process(target=_finish_in_process, args=(redis_url, rounds, order, barrier))
        for order in (["A", "B"], ["B", "A"])
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    pushed = Counter(client.lrange("dgtest:pushed", 0, -1))
    assert pushed == Counter({f"p{i}/{t}": 1 for i in range(rounds) for t in ("C", "D")})


class Yields:
    """Drives extend() on the store and requeue() on a RunState side by side."""

    def __init__(self, store: RunStore, run_id: str, graph: Mapping[str, Sequence[str]]) -> None:
        self.store, self.run_id = store, run_id
        self.mirror = RunState(make_plan(graph))
        assert sorted(store.create_run(run_id, make_plan(graph))) == sorted(self.mirror.ready())
        store.ack_outbox(run_id, store.pending_outbox(run_id))

    def start(self, task_id: str) -> None:
        self.mirror.start(task_id)

    def yields(self, parent: str, nodes: Sequence[Node], direct: Sequence[str]) -> list[str]:
        ready = self.store.extend(self.run_id, parent, nodes, direct)
        copies = [replace(n, deps=list(n.deps)) for n in nodes]  # requeue edits deps in place
        assert sorted(ready) == sorted(self.mirror.requeue(parent, copies, list(direct)))
        return sorted(publish(self.store, self.run_id, ready))

    def finish(self, task_id: str) -> list[str]:
        ready = self.store.finish(self.run_id, task_id)
        assert sorted(ready) == sorted(self.mirror.done(task_id))
        return sorted(publish(self.store, self.run_id, ready))


def test_extend_three_deep_yields(store: RunStore) -> None:
    run = Yields(store, "r", {"P": [], "X": []})
    run.start("P")
    # P yields Q1, which has a static requirement R: R is ready, Q1 and P wait.
    assert run.yields("P", [node("Q1", ["R"]), node("R")], ["Q1"]) == ["R"]
    run.start("R")
    assert run.finish("R") == ["Q1"]
    run.start("Q1")
    assert run.yields("Q1", [node("Q2")], ["Q2"]) == ["Q2"]
    run.start("Q2")
    assert run.yields("Q2", [node("Q3")], ["Q3"]) == ["Q3"]
    run.start("Q3")
    assert run.finish("Q3") == ["Q2"]
    run.start("Q2")
    assert run.finish("Q2") == ["Q1"]
    run.start("Q1")
    assert run.finish("Q1") == ["P"]
    run.start("P")
    assert run.finish("P") == []
    assert run.finish("X") == []
    status = store.run_status("r")
    assert status["done"] == status["total"] == 6
    yielded = [f for _, f in store.read_events("r") if f["type"] == "yielded"]
    assert [(f["task"], json.loads(f["new"]), json.loads(f["direct"])) for f in yielded] == [
        ("P", ["Q1", "R"], ["Q1"]),
        ("Q1", ["Q2"], ["Q2"]),
        ("Q2", ["Q3"], ["Q3"]),
    ]
    stored = store.node("r", "R")
    assert stored is not None and stored["dependents"] == ["Q1"] and stored["deps"] == []


def test_extend_with_a_requirement_that_is_running(store: RunStore) -> None:
    run = Yields(store, "r", {"A": [], "B": [], "C": ["A"]})
    run.start("A")
    run.start("B")
    # B yields A (running) and a new N that also needs A: nothing is ready until A finishes.
    assert run.yields("B", [node("A"), node("N", ["A"])], ["A", "N"]) == []
    stored = store.node("r", "A")
    assert stored is not None and sorted(stored["dependents"]) == ["B", "C", "N"]
    assert run.finish("A") == ["C", "N"]
    run.start("N")
    assert run.finish("N") == ["B"]


def test_extend_with_a_requirement_that_is_done(store: RunStore) -> None:
    run = Yields(store, "r", {"A": [], "B": []})
    run.start("A")
    run.finish("A")
    run.start("B")
    assert run.yields("B", [node("A")], ["A"]) == ["B"]


def test_extend_twice_changes_nothing_more(store: RunStore, client: Redis[str]) -> None:
    store.create_run("r", make_plan({"A": [], "B": []}))
    store.ack_outbox("r", store.pending_outbox("r"))
    fragment = [node("A"), node("N")]
    assert store.extend("r", "B", fragment, ["A", "N"]) == ["N"]
    # The parent is redelivered and yields the same again: no second N, no second edge.
    assert store.extend("r", "B", fragment, ["A", "N"]) == []
    assert store.pending_outbox("r") == ["N"]
    stored = store.node("r", "A")
    assert stored is not None and stored["dependents"] == ["B"]
    assert client.hget(f"{PREFIX}:run:{{r}}:waiting", "B") == "2"
    assert store.finish("r", "N") == []
    assert store.finish("r", "A") == ["B"]
    assert store.run_status("r")["total"] == 3


def test_extend_refuses_unknown_tasks_and_writes_nothing(store: RunStore) -> None:
    store.create_run("r", make_plan({"A": [], "B": []}))
    with pytest.raises(RunStoreError, match="ghost"):
        store.extend("r", "B", [node("N", ["ghost"])], ["N"])
    with pytest.raises(RunStoreError, match="ghost"):
        store.extend("r", "B", [node("N")], ["ghost"])
    with pytest.raises(RunStoreError, match="nobody"):
        store.extend("r", "nobody", [node("N")], ["N"])
    assert store.missing_nodes("r", ["N"]) == ["N"]
    assert [f["type"] for _, f in store.read_events("r")] == []
    # A stale copy of a parent that is done already adds nothing.
    store.finish("r", "B")
    assert store.extend("r", "B", [node("N")], ["N"]) == []
    assert store.missing_nodes("r", ["N"]) == ["N"]


def test_fail_is_recorded_once(store: RunStore) -> None:
    store.create_run("r", make_plan(diamond()))
    assert store.fail("r", "A", "ValueError", "bad row 3", 2) is True
    assert store.fail("r", "A", "ValueError", "bad row 3", 2) is False
    assert store.run_status("r")["failed"] == 1
    failed = [f for _, f in store.read_events("r") if f["type"] == "failed"]
    assert failed == [
        {
            "type": "failed",
            "task": "A",
            "attempt": "2",
            "error_type": "ValueError",
            "error_message": "bad row 3",
        }
    ]
    store.finish("r", "B")
    assert store.fail("r", "B", "X", "y", 1) is False  # done is final


def test_worker_events_and_blocking_read(store: RunStore) -> None:
    store.create_run("r", make_plan(diamond()))
    first = store.event("r", "started", "A", attempt=1)
    events = store.read_events("r")
    assert events == [(first, {"type": "started", "task": "A", "attempt": "1"})]
    with pytest.raises(ValueError, match="done"):
        store.event("r", "done", "A")
    assert store.read_events("r", first, block_ms=50) == []

    def later() -> None:
        time.sleep(0.1)
        store.event("r", "retry", "A", attempt=1, error_type="E", error_message="m")

    thread = threading.Thread(target=later)
    started = time.monotonic()
    thread.start()
    events = store.read_events("r", first, block_ms=5000)
    thread.join()
    assert time.monotonic() - started < 4
    assert [f["type"] for _, f in events] == ["retry"]
    assert events[0][1]["error_message"] == "m"


def test_cancel(store: RunStore) -> None:
    store.create_run("r", make_plan(diamond()))
    store.ack_outbox("r", store.pending_outbox("r"))
    claim = store.claim("r", "A", LEASE_MS)
    assert not store.is_cancelled("r")
    assert store.cancel("r") is True
    assert store.cancel("r") is False
    assert store.is_cancelled("r")
    assert store.run_status("r")["status"] == "CANCELLED"
    assert store.claim("r", "B", LEASE_MS).status == "cancelled"
    # The task that was running when the run was cancelled finishes: recorded, nothing published.
    assert store.finish("r", "A") == []
    assert store.pending_outbox("r") == []
    assert claim.token is not None and store.release("A", claim.token)
    assert [(f["type"], f["task"]) for _, f in store.read_events("r")] == [
        ("cancelled", ""),
        ("done", "A"),
    ]
    assert store.mark_finished("r") is False
    assert store.claim("gone", "A", LEASE_MS).status == "cancelled"
    assert store.run_status("gone") == {}


def test_every_key_has_a_ttl(client: Redis[str]) -> None:
    store = RunStore(client, PREFIX, ttl_seconds=3600)

    def assert_ttls() -> set[str]:
        keys = set(client.scan_iter(f"{PREFIX}:*"))
        for key in keys:
            ttl = client.ttl(key)
            limit = LEASE_MS // 1000 if ":claim:" in key else 3600
            assert 0 < ttl <= limit, f"{key} has TTL {ttl}"
        return {k.split(":")[1] for k in keys}

    store.create_run("r1", make_plan(diamond()))
    store.create_run("r2", make_plan(diamond()))
    held = store.claim("r1", "A", LEASE_MS)
    assert store.claim("r2", "A", LEASE_MS).status == "busy"
    assert assert_ttls() == {"run", "runs", "claim", "claims", "fence", "claimwait", "starts"}
    store.event("r1", "started", "A", attempt=1)
    store.finish("r1", "A")
    store.fail("r1", "B", "E", "m", 1)
    assert held.token is not None and store.renew("A", held.token, LEASE_MS) == "held"
    assert client.ttl(f"{PREFIX}:run:{{r1}}:failed") > 0
    assert client.ttl(f"{PREFIX}:run:{{r1}}:events") > 0
    # The waiters were handed the task.
    assert assert_ttls() == {"run", "runs", "claim", "claims", "fence", "starts", "woken"}


def test_a_client_that_does_not_decode_works_the_same(redis_url: str) -> None:
    raw: Redis[bytes] = Redis.from_url(redis_url)
    try:
        store = RunStore(raw, PREFIX)
        assert simulate(store, "bytes", make_plan(n_shape()), 5) == Counter("ABCD")
        claim = store.claim("bytes", "A", LEASE_MS)
        assert claim.status == "done"
        assert store.event("bytes", "skipped", "A").count("-") == 1
        # The settle of the last task closed the run (and a late close changes nothing).
        assert store.run_status("bytes")["status"] == "SUCCESS"
        assert store.mark_finished("bytes") is False
        store.create_run("late", make_plan(n_shape()))
        assert store.mark_finished("late")
        assert store.claim("late", "A", LEASE_MS).status == "cancelled"  # a late duplicate
        assert not store.is_cancelled("bytes")
        node_a = store.node("bytes", "A")
        assert node_a is not None and sorted(node_a["dependents"]) == ["C"]
    finally:
        raw.close()


def test_settle_hands_back_only_what_it_made_ready_with_the_nodes(store: RunStore) -> None:
    # A -> C and B -> D; the roots are still in the outbox (their publisher is slow to ack).
    plan = make_plan({"A": [], "B": [], "C": ["A"], "D": ["B"]})
    assert sorted(store.create_run("r", plan)) == ["A", "B"]
    claim = store.claim("r", "A", LEASE_MS)
    assert claim.token is not None
    settled = store.settle("r", "A", claim.token, done=True)
    # Only C, which this settle made ready, with its stored node: never the roots another
    # publisher is still busy with, so nothing goes out twice.
    assert settled.ready == ["C"]
    assert [(e.run_id, e.task_id) for e in settled.publish] == [("r", "C")]
    published = settled.publish[0].node
    assert published is not None and published["task_id"] == "C"
    assert published["params"] == {"id": "C"} and published["dependents"] == []
    assert sorted(store.pending_outbox("r")) == ["A", "B", "C"]
    store.ack_entries(settled.publish)
    assert sorted(store.pending_outbox("r")) == ["A", "B"]
