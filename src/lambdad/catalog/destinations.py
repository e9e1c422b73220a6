"""Where a function's events may go after it ran: destinations and dead-letter queues.

lambdad can deliver to another Lambda function (an asynchronous invoke with
AWS's invocation record). Queues, topics, buckets and event buses need
services lambdad does not have yet, so an ARN of those is refused when it is
configured, never accepted and then silently dropped.
"""

from __future__ import annotations

import re

from lambdad.catalog.constraints import check_string
from lambdad.catalog.names import Account, FunctionRef
from lambdad.errors import InvalidParameterValue

# botocore's DestinationArn pattern.
DESTINATION_ARN_PATTERN = (
    r"$|kafka://([^.]([a-zA-Z0-9\-_.]{0,248}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:"
    r"((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1})?:(\d{12})?:(.*)"
)
_ARN = re.compile(r"arn:(?P<partition>aws[a-zA-Z0-9-]*):(?P<service>[a-zA-Z0-9\-]+):(?P<rest>.*)")
_FUNCTION_ARN = re.compile(
    r"arn:aws[a-zA-Z0-9-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[a-zA-Z0-9-_]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]{1,128}))?"
)
MAX_DESTINATION_ARN = 350

# Services whose ARNs AWS accepts as a destination or dead-letter target, by
# what a user would call them.
MISSING_SERVICES = {
    "sqs": "Amazon SQS queues",
    "sns": "Amazon SNS topics",
    "s3": "Amazon S3 buckets",
    "events": "Amazon EventBridge event buses",
}


def check_destination(account: Account, arn: str, member: str, own_name: str) -> FunctionRef:
    """The function a destination ARN names, or AWS's error for the ARN.

    `member` is the request member for validation messages
    (`destinationConfig.onFailure.destination`); `own_name` the function
    being configured, which cannot be its own destination.
    """
    check_string(arn, member, 0, MAX_DESTINATION_ARN, DESTINATION_ARN_PATTERN)
    service = _service(arn)
    if service in MISSING_SERVICES or arn.startswith("kafka://"):
        what = MISSING_SERVICES.get(service or "", "Kafka clusters")
        raise InvalidParameterValue(
            f"The destination ARN {arn} is invalid: this lambdad server has no {what} to "
            "deliver to. Use a Lambda function as the destination."
        )
    match = _FUNCTION_ARN.fullmatch(arn)
    if service != "lambda" or match is None:
        raise InvalidParameterValue(f"The destination ARN {arn} is invalid.")
    if match.group("region") != account.region or match.group("account") != account.account_id:
        raise InvalidParameterValue(
            f"The destination ARN {arn} is invalid: it names a function of another "
            f"account or region than {account.account_id} in {account.region}."
        )
    if match.group("name") == own_name:
        raise InvalidParameterValue("You can't specify the function as a destination for itself.")
    return FunctionRef(match.group("name"), match.group("qualifier"))


def check_dead_letter_target(target_arn: str | None) -> None:
    """DeadLetterConfig.TargetArn: AWS takes an SQS queue or SNS topic, lambdad has neither."""
    if not target_arn:
        return
    service = _service(target_arn)
    if service in ("sqs", "sns"):
        raise InvalidParameterValue(
            f"The DeadLetterConfig target {target_arn} is not supported: this lambdad server "
            f"has no {MISSING_SERVICES[service]} yet. Send failed events to a function with an "
            "OnFailure destination instead (PutFunctionEventInvokeConfig)."
        )
    raise InvalidParameterValue(
        f"The DeadLetterConfig target {target_arn} is invalid: a dead-letter queue is an "
        "Amazon SQS queue or an Amazon SNS topic."
    )


def _service(arn: str) -> str | None:
    match = _ARN.fullmatch(arn)
    return None if match is None else match.group("service")
