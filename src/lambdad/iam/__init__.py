"""Identity: users and access keys, SigV4 verification, the server key.

See `principal.py` for the contract between authentication (who signed a
request) and authorization (what that principal may do).
"""

from lambdad.iam.credentials_file import (
    CREDENTIALS_FILE,
    KeyPair,
    read_credentials,
    write_credentials,
)
from lambdad.iam.principal import (
    CredentialResolver,
    CredentialResolvers,
    Principal,
    PrincipalKind,
    ResolvedCredential,
    user_arn,
)
from lambdad.iam.server_key import SealBroken, ServerKey
from lambdad.iam.users import (
    ADMIN,
    ADMIN_POLICY,
    BadPolicyDocument,
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
    "BadPolicyDocument",
    "CREDENTIALS_FILE",
    "CredentialResolver",
    "CredentialResolvers",
    "KeyPair",
    "NewKey",
    "NoSuchUser",
    "Principal",
    "PrincipalKind",
    "ResolvedCredential",
    "SealBroken",
    "ServerKey",
    "User",
    "UserExists",
    "Users",
    "read_credentials",
    "read_policy_file",
    "user_arn",
    "write_credentials",
]
