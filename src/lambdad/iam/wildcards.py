"""IAM's wildcard matching: `*` any run of characters, `?` exactly one.

Where case counts, as IAM has it: actions are case-insensitive
(`Lambda:invoke*` matches `lambda:InvokeFunction`), resources and ARNs are
case-sensitive. An ARN pattern is matched segment by segment
(`arn:partition:service:region:account:resource`): a wildcard in the first five
never crosses a `:`, one in the resource part may (`function:f*` matches
`function:f:prod`), and an empty region or account matches only empty.
"""

from __future__ import annotations

import re
from functools import lru_cache

_ARN_SEGMENTS = 6


@lru_cache(maxsize=4096)
def _compiled(pattern: str, ignore_case: bool, within_segment: bool) -> re.Pattern[str]:
    anything = "[^:]*" if within_segment else ".*"
    one = "[^:]" if within_segment else "."
    parts = [anything if c == "*" else one if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), (re.IGNORECASE if ignore_case else 0) | re.DOTALL)


def glob_matches(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """`value` matches `pattern` as a whole (`*`, `?` may match `:`)."""
    if pattern == "*":
        return True
    return _compiled(pattern, ignore_case, False).fullmatch(value) is not None


def action_matches(pattern: str, action: str) -> bool:
    """An `Action`/`NotAction` entry against `service:Operation` (case-insensitive)."""
    return glob_matches(pattern, action, ignore_case=True)


def arn_matches(pattern: str, arn: str) -> bool:
    """A `Resource` entry (or `ArnLike` value) against an ARN, segment by segment."""
    if pattern == "*":
        return True
    wanted = pattern.split(":", _ARN_SEGMENTS - 1)
    actual = arn.split(":", _ARN_SEGMENTS - 1)
    if len(wanted) != _ARN_SEGMENTS or len(actual) != _ARN_SEGMENTS:
        return glob_matches(pattern, arn)
    for index, (want, have) in enumerate(zip(wanted, actual, strict=True)):
        last = index == _ARN_SEGMENTS - 1
        if not last and "*" not in want and "?" not in want:
            if want != have:
                return False
        elif _compiled(want, False, not last).fullmatch(have) is None:
            return False
    return True
