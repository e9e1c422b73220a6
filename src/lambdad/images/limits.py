"""Bounds on what one image may unpack to.

AWS allows a 10 GB image. The default here is lower (2 GiB, 200,000 entries):
every image is unpacked on this host's disk next to everything else, a pull
runs on the server's threads, and an image of Lambda's base kind (a runtime
plus dependencies) fits well below it; an operator who needs more raises it
(LAMBDAD_IMAGE_MAX_BYTES, LAMBDAD_IMAGE_MAX_FILES), never above AWS's 10 GB.
"""

from __future__ import annotations

from dataclasses import dataclass

AWS_MAX_IMAGE_BYTES = 10 * 1024**3


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 2 * 1024**3  # uncompressed, all layers
    max_entries: int = 200_000  # files, directories and links, all layers
    # Manifests, configs and indexes are small JSON documents (the distribution
    # spec suggests 4 MiB for manifests).
    max_document_bytes: int = 4 * 1024 * 1024
    # A pax or GNU long-name header is read into memory: a long path, not a megabyte.
    max_header_bytes: int = 1024 * 1024
    max_layers: int = 127  # overlay's and docker's practical bound
