"""Group commit: a run's flush goes to the sync thread only while other runs execute beside
it, in a batch with theirs; alone, it flushes in place."""

from __future__ import annotations

import asyncio
import threading

import pytest

from aiki_cli.commit import GroupCommit


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


def test_flushes_asked_in_one_turn_are_synced_together_in_one_batch() -> None:
    batches: list[int] = []

    def together(claims: list[FakeClaim]) -> bool:
        batches.append(len(claims))
        for claim in claims:
            claim.unsynced = False
        return True

    claims = [FakeClaim() for _ in range(7)]
    outcomes = flush_all(GroupCommit(together, lambda: 7), claims)  # type: ignore[arg-type]
    assert outcomes == [None] * 7
    assert batches == [7]
    assert all(claim.flushed_in == [] for claim in claims)  # no sync of its own
    assert not any(claim.unsynced for claim in claims)


def test_a_batch_that_cannot_sync_together_flushes_each_and_a_failure_fails_its_run() -> None:
    claims = [FakeClaim() for _ in range(6)]
    commit = GroupCommit(separately, lambda: 7)  # type: ignore[arg-type]
    outcomes = flush_all(commit, [*claims, BrokenClaim()])
    assert outcomes[:6] == [None] * 6
    assert isinstance(outcomes[6], OSError)
    assert all(claim.flushed_in[0].startswith("aiki-sync") for claim in claims)


def test_a_sync_that_breaks_as_a_whole_fails_every_run_of_its_batch() -> None:
    def broken(claims: list[FakeClaim]) -> bool:
        raise RuntimeError("sync thread broke")

    outcomes = flush_all(GroupCommit(broken, lambda: 3), [FakeClaim(), FakeClaim()])  # type: ignore[arg-type]
    assert all(isinstance(outcome, RuntimeError) for outcome in outcomes)


def test_flushes_asked_during_a_sync_form_the_next_batch() -> None:
    """While the sync thread syncs one batch, the runs that ask meanwhile wait for it to
    finish and then go together: one wake-up of the thread for all of them."""
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

    first, later = Named("first"), [Named(f"later-{n}") for n in range(3)]
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
    assert batches == [["first"], ["later-0", "later-1", "later-2"]]
