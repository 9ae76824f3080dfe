"""What other processes leave for a run: mail (an event, news of a child) and requests."""

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Request = Literal["cancel", "pause", "wake"]
REQUESTS: tuple[Request, ...] = ("cancel", "pause", "wake")
STOPS: tuple[Request, ...] = ("cancel", "pause")  # what stops a run at its next boundary
# What a mail key may be: stores name files after it (an event's reference id is hashed).
MAIL_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")


class Mail(BaseModel):
    """Something another process left for a run: an event, or word that a child ended."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    key: str
    kind: Literal["event", "child"]
    sent_at: datetime
    order: int = 0  # the sender's nanosecond clock: keeps sends of one instant in order
    name: str = ""
    data: Any = None
    reference_id: str | None = None
    child_id: str | None = None
