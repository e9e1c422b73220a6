"""Errors of the `events` JSON API (EventBridge) that the Lambda API does not have.

    EventsError                     InternalException 500: the root of the events API's own;
    │                               its client errors are 400, as the JSON protocol sends them
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
    code = "InternalException"
    status = 500


class InvalidEventPattern(EventsError):
    code = "InvalidEventPatternException"
    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(f"Event pattern is not valid. Reason: {reason}")
        self.reason = reason


class ResourceAlreadyExists(EventsError):
    code = "ResourceAlreadyExistsException"
    status = 400


class LimitExceeded(EventsError):
    code = "LimitExceededException"
    status = 400
