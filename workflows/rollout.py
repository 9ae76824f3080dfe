"""Rollout: a release deployed region by region, host by host, as three levels of runs.

    rollout ─┬─ region-rollout (eu) ─┬─ host-deploy (eu-1): install → bake 30m → verify
             │                       └─ host-deploy (eu-2): …
             └─ region-rollout (us) ─── host-deploy (us-1): …

    id=$(aiki start rollout@1.0.0 --input-json \
        '{"release": "v42", "regions": {"eu": ["eu-1", "eu-2"], "us": ["us-1"]}}')
    aiki worker --until-idle    # installs everywhere; the hosts bake for 30 minutes
    aiki cancel "$id"           # stops the rollout: every region and host run with it

Every region and every host is a child run with its own journal. Cancelling a run
cancels its children that have not ended, and theirs: cancelling the rollout while the
hosts bake cancels the region runs and the host runs, and nothing further is installed
or verified. (A task already in flight when the cancel lands may finish.)
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiki_cli import Run, task, workflow

BAKE_TIME = "30m"


@task(name="install-release")
def install_release(input: dict[str, Any]) -> dict[str, Any]:
    """Install the release on one host (simulated)."""
    return {"host": input["host"], "release": input["release"], "installed": True}


@task(name="verify-host")
def verify_host(input: dict[str, Any]) -> dict[str, Any]:
    """Check the host's health after baking (simulated: it is healthy)."""
    return {"host": input["host"], "healthy": True}


host_deploy = workflow(name="host-deploy")


@host_deploy.v("1.0.0")
async def host_deploy_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    """Install, let the release bake under real traffic, then verify the host."""
    await install_release.start(run, input)
    await run.sleep("bake", BAKE_TIME)
    verified: dict[str, Any] = await verify_host.start(run, {"host": input["host"]})
    return verified


region_rollout = workflow(name="region-rollout")


@region_rollout.v("1.0.0")
async def region_rollout_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    """Deploy every host of the region at once."""
    hosts = [
        await host_deploy_v1.start(run, {"host": host, "release": input["release"]})
        for host in input["hosts"]
    ]
    results = await asyncio.gather(*(host.wait_for_completion() for host in hosts))
    return {"region": input["region"], "hosts": results}


rollout = workflow(name="rollout")


@rollout.v("1.0.0")
async def rollout_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    """Roll the release out to every region at once."""
    regions = [
        await region_rollout_v1.start(
            run, {"region": region, "hosts": hosts, "release": input["release"]}
        )
        for region, hosts in input["regions"].items()
    ]
    results = await asyncio.gather(*(region.wait_for_completion() for region in regions))
    return {"release": input["release"], "regions": results}
