"""Group commit: a run's flush goes to a sync thread only while other runs execute beside
it, in a batch with theirs; alone, it flushes in place. A large batch is synced at once
in one thread, a small one in shares across the threads."""

from __future__ import annotations

import asyncio
import threading

import pytest

from aiki_cli.store import group_commit as commit_module
from aiki_cli.store.group_commit import TOGETHER_FROM, GroupCommit


class FakeClaim:
    def __init__(self, unsynced: bool = True) -> None:
        self.unsynced = unsynced
        self.flushed_in: list[str] = []

    def flush(self) -> None:
        self.flushed_in.append(threading.current_thread().name)
        self.unsynced = False


def separately(claims: list[FakeClaim]) -> bool:
    return False  # as a store that cannot sync claims together: each flushes alone


def flush_with(executing: int, claim: FakeClaim) -> None:
    commit = GroupCommit(separately, lambda: executing)  # type: ignore[arg-type]
    try:
        asyncio.run(commit.flush(claim))  # type: ignore[arg-type]
    finally:
        commit.close()


@pytest.mark.parametrize(("executing", "thread"), [(1, "MainThread"), (3, "aiki-sync")])
def test_a_flush_goes_to_a_thread_only_beside_other_runs(executing: int, thread: str) -> None:
    claim = FakeClaim()
    flush_with(executing, claim)
    assert len(claim.flushed_in) == 1
    assert claim.flushed_in[0].startswith(thread)


def test_nothing_to_sync_costs_no_flush() -> None:
    claim = FakeClaim(unsynced=False)
    flush_with(3, claim)
    assert claim.flushed_in == []


def test_a_cancelled_flush_still_ends_its_sync() -> None:
    """A worker stopping a run mid-flush does not leave the sync half done."""
    started, release = threading.Event(), threading.Event()

    class SlowClaim(FakeClaim):
        def flush(self) -> None:
            started.set()
            release.wait(5)
            super().flush()

    claim = SlowClaim()
    commit = GroupCommit(separately, lambda: 2)  # type: ignore[arg-type]

    async def cancel_mid_flush() -> None:
        flushing = asyncio.ensure_future(commit.flush(claim))  # type: ignore[arg-type]
        await asyncio.to_thread(started.wait, 5)
        flushing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await flushing
        release.set()

    try:
        asyncio.run(cancel_mid_flush())
    finally:
        commit.close()  # waits for the sync under way
    assert claim.flushed_in and not claim.unsynced


class BrokenClaim(FakeClaim):
    def flush(self) -> None:
        raise OSError("disk gone")


def flush_all(commit: GroupCommit, claims: list[FakeClaim]) -> list[BaseException | None]:
    """Flush every claim at once, as runs executing side by side do; each outcome."""

    async def together() -> list[BaseException | None]:
        return await asyncio.gather(
            *(commit.flush(claim) for claim in claims),  # type: ignore[arg-type]
            return_exceptions=True,
        )

    try:
        return asyncio.run(together())
    finally:
        commit.close()


def test_a_large_batch_is_synced_together_in_one_thread() -> None:
    batches: list[int] = []

    def together(claims: list[FakeClaim]) -> bool:
        batches.append(len(claims))
        for claim in claims:
            claim.unsynced = False
        return True

    claims = [FakeClaim() for _ in range(TOGETHER_FROM)]
    commit = GroupCommit(together, lambda: TOGETHER_FROM)  # type: ignore[arg-type]
    assert flush_all(commit, claims) == [None] * TOGETHER_FROM
    assert batches == [TOGETHER_FROM]
    assert all(claim.flushed_in == [] for claim in claims)  # no sync of its own
    assert not any(claim.unsynced for claim in claims)


def test_a_large_batch_that_cannot_sync_together_flushes_each_and_a_failure_fails_its_run() -> None:
    claims = [FakeClaim() for _ in range(TOGETHER_FROM)]
    commit = GroupCommit(separately, lambda: TOGETHER_FROM + 1)  # type: ignore[arg-type]
    outcomes = flush_all(commit, [*claims, BrokenClaim()])
    assert outcomes[:-1] == [None] * TOGETHER_FROM
    assert isinstance(outcomes[-1], OSError)
    assert all(claim.flushed_in[0].startswith("aiki-sync") for claim in claims)


def test_a_small_batch_goes_to_the_threads_in_shares(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seven flushes cost two hand-offs to two threads, whose fdatasyncs overlap; a flush
    that fails fails its own run only."""
    shares: list[int] = []
    flush_each = commit_module._flush_each
    monkeypatch.setattr(
        commit_module,
        "_flush_each",
        lambda claims: (shares.append(len(claims)), flush_each(claims))[1],
    )

    def never(claims: list[FakeClaim]) -> bool:
        raise AssertionError("a small batch is not synced together")

    claims = [FakeClaim() for _ in range(6)]
    commit = GroupCommit(never, lambda: 7, threads=2)  # type: ignore[arg-type]
    outcomes = flush_all(commit, [*claims, BrokenClaim()])
    assert outcomes[:6] == [None] * 6
    assert isinstance(outcomes[6], OSError)
    assert sorted(shares) == [3, 4]
    assert all(claim.flushed_in[0].startswith("aiki-sync") for claim in claims)


def test_a_sync_that_breaks_as_a_whole_fails_every_run_of_its_batch() -> None:
    def broken(claims: list[FakeClaim]) -> bool:
        raise RuntimeError("sync thread broke")

    claims = [FakeClaim() for _ in range(TOGETHER_FROM)]
    outcomes = flush_all(GroupCommit(broken, lambda: TOGETHER_FROM), claims)  # type: ignore[arg-type]
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)


def test_flushes_asked_during_a_sync_form_the_next_batch() -> None:
    """While one batch is synced, the runs that ask meanwhile wait for it to finish and
    then go together."""
    syncing, release = threading.Event(), threading.Event()
    batches: list[list[str]] = []

    class Named(FakeClaim):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

        def flush(self) -> None:  # a batch of one: the first, alone
            batches.append([self.name])
            syncing.set()
            release.wait(5)
            self.unsynced = False

    def together(claims: list[Named]) -> bool:
        batches.append([claim.name for claim in claims])
        return True

    first, later = Named("first"), [Named(f"later-{n}") for n in range(TOGETHER_FROM)]
    commit = GroupCommit(together, lambda: 4)  # type: ignore[arg-type]

    async def scenario() -> None:
        head = asyncio.ensure_future(commit.flush(first))  # type: ignore[arg-type]
        await asyncio.to_thread(syncing.wait, 5)
        rest = [asyncio.ensure_future(commit.flush(claim)) for claim in later]  # type: ignore[arg-type]
        await asyncio.sleep(0.01)
        release.set()
        await asyncio.gather(head, *rest)

    try:
        asyncio.run(scenario())
    finally:
        commit.close()
    assert batches == [["first"], [claim.name for claim in later]]
