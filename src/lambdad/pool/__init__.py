"""Execution environments: warm reuse, cold starts, freezing, idle reaping."""

from lambdad.pool.environment import ExecutionEnvironment
from lambdad.pool.launcher import EnvironmentLauncher, LaunchSettings
from lambdad.pool.pool import EnvironmentPool, EnvState, Lease, PoolKey
from lambdad.pool.preinit import PreInitTemplates
from lambdad.pool.provisioned import Allocation, ProvisionedStatus, Provisioner
from lambdad.pool.snapstart import Templates

__all__ = [
    "Allocation",
    "EnvState",
    "EnvironmentLauncher",
    "EnvironmentPool",
    "ExecutionEnvironment",
    "LaunchSettings",
    "Lease",
    "PoolKey",
    "PreInitTemplates",
    "ProvisionedStatus",
    "Provisioner",
    "Templates",
]
