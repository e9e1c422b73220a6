"""Shapes of AddPermission / GetPolicy (botocore's names and fields)."""

from __future__ import annotations

import msgspec

from lambdad.api.shapes.functions import Shape


class AddPermissionRequest(Shape):
    statement_id: str
    action: str
    principal: str
    source_arn: str | None = None
    source_account: str | None = None
    event_source_token: str | None = None
    revision_id: str | None = None
    principal_org_id: str | None = msgspec.field(default=None, name="PrincipalOrgID")
    function_url_auth_type: str | None = None
    invoked_via_function_url: bool | None = None


class AddPermissionResponse(Shape):
    statement: str


class GetPolicyResponse(Shape):
    policy: str
    revision_id: str
