"""Pagination markers: the opaque `Marker`/`NextMarker` of list operations.

A marker is the last key of the page before, base64 (URL-safe). Decoding is
strict: a marker with stray characters is refused, not silently decoded into
some other key.
"""

from __future__ import annotations

import base64
import binascii

from lambdad.errors import InvalidParameterValue


def encode_marker(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def decode_marker(marker: str) -> str:
    try:
        return base64.b64decode(marker.encode(), altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise InvalidParameterValue(f"Invalid marker: {marker}") from exc
