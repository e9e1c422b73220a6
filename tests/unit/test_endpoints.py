"""The operator's endpoints: parsing `--aws-endpoint` and what a function is given."""

from __future__ import annotations

import pytest

from lambdad.endpoints import (
    FIRST_PORT,
    AwsEndpoints,
    EndpointSettingError,
    env_name,
    lambda_url,
    parse_aws_endpoints,
    plan_endpoints,
)
from lambdad.sandbox import Forward

OWN = "http://127.0.0.1:9000"


def test_entries_for_every_service_and_per_service() -> None:
    parsed = parse_aws_endpoints("http://minio:9000, s3=http://s3.local:4566/base ,sqs=https://q")
    assert parsed.everything == "http://minio:9000"
    assert dict(parsed.services) == {
        "AWS_ENDPOINT_URL_S3": "http://s3.local:4566/base",
        "AWS_ENDPOINT_URL_SQS": "https://q",
    }
    assert parse_aws_endpoints("") == AwsEndpoints()


def test_service_ids_are_spelled_as_the_sdks_read_them() -> None:
    assert env_name("dynamodb") == "AWS_ENDPOINT_URL_DYNAMODB"
    assert env_name("CloudWatch Logs") == "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"
    assert env_name("secrets-manager") == "AWS_ENDPOINT_URL_SECRETS_MANAGER"


@pytest.mark.parametrize(
    "entries",
    [
        "ftp://x",
        "s3=notaurl",
        "s3=http://a,s3=http://b",
        "http://a,http://b",
        "lambda=http://elsewhere",
        "s3=http://a:99999",
        "s3=http://user:pw@a",
        "bad/name=http://a",
    ],
)
def test_unusable_entries_are_refused(entries: str) -> None:
    with pytest.raises(EndpointSettingError):
        parse_aws_endpoints(entries)


def test_forwarded_urls_lead_to_loopback_ports_one_per_target() -> None:
    endpoints = parse_aws_endpoints("http://all:80,s3=http://minio:9000/x,sqs=http://minio:9000")
    plan = plan_endpoints(endpoints, OWN, forwarded=True)
    assert plan.env == {
        "AWS_ENDPOINT_URL_LAMBDA": f"http://127.0.0.1:{FIRST_PORT}",
        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{FIRST_PORT + 1}/x",
        "AWS_ENDPOINT_URL_SQS": f"http://127.0.0.1:{FIRST_PORT + 1}",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{FIRST_PORT + 2}",
    }
    assert plan.forwards == (
        Forward(FIRST_PORT, "127.0.0.1", 9000),
        Forward(FIRST_PORT + 1, "minio", 9000),
        Forward(FIRST_PORT + 2, "all", 80),
    )


def test_a_shared_network_gets_the_urls_as_they_are() -> None:
    plan = plan_endpoints(parse_aws_endpoints("s3=https://s3.example"), OWN, forwarded=False)
    assert plan.env == {"AWS_ENDPOINT_URL_LAMBDA": OWN, "AWS_ENDPOINT_URL_S3": "https://s3.example"}
    assert plan.forwards == ()


def test_https_default_port() -> None:
    plan = plan_endpoints(parse_aws_endpoints("s3=https://s3.example"), OWN, forwarded=True)
    assert plan.forwards[1] == Forward(FIRST_PORT + 1, "s3.example", 443)


def test_the_servers_own_url_from_its_listen_address() -> None:
    assert lambda_url("0.0.0.0", 9000) == "http://127.0.0.1:9000"
    assert lambda_url("::", 9000) == "http://[::1]:9000"
    assert lambda_url("10.1.2.3", 80) == "http://10.1.2.3:80"
