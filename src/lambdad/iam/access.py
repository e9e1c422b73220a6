"""The access parts of one server, built together: roles, role sessions, the authorizer.

`server.build_app` builds one `Access` and hands its pieces to the parts that
use them: the catalog checks a function's Role (`check_role`), the launcher
gives each environment its role's credentials (`credentials_for`), the pool
retires environments before those expire (`max_environment_age_s`), the API
decides every request (`authorizer`), the event bus asks
`authorizer.service_may_invoke` and the scheduler `role_may_invoke`. With
authorization off, roles are not checked and environments get inert credentials.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from lambdad.catalog import Version
from lambdad.concurrency import run_sync
from lambdad.iam.authorizer import Authorizer, ResourcePolicy
from lambdad.iam.policy_eval import Policy
from lambdad.iam.principal import Principal, PrincipalKind
from lambdad.iam.role_sessions import RoleSessions
from lambdad.iam.roles import Roles
from lambdad.iam.server_key import ServerKey
from lambdad.iam.user_cache import CachedUsers
from lambdad.iam.users import ADMIN, NoSuchUser
from lambdad.store.roles import RoleStore


@dataclass
class Access:
    roles: Roles
    sessions: RoleSessions
    authorizer: Authorizer
    enabled: bool

    @classmethod
    def build(
        cls,
        account_id: str,
        role_store: RoleStore,
        server_key: ServerKey,
        resource_policy: ResourcePolicy,
        users: CachedUsers,
        *,
        enabled: bool,
        credentials_ttl_s: float,
    ) -> Access:
        roles = Roles(role_store, account_id)
        key = server_key.derive("role-sessions")
        sessions = RoleSessions(key, account_id, ttl_s=credentials_ttl_s)

        def user_policies(name: str) -> Sequence[Policy]:
            try:
                return users.policies_of(name)
            except NoSuchUser:  # removed since it signed this request
                return []

        async def identity_policies(principal: Principal) -> Sequence[Policy]:
            if principal.kind is PrincipalKind.ROLE_SESSION:
                role_arn = sessions.role_of(principal)
                policy = None if role_arn is None else await roles.policy_of(role_arn)
                return [] if policy is None else [policy]
            if principal.kind is PrincipalKind.USER:
                remembered = users.remembered_policies(principal.name)
                if remembered is not None:
                    return remembered
                return await run_sync(user_policies, principal.name)
            return []

        def is_admin(principal: Principal) -> bool:
            return principal.kind is PrincipalKind.USER and principal.name == ADMIN

        authorizer = Authorizer(
            account_id, identity_policies, resource_policy, is_admin=is_admin, enabled=enabled
        )
        return cls(roles, sessions, authorizer, enabled)

    @property
    def check_role(self) -> Callable[[str], Awaitable[None]] | None:
        return self.roles.check_assumable if self.enabled else None

    @property
    def max_environment_age_s(self) -> float | None:
        return self.sessions.rotation_age_s if self.enabled else None

    async def role_may_invoke(self, role_arn: str, function_arn: str) -> bool:
        """Whether the role `role_arn` (a schedule's execution role) allows invoking
        `function_arn`; False for a role this server does not have."""
        if not self.enabled:
            return True
        policy = await self.roles.policy_of(role_arn)
        if policy is None:
            return False
        return await self.authorizer.role_may(
            role_arn, policy, "lambda:InvokeFunction", function_arn
        )

    def credentials_for(self, version: Version) -> dict[str, str] | None:
        """The environment variables of a new environment's role session (None: roles off)."""
        if not self.enabled:
            return None
        return self.sessions.mint(version.config.role, version.function_name).environment()
