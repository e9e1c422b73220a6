"""The domain model: a function's versions and their configuration.

`$LATEST` is the version being edited; published versions ("1", "2", ...)
are immutable copies of it. `api/` converts these frozen dataclasses to the
wire shapes; `store/` keeps them as rows.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

LATEST = "$LATEST"


class FunctionState(enum.StrEnum):
    PENDING = "Pending"
    ACTIVE = "Active"
    INACTIVE = "Inactive"
    FAILED = "Failed"


class LastUpdateStatus(enum.StrEnum):
    IN_PROGRESS = "InProgress"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"


@dataclass(frozen=True)
class LoggingConfig:
    log_group: str
    log_format: str = "Text"
    application_log_level: str | None = None
    system_log_level: str | None = None


@dataclass(frozen=True)
class LayerRef:
    """A layer version a function uses, captured when the function was configured:
    it keeps working after DeleteLayerVersion, as on AWS."""

    arn: str
    code_size: int
    code_key: str
    """Hex SHA-256 of the layer's zip: its key in the blob store."""
    unzipped_size: int


@dataclass(frozen=True)
class ImageConfig:
    """A container image function's overrides of its image's settings (AWS's ImageConfig):
    None leaves the image's own ENTRYPOINT, CMD or WORKDIR."""

    entry_point: tuple[str, ...] | None = None
    command: tuple[str, ...] | None = None
    working_directory: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "entry_point": None if self.entry_point is None else list(self.entry_point),
            "command": None if self.command is None else list(self.command),
            "working_directory": self.working_directory,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ImageConfig:
        entry_point, command = data.get("entry_point"), data.get("command")
        return cls(
            entry_point=None if entry_point is None else tuple(entry_point),
            command=None if command is None else tuple(command),
            working_directory=data.get("working_directory"),
        )


@dataclass(frozen=True)
class FunctionConfig:
    """What the user sets with CreateFunction / UpdateFunctionConfiguration."""

    runtime: str
    handler: str
    role: str
    memory_size: int = 128
    timeout: int = 3
    description: str = ""
    environment: Mapping[str, str] = field(default_factory=dict)
    environment_set: bool = False
    """Whether Environment was given at all: AWS then returns it, even when empty."""
    ephemeral_storage: int = 512
    snap_start: str = "None"
    """SnapStart's ApplyOn: "PublishedVersions" or "None" (see `catalog.snapstart`)."""
    layers: tuple[str, ...] = ()
    architectures: tuple[str, ...] = ("x86_64",)
    package_type: str = "Zip"
    tracing_mode: str = "PassThrough"
    dead_letter_target: str | None = None
    kms_key_arn: str | None = None
    logging: LoggingConfig | None = None
    layer_refs: tuple[LayerRef, ...] = ()
    """`layers` resolved by the catalog, in order."""
    image_uri: str | None = None
    """PackageType Image: the ImageUri as the user gave it (a tag may move later)."""
    resolved_image_uri: str | None = None
    """The image it named when the code was set: repository@sha256:digest (pinned)."""
    image_config: ImageConfig | None = None

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k not in ("logging", "image_config")}
        data["image_config"] = None if self.image_config is None else self.image_config.to_json()
        data["environment"] = dict(self.environment)
        data["layers"] = list(self.layers)
        data["architectures"] = list(self.architectures)
        data["logging"] = None if self.logging is None else dict(self.logging.__dict__)
        data["layer_refs"] = [dict(ref.__dict__) for ref in self.layer_refs]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FunctionConfig:
        # The row also carries the version's state; keep only configuration.
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["environment"] = dict(values.get("environment") or {})
        values["layers"] = tuple(values.get("layers") or ())
        values["architectures"] = tuple(values.get("architectures") or ("x86_64",))
        logging = values.get("logging")
        values["logging"] = None if logging is None else LoggingConfig(**logging)
        values["layer_refs"] = tuple(LayerRef(**ref) for ref in values.get("layer_refs") or ())
        image = values.get("image_config")
        values["image_config"] = None if image is None else ImageConfig.from_json(image)
        return cls(**values)


@dataclass(frozen=True)
class Version:
    """One version of a function: its configuration, its code and its state."""

    function_name: str
    version: str
    function_arn: str
    config: FunctionConfig
    code_sha256: str
    """Base64 SHA-256 of the zip (AWS's CodeSha256); an image's manifest digest in hex."""
    code_key: str
    """Hex SHA-256: the zip's key in the blob store, or the image's manifest digest."""
    code_size: int
    revision_id: str
    last_modified: float
    state: FunctionState = FunctionState.PENDING
    state_reason: str | None = None
    state_reason_code: str | None = None
    last_update_status: LastUpdateStatus | None = None
    """None on a function being created and on published versions, as on AWS."""
    last_update_status_reason: str | None = None
    last_update_status_reason_code: str | None = None
    optimization_status: str = "Off"
    """SnapStart's OptimizationStatus: "On" when this version's environments are restored
    from a snapshot (see `catalog.snapstart`)."""

    @property
    def qualified_arn(self) -> str:
        return f"{self.function_arn}:{self.version}"

    @property
    def image_digest(self) -> str | None:
        """A container image function's manifest digest ("sha256:<hex>"), else None."""
        return f"sha256:{self.code_key}" if self.config.package_type == "Image" else None

    @property
    def log_group(self) -> str:
        if self.config.logging is not None:
            return self.config.logging.log_group
        return f"/aws/lambda/{self.function_name}"


@dataclass(frozen=True)
class Function:
    name: str
    arn: str
    tags: Mapping[str, str]
    reserved_concurrency: int | None
    latest: Version
