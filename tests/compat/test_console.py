"""The web console in a real headless Chromium against a live server: sign in with a
real key, find a function, edit its code and deploy, invoke it and see its result,
REPORT line and logs, create an alias; what the console did is checked with boto3.
Screenshots of each step are saved as test artifacts (support/browser.py)."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from support.browser import WAIT_MS, headless_chromium, screenshot
from support.marks import needs_sandbox
from support.server import LambdadServer, boto3_client
from support.waiting import wait_until
from support.zips import make_zip

pytestmark = [pytest.mark.compat, *needs_sandbox]

PLAIN_HOST = "console.test"
"""A name that is not loopback: the browser treats its plain http as insecure."""
SOURCE = "def handler(event, context):\n    print('seen', event.get('who'))\n    return {'v': 1}\n"
EDITED = (
    "def handler(event, context):\n"
    "    print('edited handler saw', event.get('who'))\n"
    "    return {'v': 2, 'who': event.get('who')}\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LambdadServer]:
    data_dir = tmp_path_factory.mktemp("console") / "data"
    with LambdadServer(data_dir, args=["--public-host", PLAIN_HOST]) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with headless_chromium(host_rules=f"MAP {PLAIN_HOST} 127.0.0.1") as running:
        yield running


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"the page threw: {errors}"


def create_function(client: Any, name: str, **extra: Any) -> None:
    client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/lambda-role",
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": SOURCE})},
        **extra,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)


def sign_in(page: Page, server: LambdadServer, base: str | None = None) -> None:
    key = server.admin_key
    assert key is not None
    page.goto(f"{base or server.url}/console/")
    page.fill("#access-key-id", key.access_key_id)
    page.fill("#secret-access-key", key.secret_access_key)
    page.click("#sign-in")
    expect(page.locator("#sign-out")).to_be_visible()


def deployed_source(client: Any, name: str) -> str:
    location = client.get_function(FunctionName=name)["Code"]["Location"]
    with zipfile.ZipFile(io.BytesIO(httpx.get(location, timeout=30).content)) as archive:
        return archive.read("app.py").decode()


def test_the_console_flow(server: LambdadServer, page: Page) -> None:
    client = boto3_client(server.url)
    create_function(client, "console-demo")

    sign_in(page, server)
    link = page.locator("a.function-link", has_text="console-demo")
    expect(link).to_be_visible()
    screenshot(page, "01-function-list")

    link.click()
    editor = page.locator("#code-editor")
    expect(editor).to_have_value(SOURCE)
    editor.fill(EDITED)
    page.click("#deploy")
    expect(page.locator("#deploy-status")).to_contain_text("Deployed")
    screenshot(page, "02-code-deployed")
    assert deployed_source(client, "console-demo") == EDITED

    page.click("#tab-link-test")
    page.fill("#event-payload", json.dumps({"who": "chromium"}))
    page.click("#invoke")
    expect(page.locator("#invoke-outcome")).to_contain_text("Succeeded")
    payload = json.loads(page.locator("#invoke-payload").inner_text())
    assert payload == {"v": 2, "who": "chromium"}
    expect(page.locator("#invoke-report")).to_contain_text("Billed Duration")
    expect(page.locator("#invoke-log")).to_contain_text("edited handler saw chromium")
    expect(page.locator("#invoke-log")).to_contain_text("REPORT RequestId:")
    screenshot(page, "03-invoked")

    page.click("#tab-link-logs")
    expect(page.locator("#log-events")).to_contain_text("edited handler saw chromium")
    expect(page.locator("#log-events")).to_contain_text("REPORT RequestId:")
    page.fill("#log-search", "edited -nothing-like-this")  # CloudWatch's filter pattern syntax
    page.click("#search-logs")
    expect(page.locator("#log-events .log-event")).to_have_count(1)
    page.click("#live-tail")
    expect(page.locator("#live-tail")).to_have_text("Stop live tail")
    client.invoke(FunctionName="console-demo", Payload=json.dumps({"who": "the tail"}))
    expect(page.locator("#log-events")).to_contain_text("edited handler saw the tail")
    expect(page.locator("#log-events .log-event")).to_have_count(2)  # the filter still applies
    page.click("#live-tail")
    screenshot(page, "04-logs")

    # Two invocations so far (the console's and the tail's), both successful.
    page.click("#tab-link-monitor")
    chart = page.locator("#chart-invocations")
    expect(chart).to_contain_text("Invocations: 2")
    expect(chart).to_contain_text("Errors: 0")
    expect(page.locator("#chart-duration path, #chart-duration circle").first).to_be_visible()
    screenshot(page, "04b-monitor")

    page.click("#tab-link-versions")
    page.click("#publish-version")
    expect(page.locator("#versions-status")).to_contain_text("Published version 1")
    page.fill("#alias-name", "live")
    page.select_option("#alias-version", "1")
    page.click("#create-alias")
    expect(page.locator("#alias-table")).to_contain_text("live")
    screenshot(page, "05-alias")
    alias = client.get_alias(FunctionName="console-demo", Name="live")
    assert alias["FunctionVersion"] == "1"

    page.click("a.brand")
    spark = page.locator("#function-table .spark svg title").first
    expect(spark).to_have_text(re.compile(r"^2 invocations, 0 errors"))
    page.click("#nav >> text=Account")
    expect(page.locator("#account-concurrency")).to_contain_text("Throttles (3 h)")
    screenshot(page, "07-account")


def test_traces_and_cost_panels_show_the_real_apis(server: LambdadServer, page: Page) -> None:
    """The Monitor tab's X-Ray traces (GetTraceSummaries, BatchGetTraces) and the
    account page's Cost Explorer panel (GetCostAndUsage), against the server's APIs."""
    client = boto3_client(server.url)
    xray = boto3_client(server.url, service="xray")
    ce = boto3_client(server.url, service="ce")
    create_function(client, "console-traced", TracingConfig={"Mode": "Active"})
    arn = client.get_function_configuration(FunctionName="console-traced")["FunctionArn"]
    for who in ("first", "second"):
        client.invoke(FunctionName="console-traced", Payload=json.dumps({"who": who}))

    now = datetime.now(UTC)
    summaries = _traces_of(xray, "console-traced", 2)
    sign_in(page, server)
    page.goto(f"{server.url}/console/#/functions/console-traced/monitor")
    links = page.locator("#traces .trace-link")
    expect(links).to_have_count(2)
    newest = max(summaries, key=lambda s: s["StartTime"])
    expect(links.first).to_have_text(newest["Id"])
    links.first.click()
    trace = xray.batch_get_traces(TraceIds=[newest["Id"]])["Traces"][0]
    names = [
        name
        for segment in trace["Segments"]
        for name in _span_names(json.loads(segment["Document"]))
    ]
    assert names, trace
    waterfall = page.locator("#trace-waterfall")
    expect(waterfall.locator(".span-row")).to_have_count(len(names))
    assert sorted(waterfall.locator(".span-name").all_inner_texts()) == sorted(names)
    screenshot(page, "08-traces")

    # Cost Explorer writes usage in batches: wait until it counts these two requests.
    month = {
        "Start": now.strftime("%Y-%m-01"),
        "End": (now + timedelta(days=1)).strftime("%Y-%m-%d"),
    }
    wait_until(lambda: _requests_of(ce, month, arn) == 2, "Cost Explorer to count the invocations")
    report = ce.get_cost_and_usage(
        TimePeriod=month,
        Granularity="MONTHLY",
        Metrics=["UnblendedCost", "UsageQuantity"],
        GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
    )
    groups = report["ResultsByTime"][0]["Groups"]
    assert any(g["Keys"][0].endswith("Request") for g in groups), groups
    assert any(g["Keys"][0].endswith("Lambda-GB-Second") for g in groups), groups
    page.click("#nav >> text=Account")
    rows = page.locator("#account-cost-types tbody tr")
    expect(rows).to_have_count(len(groups))
    shown = {
        cells[0]: cells[1:] for cells in (row.locator("td").all_inner_texts() for row in rows.all())
    }
    for group in groups:
        quantity, cost = group["Metrics"]["UsageQuantity"], group["Metrics"]["UnblendedCost"]
        shown_quantity, shown_cost = shown[group["Keys"][0]]
        number, unit = shown_quantity.rsplit(" ", 1)
        assert unit == quantity["Unit"]
        assert float(number.replace(",", "")) == pytest.approx(float(quantity["Amount"]), abs=1e-6)
        amount, currency = shown_cost.rsplit(" ", 1)
        assert currency == cost["Unit"]
        assert float(amount.replace(",", "")) == pytest.approx(float(cost["Amount"]), abs=1e-6)
    expect(page.locator("#account-cost-functions")).to_contain_text("console-traced")
    screenshot(page, "09-cost")


def _traces_of(xray: Any, name: str, count: int) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]] | None:
        now = datetime.now(UTC)
        summaries = xray.get_trace_summaries(
            StartTime=now - timedelta(hours=1),
            EndTime=now + timedelta(minutes=1),
            FilterExpression=f'service("{name}")',
        )["TraceSummaries"]
        return summaries if len(summaries) >= count else None

    return wait_until(found, f"X-Ray to hold {count} traces of {name}")


def _span_names(document: dict[str, Any]) -> list[str]:
    return [document["name"]] + [
        name for sub in document.get("subsegments", []) for name in _span_names(sub)
    ]


def _requests_of(ce: Any, period: dict[str, str], arn: str) -> float:
    report = ce.get_cost_and_usage_with_resources(
        TimePeriod=period,
        Granularity="MONTHLY",
        Metrics=["UsageQuantity"],
        Filter={"Dimensions": {"Key": "RESOURCE_ID", "Values": [arn]}},
        GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
    )
    return sum(
        float(g["Metrics"]["UsageQuantity"]["Amount"])
        for period_result in report["ResultsByTime"]
        for g in period_result["Groups"]
        if g["Keys"][0].endswith("Request")
    )


def test_a_function_is_created_and_deleted(server: LambdadServer, page: Page) -> None:
    client = boto3_client(server.url)
    sign_in(page, server)
    page.click("#open-create")
    page.fill("#new-function-name", "console-made")
    page.select_option("#new-function-runtime", "python3.12")
    page.click("#create-function")
    expect(page.locator("#code-editor")).to_have_value(re.compile("Hello from lambdad!"))
    screenshot(page, "06-created")
    config = client.get_function_configuration(FunctionName="console-made")
    assert (config["Runtime"], config["Handler"]) == (
        "python3.12",
        "lambda_function.lambda_handler",
    )
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("#delete-function")
    expect(page.locator("#function-table")).to_be_visible()
    expect(page.locator("a.function-link", has_text="console-made")).to_have_count(0)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function(FunctionName="console-made")


def test_configuration_is_edited(server: LambdadServer, page: Page) -> None:
    client = boto3_client(server.url)
    create_function(client, "console-config", Environment={"Variables": {"KEEP": "1"}})
    sign_in(page, server)
    page.goto(f"{server.url}/console/#/functions/console-config/configuration")
    page.fill("#cfg-memory", "256")
    page.click("#add-env")
    page.locator("#env-rows .env-key").last.fill("ADDED")
    page.locator("#env-rows .env-value").last.fill("yes")
    page.click("#save-config")
    expect(page.locator("#config-status")).to_contain_text("Saved (256 MB")
    config = client.get_function_configuration(FunctionName="console-config")
    assert config["MemorySize"] == 256
    assert config["Environment"]["Variables"] == {"KEEP": "1", "ADDED": "yes"}


def test_the_test_tab_reports_a_json_logging_function(server: LambdadServer, page: Page) -> None:
    """LogFormat JSON: the tail holds platform.report records, not REPORT lines."""
    client = boto3_client(server.url)
    create_function(client, "console-json-logs", LoggingConfig={"LogFormat": "JSON"})
    sign_in(page, server)
    page.goto(f"{server.url}/console/#/functions/console-json-logs/test")
    page.fill("#event-payload", json.dumps({"who": "json"}))
    page.click("#invoke")
    expect(page.locator("#invoke-outcome")).to_contain_text("Succeeded")
    expect(page.locator("#invoke-log")).to_contain_text('"type":"platform.report"')
    report = page.locator("#invoke-report")
    for figure in (
        "Duration",
        "Billed Duration",
        "Memory Size",
        "Max Memory Used",
        "Init Duration",
    ):
        expect(report).to_contain_text(figure)
    expect(report).to_contain_text(re.compile(r"128 MB"))
    screenshot(page, "03b-invoked-json-logs")


def test_a_wrong_key_is_refused(server: LambdadServer, page: Page) -> None:
    key = server.admin_key
    assert key is not None
    page.goto(f"{server.url}/console/")
    page.fill("#access-key-id", key.access_key_id)
    page.fill("#secret-access-key", "not-the-secret")
    page.click("#sign-in")
    expect(page.locator(".signin .notice.error")).to_contain_text("refused")
    assert page.evaluate("sessionStorage.length") == 0


def test_plain_http_signs_without_webcrypto(server: LambdadServer, page: Page) -> None:
    """On plain http to a non-loopback name there is no crypto.subtle: the console
    signs with its own SHA-256 and says the connection is not protected."""
    base = f"http://{PLAIN_HOST}:{server.port}"
    sign_in(page, server, base)
    expect(page.locator("#banners")).to_contain_text("not a secure context")
    assert page.evaluate("Boolean(globalThis.crypto && crypto.subtle)") is False
    expect(page.locator("#function-table")).to_be_visible()
    page.click("#sign-out")
    expect(page.locator("#sign-in")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_auth_off_is_said_on_every_page(tmp_path: Path, browser: Browser) -> None:
    with LambdadServer(tmp_path / "data", args=["--auth", "off"]) as open_server:
        settings = httpx.get(f"{open_server.url}/console/settings.json", timeout=30).json()
        assert settings["authEnabled"] is False, settings
        context = browser.new_context()
        try:
            page = context.new_page()
            messages: list[str] = []
            page.on("console", lambda message: messages.append(message.text))
            page.goto(f"{open_server.url}/console/")
            try:
                expect(page.locator("#banners")).to_contain_text("Authentication is off")
            except AssertionError as exc:  # say what the page logged
                raise AssertionError(f"{exc}\nthe page's console: {messages}") from exc
        finally:
            context.close()


def test_the_pages_are_served_unsigned_and_framing_is_refused(server: LambdadServer) -> None:
    index = httpx.get(f"{server.url}/console/", timeout=30)
    assert index.status_code == 200
    assert 'src="js/main.js"' in index.text
    assert "frame-ancestors 'none'" in index.headers["content-security-policy"]
    assert index.headers["x-frame-options"] == "DENY"
    module = httpx.get(f"{server.url}/console/js/sigv4.js", timeout=30)
    assert module.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    redirect = httpx.get(f"{server.url}/console", timeout=30)
    assert redirect.status_code == 308 and redirect.headers["location"] == "/console/"
    settings = httpx.get(f"{server.url}/console/settings.json", timeout=30).json()
    assert settings == {"region": "us-east-1", "authEnabled": True, "accountId": "000000000000"}
    # The API beside them still wants a signature.
    refused = httpx.get(f"{server.url}/2015-03-31/functions/", timeout=30)
    assert refused.status_code == 403
    assert httpx.get(f"{server.url}/console/no-such-file.js", timeout=30).status_code == 404
