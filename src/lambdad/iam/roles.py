"""Execution roles: named policies that a function's environments act under.

A function's `Role` is an IAM role ARN (`arn:aws:iam::ACCOUNT:role[/path]/NAME`);
it names a role of this server when the account is the server's and NAME was
added (`lambdad roles add NAME --policy FILE`). The operator manages roles on
the database directly (like users), so a running server sees a change at once:
policies are read when a request is decided, as IAM does.

Every new server has `lambda-role` (the role the CLI's `deploy` and the
README use), whose policy allows writing logs and nothing on the Lambda API,
like AWS's AWSLambdaBasicExecutionRole, and `lambdad-scheduler` (the role
`lambdad schedule add` gives its schedules), whose policy allows invoking the
account's functions and nothing else, like the role Scheduler's console makes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from lambdad.concurrency import run_sync
from lambdad.errors import InvalidParameterValue, ValidationError
from lambdad.iam.documents import parse_identity_policy
from lambdad.store.roles import RoleRow, RoleStore

ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")
ROLE_ARN = re.compile(r"arn:aws[a-zA-Z-]*:iam::(\d{12}):role/(?:[\w+=,.@/-]*/)?([\w+=,.@-]+)")
NOT_ASSUMABLE = "The role defined for the function cannot be assumed by Lambda."
DEFAULT_ROLE = "lambda-role"
SCHEDULER_ROLE = "lambdad-scheduler"
BASIC_EXECUTION_POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": "*",
        }
    ],
}


def scheduler_policy(account_id: str) -> dict[str, Any]:
    """`lambdad-scheduler`'s policy: invoke any function of the account."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": f"arn:aws:lambda:*:{account_id}:function:*",
            }
        ],
    }


@dataclass(frozen=True)
class Role:
    name: str
    arn: str
    policy: dict[str, Any]
    created_at: float

    def policy_text(self) -> str:
        return json.dumps(self.policy, indent=2)


class Roles:
    """The roles of one account. Blocking methods are for the CLI; the server
    awaits `check_assumable` and `policy_of`."""

    def __init__(self, store: RoleStore, account_id: str) -> None:
        self.store = store
        self.account_id = account_id

    def arn(self, name: str) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{name}"

    def put(self, name: str, policy_text: str) -> bool:
        """Add the role `name`, or replace its policy; True when it is new."""
        if not ROLE_NAME.fullmatch(name):
            raise ValidationError(
                f"Role name {name!r} must be 1-64 characters of letters, digits and +=,.@_-"
            )
        return self.store.put(name, parse_identity_policy(policy_text))

    def list(self) -> list[Role]:
        return [self._role(row) for row in self.store.list()]

    def remove(self, name: str) -> bool:
        return self.store.remove(name)

    def ensure_default(self) -> None:
        """Add `lambda-role` and `lambdad-scheduler` unless there are (on every start:
        cheap, idempotent; an operator's change to either is kept)."""
        if self.store.get(DEFAULT_ROLE) is None:
            self.store.put(DEFAULT_ROLE, BASIC_EXECUTION_POLICY)
        if self.store.get(SCHEDULER_ROLE) is None:
            self.store.put(SCHEDULER_ROLE, scheduler_policy(self.account_id))

    def name_of(self, role_arn: str) -> str | None:
        """The role a Role ARN names on this server, if it is one of this account's."""
        match = ROLE_ARN.fullmatch(role_arn)
        if match is None or match.group(1) != self.account_id:
            return None
        return match.group(2)

    async def policy_of(self, role_arn_or_name: str) -> dict[str, Any] | None:
        name = self.name_of(role_arn_or_name) if ":" in role_arn_or_name else role_arn_or_name
        row = None if name is None else await run_sync(self.store.get, name)
        return None if row is None else row.policy

    async def check_assumable(self, role_arn: str) -> None:
        """AWS's error for a function whose Role is not a role of this server."""
        name = self.name_of(role_arn)
        if name is None or await run_sync(self.store.get, name) is None:
            raise InvalidParameterValue(NOT_ASSUMABLE)

    def _role(self, row: RoleRow) -> Role:
        return Role(row.name, self.arn(row.name), row.policy, row.created_at)
