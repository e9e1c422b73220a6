"""The `lambdad` command: run the server, and manage functions over its HTTP API.

The function commands (`deploy`, `invoke`, `logs`, `ls`, `rm`) are clients of
the REST API, like boto3 or the AWS CLI: they need the server's URL and sign
their requests with SigV4 (the key: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`,
else the admin key the server wrote into its data dir, see `client_signing.py`).

`users` and `keys` manage who may call the API. They work on the server's data
dir and database directly, not over HTTP: sealing a new secret takes the server
key, which lives in the data dir and never leaves the host, so whoever can run
them holds the server's files already (the trust root an operator has), and
they work whether the server runs or not. The running server sees a change at
once (it reads keys per request).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import sys
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

import click
import httpx
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

from lambdad import cli_cost
from lambdad.catalog.names import REGION_PATTERN
from lambdad.cli_images import images
from lambdad.cli_runtimes import runtimes
from lambdad.client_signing import SigV4HttpxAuth, find_credentials, region_of
from lambdad.identity_commands import keys, roles, users
from lambdad.settings import Settings

DEFAULT_ENDPOINT = "http://127.0.0.1:9000"
API = "/2015-03-31/functions"
# Zip folders bigger than this with a progress bar.
PROGRESS_THRESHOLD_BYTES = 2 * 1024 * 1024


class Client:
    """A thin sync client of the Lambda REST API with AWS's errors made readable."""

    def __init__(self, endpoint: str) -> None:
        settings = Settings.from_env()
        key = find_credentials(os.environ, settings.data_dir)
        # The server serves the region a request is signed for (its functions, its ARNs).
        self.region = chosen_region() or region_of(os.environ, settings.region)
        auth = None if key is None else SigV4HttpxAuth(key, self.region)
        self.signed = key is not None
        self.http = httpx.Client(
            base_url=endpoint, timeout=httpx.Timeout(960.0, connect=5.0), auth=auth
        )

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            fail(
                f"cannot reach the lambdad server at {self.http.base_url} ({exc}).\n"
                "Start it with `lambdad server`, or pass --endpoint."
            )
        if response.status_code >= 400:
            error = response.headers.get("x-amzn-ErrorType", "Error").split(":")[0]
            try:
                message = response.json().get("message") or response.text
            except ValueError:
                message = response.text
            hint = ""
            if error == "MissingAuthenticationTokenException" and not self.signed:
                hint = (
                    "\nNo credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run "
                    "from the folder that holds the server's .lambdad (or set LAMBDAD_DATA_DIR)."
                )
            fail(f"{error}: {message}{hint}")
        return response


def fail(message: str) -> NoReturn:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(1)


endpoint_option = click.option(
    "--endpoint",
    envvar="LAMBDAD_ENDPOINT",
    default=DEFAULT_ENDPOINT,
    show_default=True,
    help="URL of the lambdad server.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lambdad")
@click.option(
    "--region",
    default=None,
    metavar="REGION",
    callback=lambda _ctx, _param, value: _checked_region(value),
    help="The region the client commands work in: they sign requests for it, and the "
    "server answers with that region's functions and ARNs. Without it, as in the AWS "
    "CLI: AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1. For `server`: its "
    "default region (as its own --region).",
)
def main(region: str | None) -> None:
    """lambdad: a self-hosted AWS Lambda."""


def _checked_region(region: str | None) -> str | None:
    if region is not None and not re.fullmatch(REGION_PATTERN, region):
        # botocore's words for a region_name it cannot use
        raise click.BadParameter(
            f"Provided region_name '{region}' doesn't match a supported format."
        )
    return region


def chosen_region() -> str | None:
    """The global --region of the command being run, if one was given."""
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.find_root().params.get("region")


@main.command()
@click.option("--host", default=None, help="Address to listen on.  [default: 127.0.0.1]")
@click.option("--port", type=int, default=None, help="Port to listen on.  [default: 9000]")
@click.option(
    "--public-host",
    "public_hosts",
    multiple=True,
    help="A name clients reach the server by, besides localhost and --host (repeatable).",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the SQLite file and blobs live.  [default: .lambdad]",
)
@click.option(
    "--database-url",
    default=None,
    help="postgresql://user:pass@host/db to keep state in PostgreSQL instead of SQLite.",
)
@click.option("--region", default=None, help="Region in ARNs.  [default: us-east-1]")
@click.option("--account-id", default=None, help="Account id in ARNs.  [default: 000000000000]")
@click.option(
    "--network",
    type=click.Choice(["none", "egress", "host"]),
    default=None,
    help="Network of function environments (a function may narrow it with its "
    "LAMBDAD_NETWORK variable).  [default: none]",
)
@click.option(
    "--egress-allow",
    "egress_allow",
    multiple=True,
    help="An IPv4 CIDR that functions in network mode egress may reach although it is "
    "private or the host's (repeatable).",
)
@click.option(
    "--aws-endpoint",
    "aws_endpoints",
    multiple=True,
    help="URL of every AWS service, or SERVICE=URL of one (repeatable), that functions "
    "reach (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>).",
)
@click.option(
    "--sandbox",
    "sandbox_backend",
    type=click.Choice(["auto", "bwrap", "process"]),
    default=None,
    help="Isolation backend.  [default: auto]",
)
@click.option(
    "--idle-timeout",
    "idle_timeout_s",
    type=float,
    default=None,
    help="Seconds before an idle environment is reaped.  [default: 300]",
)
@click.option(
    "--concurrent-executions",
    type=click.IntRange(min=1),
    default=None,
    help="The account's concurrency limit (GetAccountSettings).  [default: 1000]",
)
@click.option(
    "--strict-runtimes",
    is_flag=True,
    default=None,
    help="Refuse runtime ids whose exact interpreter is not installed.",
)
@click.option(
    "--auth",
    type=click.Choice(["on", "off"]),
    default=None,
    help="Check every request's SigV4 signature; off serves anyone (loopback only, for "
    "local development).  [default: on]",
)
@click.option(
    "--image-registry",
    "image_registries",
    multiple=True,
    help="The OCI registry container images are pulled from: URL, or HOST=URL for the "
    "ImageUris naming HOST (repeatable; plain http on loopback only).",
)
@click.option(
    "--metrics-listen",
    default=None,
    metavar="HOST:PORT",
    help="Also serve Prometheus' /metrics here, unauthenticated (for a scraper that "
    "cannot sign); the API's own /metrics needs a signed request.",
)
@click.option(
    "--prices",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="A Lambda price table (JSON, the shape of lambdad's cost/prices.json) for "
    "`lambdad cost`.  [default: AWS's published prices]",
)
@click.option(
    "--otlp-endpoint",
    default=None,
    metavar="URL",
    help="Export traces of Active-tracing functions over OTLP/HTTP to this base URL "
    "(/v1/traces is added); OTEL_EXPORTER_OTLP_ENDPOINT works too.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Server processes accepting on the port: 1 is one process; N > 1 serves warm "
    "synchronous invokes on N cores (LAMBDAD_WORKERS).  [default: 1]",
)
@click.option("--log-level", default=None, help="debug, info, warning.  [default: info]")
def server(**options: Any) -> None:
    """Run the Lambda API server (settings also from LAMBDAD_* variables)."""
    from lambdad.endpoints import EndpointSettingError, parse_aws_endpoints
    from lambdad.images import parse_registries
    from lambdad.sandbox.egress import parse_allowed
    from lambdad.server import serve

    options["region"] = options["region"] or chosen_region()
    options["public_hosts"] = ",".join(options["public_hosts"]) or None
    options["aws_endpoints"] = ",".join(options["aws_endpoints"]) or None
    options["egress_allow"] = ",".join(options["egress_allow"]) or None
    options["image_registries"] = ",".join(options["image_registries"]) or None
    settings = Settings.from_env().with_overrides(**options)
    try:
        parse_aws_endpoints(settings.aws_endpoints)
    except EndpointSettingError as e:
        raise click.BadParameter(str(e), param_hint="--aws-endpoint") from e
    try:
        parse_allowed(settings.egress_allow)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--egress-allow") from e
    try:
        parse_registries(settings.image_registries)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--image-registry") from e
    cli_cost.check_prices(settings.prices)
    serve(settings)


def zip_folder(folder: Path) -> bytes:
    """Zip a folder like Lambda expects (paths relative to it, modes kept)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink())
    total = sum(p.stat().st_size for p in files if p.is_file())
    buffer = io.BytesIO()
    progress = Progress(
        TextColumn("zipping {task.description}"),
        BarColumn(),
        DownloadColumn(),
        disable=total < PROGRESS_THRESHOLD_BYTES or not sys.stderr.isatty(),
        console=None,
    )
    with progress, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        task = progress.add_task(folder.name, total=total)
        for path in files:
            archive.write(path, path.relative_to(folder).as_posix())
            progress.advance(task, path.stat().st_size if path.is_file() else 0)
    return buffer.getvalue()


def parse_env(pairs: tuple[str, ...]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--env takes KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--name", required=True, help="Function name.")
@click.option("--runtime", required=True, help="Lambda runtime id, e.g. python3.12, nodejs20.x.")
@click.option("--handler", required=True, help="Handler, e.g. app.handler.")
@click.option("--memory", type=int, default=None, help="Memory in MB (128-10240).  [default: 128]")
@click.option("--timeout", type=int, default=None, help="Timeout in seconds (1-900).  [default: 3]")
@click.option(
    "--env",
    "env_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Environment variable (repeatable).",
)
@click.option("--role", default="arn:aws:iam::000000000000:role/lambda-role", show_default=True)
@endpoint_option
def deploy(
    folder: Path,
    name: str,
    runtime: str,
    handler: str,
    memory: int | None,
    timeout: int | None,
    env_pairs: tuple[str, ...],
    role: str,
    endpoint: str,
) -> None:
    """Zip FOLDER and create the function, or update it if it exists."""
    client = Client(endpoint)
    code = base64.b64encode(zip_folder(folder)).decode()
    config: dict[str, Any] = {"Runtime": runtime, "Handler": handler, "Role": role}
    if memory is not None:
        config["MemorySize"] = memory
    if timeout is not None:
        config["Timeout"] = timeout
    if env_pairs:
        config["Environment"] = {"Variables": parse_env(env_pairs)}
    existing = client.http.get(f"{API}/{name}/configuration")
    if existing.status_code != 200:
        client.call("POST", API, json={"FunctionName": name, "Code": {"ZipFile": code}, **config})
        verb = "created"
    else:
        client.call("PUT", f"{API}/{name}/code", json={"ZipFile": code})
        _wait_ready(client, name)
        client.call("PUT", f"{API}/{name}/configuration", json=config)
        verb = "updated"
    result = _wait_ready(client, name)
    if verb == "updated" and _same_deployment(existing.json(), result, config):
        verb = "redeployed unchanged"
    click.echo(f"{verb} {result['FunctionArn']} ({result['CodeSize']} bytes)")


def _same_deployment(before: dict[str, Any], after: dict[str, Any], sent: dict[str, Any]) -> bool:
    """Whether an update left the code and every configuration value sent as they were."""
    return before["CodeSha256"] == after["CodeSha256"] and all(
        before.get(key) == value for key, value in sent.items()
    )


def _wait_ready(client: Client, name: str, timeout_s: float = 60.0) -> dict[str, Any]:
    """Wait until the function is Active and its last update done; fail on Failed."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        config: dict[str, Any] = client.call("GET", f"{API}/{name}/configuration").json()
        # A function still being created has no LastUpdateStatus yet (as on AWS).
        status = config.get("LastUpdateStatus")
        if config["State"] == "Failed" or status == "Failed":
            reason = config.get("StateReason") or config.get("LastUpdateStatusReason")
            fail(f"function {name} failed to deploy: {reason}")
        if config["State"] == "Active" and status == "Successful":
            return config
        if time.monotonic() > deadline:
            fail(f"function {name} is still {config['State']}/{status}")
        time.sleep(0.05)


@main.command("ls")
@endpoint_option
@click.option("--json", "as_json", is_flag=True, help="Print the raw configurations.")
def list_functions(endpoint: str, as_json: bool) -> None:
    """List functions."""
    client = Client(endpoint)
    functions: list[dict[str, Any]] = []
    marker: str | None = None
    while True:
        params = {"MaxItems": "50", **({"Marker": marker} if marker else {})}
        page = client.call("GET", API, params=params).json()
        functions.extend(page["Functions"])
        marker = page.get("NextMarker")
        if not marker:
            break
    if as_json:
        click.echo(json.dumps(functions, indent=2))
        return
    if not functions:
        click.echo("no functions")
        return
    click.echo(
        f"{'NAME':<32} {'RUNTIME':<16} {'MEMORY':>6} {'TIMEOUT':>7} {'CODE SIZE':>10} LAST MODIFIED"
    )
    for fn in functions:
        click.echo(
            f"{fn['FunctionName']:<32} {fn['Runtime']:<16} {fn['MemorySize']:>6} "
            # ListFunctions carries no State (AWS leaves it out of list entries).
            f"{fn['Timeout']:>7} {fn['CodeSize']:>10} {fn['LastModified']}"
        )


@main.command("rm")
@click.argument("name")
@endpoint_option
def remove(name: str, endpoint: str) -> None:
    """Delete function NAME."""
    Client(endpoint).call("DELETE", f"{API}/{name}")
    click.echo(f"deleted {name}")


@main.command()
@click.argument("name")
@click.option("--payload", default="{}", show_default=True, help="The event, as JSON.")
@click.option(
    "--payload-file",
    type=click.File("rb"),
    default=None,
    help="Read the event from a file ('-' for stdin).",
)
@click.option("--qualifier", default=None, help="Version or alias to invoke.")
@click.option(
    "--async", "asynchronous", is_flag=True, help="Queue the event (InvocationType=Event)."
)
@click.option(
    "--logs/--no-logs",
    "show_logs",
    default=True,
    show_default=True,
    help="Print the invocation's log tail to stderr.",
)
@endpoint_option
def invoke(
    name: str,
    payload: str,
    payload_file: Any,
    qualifier: str | None,
    asynchronous: bool,
    show_logs: bool,
    endpoint: str,
) -> None:
    """Invoke function NAME and print its result."""
    body = payload_file.read() if payload_file is not None else payload.encode()
    headers = {
        "X-Amz-Invocation-Type": "Event" if asynchronous else "RequestResponse",
        "X-Amz-Log-Type": "Tail" if show_logs and not asynchronous else "None",
    }
    params = {"Qualifier": qualifier} if qualifier else {}
    response = Client(endpoint).call(
        "POST", f"{API}/{name}/invocations", content=body, headers=headers, params=params
    )
    if asynchronous:
        click.echo(f"queued (request id {response.headers.get('x-amzn-requestid')})")
        return
    tail = response.headers.get("x-amz-log-result")
    if tail:
        click.secho(base64.b64decode(tail).decode(errors="replace").rstrip(), dim=True, err=True)
    click.echo(response.text)
    if response.headers.get("x-amz-function-error"):
        sys.exit(2)


@main.command()
@click.argument("name")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events as they come.")
@click.option("--limit", default=100, show_default=True, help="How many recent events to show.")
@click.option(
    "--retention",
    metavar="DAYS|never",
    default=None,
    help="Instead: keep the group's events DAYS days (1, 3, 5, 7, 14, 30, ... 3653), or never "
    "expire them (the default).",
)
@endpoint_option
def logs(name: str, follow: bool, limit: int, retention: str | None, endpoint: str) -> None:
    """Show the log events of function NAME (group /aws/lambda/NAME)."""
    import time

    client = Client(endpoint)
    path = f"/_lambdad/functions/{name}/logs"
    if retention is not None:
        _set_retention(client, f"{path}/retention", retention)
        return
    page = client.call("GET", path, params={"tail": "1", "limit": str(limit)}).json()
    while True:
        for event in page["events"]:
            stamp = time.strftime("%H:%M:%S", time.localtime(event["timestamp"] / 1000))
            click.echo(f"{stamp} {event['message'].rstrip()}")
        if not follow:
            return
        time.sleep(0.5 if not page["events"] else 0)
        page = client.call("GET", path, params={"after": str(page["nextAfter"])}).json()


def _set_retention(client: Client, path: str, retention: str) -> None:
    if retention == "never":
        client.call("DELETE", path)
        group = client.call("GET", path).json()["logGroupName"]
        click.echo(f"{group}: events never expire")
        return
    if not retention.isdigit():
        fail(f"--retention takes a number of days or 'never', not {retention!r}")
    answer = client.call("PUT", path, json={"retentionInDays": int(retention)}).json()
    click.echo(f"{answer['logGroupName']}: events kept {answer['retentionInDays']} days")


main.add_command(runtimes)
main.add_command(images)


@main.command()
@click.option("--since", default="30d", show_default=True, help="Days back (30d) or a date.")
@click.option("--by", type=click.Choice(["function", "day"]), default="function", show_default=True)
@click.option(
    "--free-tier/--no-free-tier",
    default=None,
    help="Apply AWS's monthly free tier, or not.  [default: the server's setting (on)]",
)
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@endpoint_option
def cost(since: str, by: str, free_tier: bool | None, as_json: bool, endpoint: str) -> None:
    """What this workload would cost on AWS Lambda, beside the GB-seconds it used here.

    Requests and GB-seconds (billed duration x memory) of every invocation, and
    provisioned concurrency, priced with AWS's published Lambda prices for each
    function's region and architecture (tiers and the monthly free tier applied)."""
    start, end = cli_cost.window(since)
    body = cli_cost.request(start, end, by, free_tier)
    headers = {
        "X-Amz-Target": "AWSInsightsIndexService.GetCostAndUsageWithResources",
        "Content-Type": "application/x-amz-json-1.1",
    }
    answer = Client(endpoint).call("POST", "/", json=body, headers=headers).json()
    found = cli_cost.rows(answer, by)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    click.echo(f"AWS Lambda prices, {start} to {end - timedelta(days=1)} (UTC days):")
    click.echo(cli_cost.table(found, by))


@main.group()
def schedule() -> None:
    """Run functions on a schedule (EventBridge Scheduler's schedules)."""


@schedule.command("add")
@click.argument("name")
@click.argument("expression")
@click.option("--function", "function_name", required=True, help="The function to invoke.")
@click.option("--qualifier", default=None, help="A version or alias of the function.")
@click.option("--input", "input_json", default=None, help="The event, as JSON.  [default: {}]")
@click.option("--timezone", default=None, help="IANA time zone of the expression.  [default: UTC]")
@click.option("--group", default=None, help="Schedule group.  [default: default]")
@click.option("--disabled", is_flag=True, help="Create the schedule disabled.")
@endpoint_option
def schedule_add(
    name: str,
    expression: str,
    function_name: str,
    qualifier: str | None,
    input_json: str | None,
    timezone: str | None,
    group: str | None,
    disabled: bool,
    endpoint: str,
) -> None:
    """Add schedule NAME: invoke a function on EXPRESSION.

    EXPRESSION is rate(5 minutes), cron(0 9 ? * MON-FRI *) or at(2030-01-01T09:00:00)."""
    if input_json is not None:
        try:
            json.loads(input_json)
        except ValueError as exc:
            fail(f"--input is not JSON: {exc}")
    client = Client(endpoint)
    arn = client.call("GET", f"{API}/{function_name}/configuration").json()["FunctionArn"]
    if qualifier:
        arn = f"{arn}:{qualifier}"
    account = arn.split(":")[4]
    target: dict[str, Any] = {
        "Arn": arn,
        "RoleArn": f"arn:aws:iam::{account}:role/lambdad-scheduler",
    }
    if input_json is not None:
        target["Input"] = input_json
    body: dict[str, Any] = {
        "ScheduleExpression": expression,
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": target,
        "State": "DISABLED" if disabled else "ENABLED",
    }
    if timezone:
        body["ScheduleExpressionTimezone"] = timezone
    if group:
        body["GroupName"] = group
    answer = client.call("POST", f"/schedules/{name}", json=body).json()
    click.echo(f"created {answer['ScheduleArn']} -> {arn}")


@schedule.command("list")
@click.option("--group", default=None, help="Only this schedule group's schedules.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw schedules.")
@endpoint_option
def schedule_list(group: str | None, as_json: bool, endpoint: str) -> None:
    """List schedules."""
    client = Client(endpoint)
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        params = {"MaxResults": "100", **({"ScheduleGroup": group} if group else {})}
        if token:
            params["NextToken"] = token
        page = client.call("GET", "/schedules", params=params).json()
        for summary in page["Schedules"]:
            params = {"groupName": summary["GroupName"]}
            found.append(client.call("GET", f"/schedules/{summary['Name']}", params=params).json())
        token = page.get("NextToken")
        if not token:
            break
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found:
        click.echo("no schedules")
        return
    click.echo(
        f"{'NAME':<24} {'GROUP':<12} {'STATE':<8} {'EXPRESSION':<32} {'TIMEZONE':<16} TARGET"
    )
    for s in found:
        click.echo(
            f"{s['Name']:<24} {s['GroupName']:<12} {s['State']:<8} {s['ScheduleExpression']:<32} "
            f"{s['ScheduleExpressionTimezone']:<16} {s['Target']['Arn']}"
        )


@schedule.command("remove")
@click.argument("name")
@click.option("--group", default=None, help="Schedule group.  [default: default]")
@endpoint_option
def schedule_remove(name: str, group: str | None, endpoint: str) -> None:
    """Delete schedule NAME."""
    params = {"groupName": group} if group else {}
    Client(endpoint).call("DELETE", f"/schedules/{name}", params=params)
    click.echo(f"deleted schedule {name}")


main.add_command(users)
main.add_command(keys)
main.add_command(roles)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:], prog_name=os.path.basename(sys.argv[0]))
