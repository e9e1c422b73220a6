"""The sample function `lambdad` deploys on first start."""

import os

invocations = 0  # module globals live as long as the execution environment


def handler(event, context):
    global invocations
    invocations += 1
    name = (event or {}).get("name", "world") if isinstance(event, dict) else "world"
    print(f"hello from {context.function_name}, invocation {invocations} in this environment")
    return {
        "message": f"Hello, {name}!",
        "request_id": context.aws_request_id,
        "warm_invocations": invocations,
        "runtime": os.environ.get("AWS_EXECUTION_ENV"),
    }
