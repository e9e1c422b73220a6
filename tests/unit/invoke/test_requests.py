import base64
import re

import pytest

from lambdad.errors import InvalidRequestContent, RequestTooLarge
from lambdad.invoke import check_client_context, check_payload, new_trace_id


def test_payload_rules() -> None:
    assert check_payload(b"", 10) == b"{}"  # no payload: an empty event
    assert check_payload(b'"x"', 10) == b'"x"'
    with pytest.raises(RequestTooLarge, match="smaller than 10 bytes"):
        check_payload(b'"' + b"x" * 20 + b'"', 10)
    with pytest.raises(InvalidRequestContent, match="Could not parse request body into json"):
        check_payload(b"{not json", 100)


def test_client_context_must_be_base64_json() -> None:
    good = base64.b64encode(b'{"custom": {"k": "v"}}').decode()
    assert check_client_context(good) == good
    assert check_client_context(None) is None
    with pytest.raises(InvalidRequestContent):
        check_client_context(base64.b64encode(b"not json").decode())
    with pytest.raises(InvalidRequestContent):
        check_client_context("%%%")


def test_trace_ids_look_like_xray_headers() -> None:
    trace = new_trace_id(now=0x5F000000)
    assert re.fullmatch(r"Root=1-5f000000-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0", trace)
