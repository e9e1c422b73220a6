"""What deciding a request costs: the policy evaluator and the authorizer, in process.

    .venv/bin/python bench/authorization.py [-n 20000] [--statements 10]

Times, in the same run:

1. the floor: the admin user (decided without reading a policy);
2. `evaluate` alone: a user's policy of `--statements` statements (wildcard
   actions and resources, one condition each), the request matching the last;
3. `Authorizer.authorize` for Invoke: the same policy plus a function resource
   policy of `--statements` statements (in memory: the database read is not timed),
   with the global condition keys it builds per request.

Prints a Markdown table; nothing is written to bench/RESULTS.md by this script.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from measure import pct

from lambdad.iam import Authorizer, Principal, PrincipalKind, Request, evaluate
from lambdad.iam.policy_eval import Caller

ACCOUNT = "000000000000"
FN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:orders"
BOB = Principal(PrincipalKind.USER, "bob", f"arn:aws:iam::{ACCOUNT}:user/bob", "AKIABOB")
ADMIN = Principal(PrincipalKind.USER, "admin", f"arn:aws:iam::{ACCOUNT}:user/admin", "AKIAADM")


def user_policy(statements: int) -> dict[str, Any]:
    listed = [
        {
            "Effect": "Allow",
            "Action": [f"lambda:Get{i}*", "lambda:List*"],
            "Resource": f"arn:aws:lambda:*:{ACCOUNT}:function:team{i}-*",
            "Condition": {"StringEquals": {"aws:username": "bob"}},
        }
        for i in range(statements - 1)
    ]
    listed.append(
        {
            "Effect": "Allow",
            "Action": "lambda:Invoke*",
            "Resource": f"arn:aws:lambda:*:{ACCOUNT}:function:orders*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    return {"Version": "2012-10-17", "Statement": listed}


def resource_policy(statements: int) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": f"s{i}",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "lambda:InvokeFunction",
                "Resource": FN,
                "Condition": {"ArnLike": {"AWS:SourceArn": f"arn:aws:events:*:*:rule/r{i}"}},
            }
            for i in range(statements)
        ],
    }


def timed_us(call: Callable[[], object], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1e6)
    return samples


def timed_async_us(call: Callable[[], Awaitable[object]], n: int) -> list[float]:
    async def run() -> list[float]:
        samples = []
        for _ in range(n):
            started = time.perf_counter()
            await call()
            samples.append((time.perf_counter() - started) * 1e6)
        return samples

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=20000)
    parser.add_argument("--statements", type=int, default=10)
    args = parser.parse_args()
    identity, resource = user_policy(args.statements), resource_policy(args.statements)

    async def identity_policies(_p: Principal) -> Sequence[dict[str, Any]]:
        return [identity]

    async def function_policy(_arn: str) -> dict[str, Any] | None:
        return resource

    authorizer = Authorizer(
        ACCOUNT, identity_policies, function_policy, is_admin=lambda p: p.name == "admin"
    )
    keys = {"aws:username": "bob", "aws:securetransport": "false"}
    request = Request("lambda:InvokeFunction", FN, Caller(arn=BOB.arn, account=ACCOUNT), keys)
    context = {"aws:SecureTransport": "false", "aws:RequestedRegion": "us-east-1"}
    rows = [
        (
            "admin (no policy read)",
            timed_async_us(
                lambda: authorizer.authorize(ADMIN, "lambda:InvokeFunction", [FN]), args.n
            ),
        ),
        (
            f"evaluate: user policy of {args.statements} statements",
            timed_us(lambda: evaluate(request, [identity]), args.n),
        ),
        (
            f"authorize Invoke: user + function policy ({args.statements} statements each)",
            timed_async_us(
                lambda: authorizer.authorize(BOB, "lambda:InvokeFunction", [FN], context),
                args.n,
            ),
        ),
    ]
    print("| decision | p50 us | p90 us | p99 us |")
    print("|---|---|---|---|")
    for label, samples in rows:
        p50, p90, p99 = (pct(samples, p) for p in (0.5, 0.9, 0.99))
        print(f"| {label} | {p50:.1f} | {p90:.1f} | {p99:.1f} |")


if __name__ == "__main__":
    main()
