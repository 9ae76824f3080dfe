"""Thumbnails: fan out one child run per image, then gather the results in input order.

    thumbnail-batch ─┬─ thumbnail (cat.jpg)  ─┐
                     ├─ thumbnail (dog.png)  ─┼─→ [cat, dog, bird]  (the input's order)
                     └─ thumbnail (bird.gif) ─┘     a failed child is reported, not fatal

    aiki start thumbnail-batch@1.0.0 --wait --input-json \
        '{"images": [{"name": "cat.jpg", "size_kb": 40}, {"name": "dog.png", "size_kb": 30}]}'

Each image is a child run of its own (`aiki status` of the batch lists them): it has its
own journal and retries, and `aiki cancel` of the batch cancels every child that has not
ended. The parent waits parked in `awaiting_child`, holding no worker slot.

Children end in any order — an image over 1 MB waits a minute for the batch renderer's
next pass, so it ends after the small ones started with it — but `asyncio.gather` keeps
the results in the order of the input. A child that fails (an image format the renderer
does not know) raises `ChildFailed` in the parent, which reports that image as failed and
carries on with the others.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from aiki_cli import ChildFailed, ChildHandle, Run, task, workflow

FORMATS = frozenset({"jpg", "jpeg", "png", "webp"})
LARGE_KB = 1000
RENDERER_PASS = "1m"


@task(name="render-thumbnail")
def render_thumbnail(input: dict[str, Any]) -> dict[str, Any]:
    """Render a 128-pixel thumbnail (simulated: its address is derived from the name)."""
    name = input["name"]
    extension = name.rpartition(".")[2].lower()
    if extension not in FORMATS:
        raise ValueError(f"{name}: cannot render .{extension} images; use {sorted(FORMATS)}")
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    return {"image": name, "thumbnail": f"thumbs/{digest}-128.{extension}"}


thumbnail = workflow(name="thumbnail")


@thumbnail.v("1.0.0")
async def thumbnail_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    """One image: large ones wait for the batch renderer's next pass, then render."""
    if input.get("size_kb", 0) > LARGE_KB:
        await run.sleep("batch-renderer", RENDERER_PASS)
    rendered: dict[str, Any] = await render_thumbnail.start(run, {"name": input["name"]})
    return rendered


thumbnail_batch = workflow(name="thumbnail-batch")


@thumbnail_batch.v("1.0.0")
async def thumbnail_batch_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    """A child run per image, all at once; their results in the order of the input."""
    images = input["images"]
    children = [await thumbnail_v1.start(run, image) for image in images]
    pairs = zip(children, images, strict=True)
    results = await asyncio.gather(*(outcome(child, image["name"]) for child, image in pairs))
    return {"thumbnails": results, "failed": sum("error" in result for result in results)}


async def outcome(child: ChildHandle, name: str) -> dict[str, Any]:
    """The child's result, or what went wrong with it."""
    try:
        result: dict[str, Any] = await child.wait_for_completion()
        return result
    except ChildFailed as failure:
        return {"image": name, "error": failure.error_message}
