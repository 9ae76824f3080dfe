"""Cancelling a run cancels its descendants (workflows/rollout.py)."""

from __future__ import annotations

import asyncio

import pytest
from rollout import (
    host_deploy,
    install_release,
    region_rollout,
    rollout,
    rollout_v1,
    verify_host,
)

from aiki_cli import RunCancelled, RunStatus
from aiki_cli.store import Store
from aiki_cli.testing import Harness

from .support import count_calls

RELEASE = {"release": "v42", "regions": {"eu": ["eu-1", "eu-2"], "us": ["us-1"]}}


def test_a_rollout_completes_through_three_levels_of_runs(store: Store) -> None:
    async def scenario() -> None:
        harness = Harness([rollout, region_rollout, host_deploy], store=store)
        handle = await harness.start(rollout_v1, RELEASE)
        await harness.run_until_idle()

        result = await handle.wait_for_completion()
        assert [region["region"] for region in result["regions"]] == ["eu", "us"]
        assert [host["host"] for host in result["regions"][0]["hosts"]] == ["eu-1", "eu-2"]

    asyncio.run(scenario())


def test_cancelling_the_grandparent_cancels_the_parents_and_the_children(
    monkeypatch: pytest.MonkeyPatch,
    store: Store,
) -> None:
    calls = count_calls(monkeypatch, install_release, verify_host)

    async def scenario() -> None:
        harness = Harness([rollout, region_rollout, host_deploy], store=store)
        handle = await harness.start(rollout_v1, RELEASE)
        await harness.advance("10m")  # the hosts are baking

        top = await handle.get_status()
        regions = [await harness.client.get(region) for region in top.children]
        hosts = [await harness.client.get(host) for region in regions for host in region.children]
        assert top.status == RunStatus.AWAITING_CHILD
        assert [region.status for region in regions] == [RunStatus.AWAITING_CHILD] * 2
        assert [host.status for host in hosts] == [RunStatus.SLEEPING] * 3

        await handle.cancel()
        await harness.run_until_idle()

        assert (await handle.get_status()).status == RunStatus.CANCELLED
        for run in (*regions, *hosts):
            assert (await harness.client.get(run.id)).status == RunStatus.CANCELLED
        assert calls == {"install-release": 3}, "no host was verified"
        with pytest.raises(RunCancelled):
            await handle.wait_for_completion()

    asyncio.run(scenario())


def test_cancelling_a_child_directly_ends_its_parents_wait(store: Store) -> None:
    async def scenario() -> None:
        harness = Harness([rollout, region_rollout, host_deploy], store=store)
        handle = await harness.start(rollout_v1, {"release": "v42", "regions": {"eu": ["eu-1"]}})
        await harness.advance("10m")
        [region_id] = (await handle.get_status()).children
        [host_id] = (await harness.client.get(region_id)).children

        await harness.client.cancel(host_id)  # the host only, while it bakes
        await harness.run_until_idle()

        assert (await harness.client.get(host_id)).status == RunStatus.CANCELLED
        region = await harness.client.get(region_id)
        assert region.status == RunStatus.FAILED, "its code does not catch ChildCancelled"
        assert region.error is not None and region.error.type == "ChildCancelled"
        assert (await handle.get_status()).status == RunStatus.FAILED

    asyncio.run(scenario())
