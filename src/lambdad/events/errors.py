"""Errors of the `events` JSON API (EventBridge) that the Lambda API does not have.

    EventsError                     a client error of the events API; AWS's JSON protocol
    │                               sends every one of them as 400 with `__type`
    ├── InvalidEventPattern         InvalidEventPatternException (PutRule's pattern)
    ├── ResourceAlreadyExists       ResourceAlreadyExistsException (CreateEventBus)
    └── LimitExceeded               LimitExceededException

The shared tree (`lambdad.errors`) serves the rest: `ValidationError`,
`ResourceNotFound` (rendered 400 by the JSON protocol, as AWS does).
"""

from __future__ import annotations

from lambdad.errors import LambdadError


class EventsError(LambdadError):
    service = "events"
    status = 400


class InvalidEventPattern(EventsError):
    code = "InvalidEventPatternException"

    def __init__(self, reason: str) -> None:
        super().__init__(f"Event pattern is not valid. Reason: {reason}")
        self.reason = reason


class ResourceAlreadyExists(EventsError):
    code = "ResourceAlreadyExistsException"


class LimitExceeded(EventsError):
    code = "LimitExceededException"
