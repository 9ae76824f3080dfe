"""Article review, in two versions that run side by side.

    1.0.0: wait for "review" → publish (blog)
    2.0.0: check-links → wait for "review" → publish (blog, newsletter)

A review can take days, so when 2.0.0 ships, runs of 1.0.0 are still waiting. Each run is
pinned to the version it started on for its whole life: a 1.0.0 run that is reviewed
after 2.0.0 shipped still finishes with 1.0.0's code, while new runs use the version
they name.

    id=$(aiki start article-review@2.0.0 --input-json '{"slug": "durable-sleep"}')
    aiki worker --until-idle                 # checks the links, then waits for a review
    aiki send "$id" review --data-json '{"approved": true, "editor": "grace"}'
    aiki worker --until-idle                 # publishes
"""

from __future__ import annotations

from typing import Any

from aiki_cli import Run, task, workflow


@task(name="check-links")
def check_links(input: dict[str, Any]) -> dict[str, Any]:
    """Check the article's links (simulated: every link is fine)."""
    return {"slug": input["slug"], "broken_links": []}


@task(name="publish-article")
def publish_article(input: dict[str, Any]) -> dict[str, Any]:
    """Publish the article on each channel (simulated)."""
    return {"slug": input["slug"], "channels": input["channels"], "published": True}


article_review = workflow(name="article-review")


@article_review.v("1.0.0")
async def review_v1(input: dict[str, Any], run: Run) -> dict[str, Any]:
    """Publish on the blog once an editor approves."""
    review = await run.wait_for_event("review")
    if not review.data["approved"]:
        return {"slug": input["slug"], "published": False, "editor": review.data["editor"]}
    published: dict[str, Any] = await publish_article.start(
        run, {"slug": input["slug"], "channels": ["blog"]}
    )
    return published


@article_review.v("2.0.0")
async def review_v2(input: dict[str, Any], run: Run) -> dict[str, Any]:
    """As 1.0.0, with a link check first and the newsletter as a second channel."""
    links = await check_links.start(run, {"slug": input["slug"]})
    review = await run.wait_for_event("review")
    if not review.data["approved"]:
        return {"slug": input["slug"], "published": False, "editor": review.data["editor"]}
    published = await publish_article.start(
        run, {"slug": input["slug"], "channels": ["blog", "newsletter"]}
    )
    return {**published, "broken_links": links["broken_links"]}
