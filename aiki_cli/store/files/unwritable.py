"""How the file system refusing a write (a full disk, say) reaches callers: as
`StoreUnwritable`, which names the store and says what to do."""

from __future__ import annotations

import errno
import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from ...errors import StoreUnwritable

# How the file system says it cannot take a write: these become `StoreUnwritable`.
WRITE_ERRORS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG, errno.EACCES, errno.EPERM}
)


class _Located(Protocol):
    location: str


_S = TypeVar("_S", bound=_Located)

_P = ParamSpec("_P")

_R = TypeVar("_R")


def writes(method: Callable[Concatenate[_S, _P], _R]) -> Callable[Concatenate[_S, _P], _R]:
    """Report the file system refusing a write (a full disk, say) as `StoreUnwritable`."""

    @functools.wraps(method)
    def writing(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        except OSError as error:
            if error.errno not in WRITE_ERRORS:
                raise
            raise StoreUnwritable(self.location, error) from error

    return writing
