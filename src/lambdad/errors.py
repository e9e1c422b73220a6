"""The exception tree every part raises; `api/errors.py` renders it.

    LambdadError                      root; `code` is AWS's error name, `status` its HTTP status
    ├── ValidationError               ValidationException 400 (constraint on one member)
    ├── InvalidParameterValue         InvalidParameterValueException 400
    ├── InvalidRequestContent         InvalidRequestContentException 400 (payload is not JSON)
    ├── AccessDenied                  AccessDeniedException 403 (a caller the API does not serve)
    ├── ResourceNotFound              ResourceNotFoundException 404
    │   └── ProvisionedConfigNotFound  ProvisionedConcurrencyConfigNotFoundException 404
    ├── ResourceConflict              ResourceConflictException 409
    ├── PreconditionFailed            PreconditionFailedException 412 (RevisionId mismatch)
    ├── PolicyLengthExceeded          PolicyLengthExceededException 400 (policy over 20 KB)
    ├── RequestTooLarge               RequestEntityTooLargeException 413
    ├── TooManyRequests               TooManyRequestsException 429
    │   └── Throttled                 an invoke over a concurrency limit (has `reason`)
    ├── RecursiveInvocation           RecursiveInvocationException 400 (a loop was stopped)
    ├── UnsupportedMediaType          UnsupportedMediaTypeException 415
    └── ServiceError                  ServiceException 500

The message is the text AWS sends; raise at the place where the rule lives.
"""

from __future__ import annotations


class LambdadError(Exception):
    code = "ServiceException"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(LambdadError):
    code = "ValidationException"
    status = 400


class InvalidParameterValue(LambdadError):
    code = "InvalidParameterValueException"
    status = 400


class InvalidRequestContent(LambdadError):
    code = "InvalidRequestContentException"
    status = 400


class AccessDenied(LambdadError):
    code = "AccessDeniedException"
    status = 403


class ResourceNotFound(LambdadError):
    code = "ResourceNotFoundException"
    status = 404


class ResourceConflict(LambdadError):
    code = "ResourceConflictException"
    status = 409


class PreconditionFailed(LambdadError):
    code = "PreconditionFailedException"
    status = 412


class PolicyLengthExceeded(LambdadError):
    code = "PolicyLengthExceededException"
    status = 400


class RequestTooLarge(LambdadError):
    code = "RequestEntityTooLargeException"
    status = 413


class TooManyRequests(LambdadError):
    code = "TooManyRequestsException"
    status = 429

    def __init__(
        self, message: str, reason: str = "ReservedFunctionConcurrentInvocationLimitExceeded"
    ) -> None:
        super().__init__(message)
        self.reason = reason


class Throttled(TooManyRequests):
    """An invocation refused for concurrency: the function's reservation or the
    account's unreserved pool is in use. Callers that can wait (the async queue)
    catch this type and try again later without counting an attempt."""

    def __init__(self, reason: str) -> None:
        super().__init__("Rate Exceeded.", reason=reason)


class ProvisionedConfigNotFound(ResourceNotFound):
    code = "ProvisionedConcurrencyConfigNotFoundException"
    status = 404


class RecursiveInvocation(LambdadError):
    code = "RecursiveInvocationException"
    status = 400


class UnsupportedMediaType(LambdadError):
    code = "UnsupportedMediaTypeException"
    status = 415


class ServiceError(LambdadError):
    code = "ServiceException"
    status = 500
