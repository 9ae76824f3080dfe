"""Two versions of one workflow in flight at once, each run pinned to its own
(workflows/article_review.py)."""

from __future__ import annotations

import asyncio

import pytest
from article_review import article_review, check_links, publish_article, review_v1, review_v2

from aiki_cli import RunStatus
from aiki_cli.store import Store
from aiki_cli.testing import Harness

from .support import count_calls

APPROVED = {"approved": True, "editor": "grace"}


def test_v1_and_v2_runs_side_by_side_each_finish_with_their_own_code(
    monkeypatch: pytest.MonkeyPatch,
    store: Store,
) -> None:
    calls = count_calls(monkeypatch, check_links, publish_article)

    async def scenario() -> None:
        harness = Harness([article_review], store=store)  # both versions deployed together
        old = await harness.start(review_v1, {"slug": "durable-sleep"})
        await harness.run_until_idle()
        new = await harness.start(review_v2, {"slug": "child-runs"})
        await harness.run_until_idle()

        for handle, version in ((old, "1.0.0"), (new, "2.0.0")):
            info = await handle.get_status()
            assert (info.status, info.version) == (RunStatus.AWAITING_EVENT, version)
        assert calls == {"check-links": 1}, "only the 2.0.0 run checked links"

        await harness.send(old, "review", APPROVED)
        await harness.send(new, "review", APPROVED)
        await harness.run_until_idle()

        assert await old.wait_for_completion() == {
            "slug": "durable-sleep",
            "channels": ["blog"],
            "published": True,
        }
        assert await new.wait_for_completion() == {
            "slug": "child-runs",
            "channels": ["blog", "newsletter"],
            "published": True,
            "broken_links": [],
        }
        assert calls == {"check-links": 1, "publish-article": 2}
        old_tasks = [task.name for task in (await old.get_status()).tasks]
        assert old_tasks == ["publish-article"]

    asyncio.run(scenario())


def test_a_v1_run_resumes_under_v1_when_only_v2_was_started_since(store: Store) -> None:
    async def scenario() -> None:
        harness = Harness([article_review], store=store)
        old = await harness.start(review_v1, {"slug": "durable-sleep"})
        await harness.run_until_idle()
        for slug in ("a", "b"):
            await harness.start(review_v2, {"slug": slug})
        await harness.run_until_idle()

        await harness.send(old, "review", {"approved": False, "editor": "grace"})
        await harness.run_until_idle()

        info = await old.get_status()
        assert (info.version, info.result) == (
            "1.0.0",
            {"slug": "durable-sleep", "published": False, "editor": "grace"},
        )

    asyncio.run(scenario())
