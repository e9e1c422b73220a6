"""Errors of the CloudWatch Logs JSON API (`Logs_20140328`) that the Lambda API does not have.

LogsError                   ServiceUnavailableException 500: the root of the logs API's own;
│                           its client errors are 400, as the JSON protocol sends them
├── InvalidParameter        InvalidParameterException (a bad member, a bad filter pattern)
├── LogResourceNotFound     ResourceNotFoundException (no such log group or stream)
└── LogGroupAlreadyExists   ResourceAlreadyExistsException (CreateLogGroup)
"""

from __future__ import annotations

from lambdad.errors import LambdadError


class LogsError(LambdadError):
    service = "logs"
    code = "ServiceUnavailableException"
    status = 500


class InvalidParameter(LogsError):
    code = "InvalidParameterException"
    status = 400


class LogResourceNotFound(LogsError):
    code = "ResourceNotFoundException"
    status = 400


class LogGroupAlreadyExists(LogsError):
    code = "ResourceAlreadyExistsException"
    status = 400
