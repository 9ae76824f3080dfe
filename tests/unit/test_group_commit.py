"""Group commit: a run's flush goes to a thread only while other runs execute beside it,
where the syncs can overlap; alone, it flushes in place."""

from __future__ import annotations

import asyncio
import threading

import pytest

from aiki_cli import commit as commit_module
from aiki_cli.commit import GroupCommit


class FakeClaim:
    def __init__(self, unsynced: bool = True) -> None:
        self.unsynced = unsynced
        self.flushed_in: list[str] = []

    def flush(self) -> None:
        self.flushed_in.append(threading.current_thread().name)
        self.unsynced = False


def flush_with(executing: int, claim: FakeClaim) -> None:
    commit = GroupCommit(2, lambda: executing)
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
    commit = GroupCommit(2, lambda: 2)

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


def test_flushes_asked_in_one_turn_go_to_the_threads_in_shares(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seven runs flushing together cost two hand-offs to the two threads, not seven; a
    flush that fails fails its own run only."""
    shares: list[int] = []
    flush_all = commit_module._flush_all
    monkeypatch.setattr(
        commit_module,
        "_flush_all",
        lambda claims: (shares.append(len(claims)), flush_all(claims))[1],
    )
    claims = [FakeClaim() for _ in range(6)]

    class BrokenClaim(FakeClaim):
        def flush(self) -> None:
            raise OSError("disk gone")

    broken = BrokenClaim()
    commit = GroupCommit(2, lambda: 7)

    async def together() -> list[BaseException | None]:
        return await asyncio.gather(
            *(commit.flush(claim) for claim in [*claims, broken]),  # type: ignore[arg-type]
            return_exceptions=True,
        )

    try:
        outcomes = asyncio.run(together())
    finally:
        commit.close()
    assert outcomes[:6] == [None] * 6
    assert isinstance(outcomes[6], OSError)
    assert sorted(shares) == [3, 4]
    assert all(claim.flushed_in[0].startswith("aiki-sync") for claim in claims)
