"""`GET /metrics`: Prometheus' text format on the API's own address.

Here it is an API operation like any other: signed, and authorized as
`cloudwatch:GetMetricData` on `*` (a caller who may read the metrics through
CloudWatch's API may read them here). A scraper that cannot sign SigV4 reads
them from `--metrics-listen HOST:PORT` instead, a listener of its own.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from lambdad.api.context import ApiContext
from lambdad.concurrency import run_sync
from lambdad.telemetry.prometheus import CONTENT_TYPE, exposition


async def metrics_text(request: Request) -> Response:
    ctx = ApiContext.of(request)
    body = await run_sync(exposition, ctx.metrics_registry)
    return Response(body, media_type=CONTENT_TYPE)
