"""Execution environments: warm reuse, cold starts, freezing, idle reaping."""

from lambdad.pool.environment import ExecutionEnvironment
from lambdad.pool.launcher import EnvironmentLauncher, LaunchSettings
from lambdad.pool.pool import EnvironmentPool, EnvState, Lease, PoolKey

__all__ = [
    "EnvState",
    "EnvironmentLauncher",
    "EnvironmentPool",
    "ExecutionEnvironment",
    "LaunchSettings",
    "Lease",
    "PoolKey",
]
