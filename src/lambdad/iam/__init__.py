"""Identity and access: users and access keys, SigV4 verification, the server key;
policies and their evaluation, execution roles and their credentials.

See `principal.py` for the contract between authentication (who signed a
request) and authorization (what that principal may do: `authorizer.py`).
"""

from lambdad.iam.access import Access
from lambdad.iam.authorizer import Authorizer, denial_message
from lambdad.iam.credentials_file import (
    CREDENTIALS_FILE,
    KeyPair,
    read_credentials,
    write_credentials,
)
from lambdad.iam.documents import MalformedPolicy, parse_identity_policy
from lambdad.iam.policy_eval import Caller, Decision, Request, Verdict, evaluate
from lambdad.iam.principal import (
    CredentialResolver,
    CredentialResolvers,
    Principal,
    PrincipalKind,
    ResolvedCredential,
    user_arn,
)
from lambdad.iam.role_sessions import RoleSessions, SessionCredentials
from lambdad.iam.roles import Role, Roles
from lambdad.iam.server_key import SealBroken, ServerKey
from lambdad.iam.user_cache import CachedUsers, ChangeMarker
from lambdad.iam.users import (
    ADMIN,
    ADMIN_POLICY,
    NewKey,
    NoSuchUser,
    User,
    UserExists,
    Users,
    read_policy_file,
)

__all__ = [
    "ADMIN",
    "ADMIN_POLICY",
    "Access",
    "Authorizer",
    "CREDENTIALS_FILE",
    "CachedUsers",
    "Caller",
    "ChangeMarker",
    "CredentialResolver",
    "CredentialResolvers",
    "Decision",
    "KeyPair",
    "MalformedPolicy",
    "NewKey",
    "NoSuchUser",
    "Principal",
    "PrincipalKind",
    "Request",
    "ResolvedCredential",
    "Role",
    "RoleSessions",
    "Roles",
    "SealBroken",
    "ServerKey",
    "SessionCredentials",
    "User",
    "UserExists",
    "Users",
    "Verdict",
    "denial_message",
    "evaluate",
    "parse_identity_policy",
    "read_credentials",
    "read_policy_file",
    "user_arn",
    "write_credentials",
]
