"""Functions, versions and their rules: the validated domain model."""

from lambdad.catalog.aliases import Alias, AliasPage, Target, is_alias_name
from lambdad.catalog.code import CodePackage, extract_zip, inspect_zip
from lambdad.catalog.code_cache import CodeCache
from lambdad.catalog.concurrency import AccountConcurrency, ConcurrencyCatalog, ProvisionedTarget
from lambdad.catalog.event_invoke import (
    EventInvokeChanges,
    EventInvokeConfig,
    EventInvokeConfigPage,
    EventInvokeConfigs,
)
from lambdad.catalog.function_urls import (
    Cors,
    FunctionUrlChanges,
    FunctionUrlConfig,
    FunctionUrlPage,
    FunctionUrls,
)
from lambdad.catalog.layers import LayerCatalog, LayerVersion
from lambdad.catalog.model import (
    LATEST,
    Function,
    FunctionConfig,
    FunctionState,
    ImageConfig,
    LastUpdateStatus,
    LayerRef,
    LoggingConfig,
    Version,
)
from lambdad.catalog.names import Account, FunctionRef
from lambdad.catalog.opt_trees import OptTrees
from lambdad.catalog.policies import Permission, Policies, Policy, render_statement
from lambdad.catalog.runtimes import ACTIVE_RUNTIMES, check_runtime
from lambdad.catalog.s3_code import S3CodeFetcher, S3Location, s3_location
from lambdad.catalog.service import Catalog, FunctionPage
from lambdad.catalog.snapstart import (
    SNAPSTART_OFF,
    SNAPSTART_ON,
    SNAPSTART_OPTIMIZATION,
    SnapStartFailed,
)
from lambdad.catalog.validation import check_range

__all__ = [
    "SNAPSTART_OFF",
    "SNAPSTART_ON",
    "SNAPSTART_OPTIMIZATION",
    "SnapStartFailed",
    "S3CodeFetcher",
    "S3Location",
    "s3_location",
    "ACTIVE_RUNTIMES",
    "LATEST",
    "Account",
    "Alias",
    "AliasPage",
    "AccountConcurrency",
    "Catalog",
    "CodeCache",
    "CodePackage",
    "EventInvokeChanges",
    "EventInvokeConfig",
    "EventInvokeConfigPage",
    "EventInvokeConfigs",
    "ConcurrencyCatalog",
    "Cors",
    "Function",
    "FunctionUrlChanges",
    "FunctionUrlConfig",
    "FunctionUrlPage",
    "FunctionUrls",
    "FunctionConfig",
    "FunctionPage",
    "FunctionRef",
    "FunctionState",
    "LastUpdateStatus",
    "LayerCatalog",
    "LayerRef",
    "LayerVersion",
    "ImageConfig",
    "LoggingConfig",
    "OptTrees",
    "Permission",
    "Policies",
    "Policy",
    "Target",
    "ProvisionedTarget",
    "Version",
    "check_range",
    "check_runtime",
    "extract_zip",
    "inspect_zip",
    "render_statement",
    "is_alias_name",
]
