"""Shapes for layer versions and their permissions (botocore's names and fields)."""

from __future__ import annotations

from lambdad.api.shapes.functions import Shape


class LayerVersionContentInput(Shape):
    zip_file: str | None = None
    s3_bucket: str | None = None
    s3_key: str | None = None
    s3_object_version: str | None = None
    s3_object_storage_mode: str | None = None


class PublishLayerVersionRequest(Shape):
    content: LayerVersionContentInput | None = None
    description: str = ""
    compatible_runtimes: list[str] | None = None
    compatible_architectures: list[str] | None = None
    license_info: str | None = None


class LayerVersionContentOutput(Shape):
    location: str
    code_sha256: str
    code_size: int


class LayerVersionResponse(Shape):
    """PublishLayerVersion's, GetLayerVersion's and GetLayerVersionByArn's answer."""

    content: LayerVersionContentOutput
    layer_arn: str
    layer_version_arn: str
    description: str
    created_date: str
    version: int
    compatible_runtimes: list[str] | None = None
    compatible_architectures: list[str] | None = None
    license_info: str | None = None


class LayerVersionsListItem(Shape):
    layer_version_arn: str
    version: int
    description: str
    created_date: str
    compatible_runtimes: list[str] | None = None
    compatible_architectures: list[str] | None = None
    license_info: str | None = None


class LayersListItem(Shape):
    layer_name: str
    layer_arn: str
    latest_matching_version: LayerVersionsListItem


class ListLayersResponse(Shape):
    layers: list[LayersListItem]
    next_marker: str | None = None


class ListLayerVersionsResponse(Shape):
    layer_versions: list[LayerVersionsListItem]
    next_marker: str | None = None


class AddLayerVersionPermissionRequest(Shape):
    statement_id: str
    action: str
    principal: str
    organization_id: str | None = None


class AddLayerVersionPermissionResponse(Shape):
    statement: str
    revision_id: str


class GetLayerVersionPolicyResponse(Shape):
    policy: str
    revision_id: str
