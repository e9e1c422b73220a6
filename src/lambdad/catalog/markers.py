"""Pagination markers: the opaque `Marker`/`NextMarker` of list operations.

A marker is the last key of the page before, base64 (URL-safe). Decoding is
strict: a marker with stray characters is refused, not silently decoded into
some other key.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import TypeVar

from lambdad.catalog.validation import check_range
from lambdad.errors import InvalidParameterValue

T = TypeVar("T")


def encode_marker(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def decode_marker(marker: str) -> str:
    try:
        return base64.b64decode(marker.encode(), altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise InvalidParameterValue(f"Invalid marker: {marker}") from exc


def page_size(max_items: int | None, most: int) -> int:
    """The page size a list operation uses: its MaxItems (1 to `most`), else `most`."""
    if max_items is None:
        return most
    check_range(max_items, "maxItems", 1, most)
    return max_items


def page_after(
    rows: Sequence[T], key: Callable[[T], str], marker: str | None, limit: int
) -> tuple[list[T], str | None]:
    """The page of `rows` (sorted by `key`) after `marker`, and the marker of the next one."""
    after = decode_marker(marker) if marker else None
    rest = [r for r in rows if after is None or key(r) > after]
    page = rest[:limit]
    return page, encode_marker(key(page[-1])) if len(rest) > limit else None
