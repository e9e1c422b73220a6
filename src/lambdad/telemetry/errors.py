"""Errors of the CloudWatch metrics API (botocore's `cloudwatch` model) and X-Ray's.

    CloudWatchError                    InternalServiceFault 500 (query code InternalServiceError)
    ├── MetricParameterInvalid         InvalidParameterValueException (InvalidParameterValue)
    ├── MetricParameterMissing         MissingRequiredParameterException (MissingParameter)
    ├── MetricParameterCombination     InvalidParameterCombinationException
    ├── MetricNextTokenInvalid         InvalidNextToken
    └── MetricValidationError          ValidationException (ValidationError): GetMetricData
    XRayInvalidRequest                 InvalidRequestException 400 (X-Ray)

`code` is the model's shape name (what the CBOR and JSON protocols send as
`__type`); CloudWatch is "awsQueryCompatible", so `query_code` is the code the
SDKs show (sent in the `x-amzn-query-error` header).
"""

from __future__ import annotations

from lambdad.errors import LambdadError


class CloudWatchError(LambdadError):
    service = "cloudwatch"
    code = "InternalServiceFault"
    query_code = "InternalServiceError"
    status = 500


class MetricParameterInvalid(CloudWatchError):
    code = "InvalidParameterValueException"
    query_code = "InvalidParameterValue"
    status = 400


class MetricParameterMissing(CloudWatchError):
    code = "MissingRequiredParameterException"
    query_code = "MissingParameter"
    status = 400


class MetricParameterCombination(CloudWatchError):
    code = "InvalidParameterCombinationException"
    query_code = "InvalidParameterCombination"
    status = 400


class MetricNextTokenInvalid(CloudWatchError):
    code = "InvalidNextToken"
    query_code = "InvalidNextToken"
    status = 400


class XRayInvalidRequest(LambdadError):
    service = "xray"
    code = "InvalidRequestException"
    status = 400


class MetricValidationError(CloudWatchError):
    """GetMetricData's refusal of a query (an unknown stat, an expression)."""

    code = "ValidationException"
    query_code = "ValidationError"
    status = 400
