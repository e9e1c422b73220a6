import pytest

from lambdad.catalog import Account, FunctionRef
from lambdad.errors import InvalidParameterValue, ResourceNotFound, ValidationError

ACCOUNT = Account(region="us-east-1", account_id="000000000000")
ARN = "arn:aws:lambda:us-east-1:000000000000:function"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("my-function", FunctionRef("my-function")),
        ("my_function-1", FunctionRef("my_function-1")),
        ("my-function:v1", FunctionRef("my-function", "v1")),
        ("my-function:$LATEST", FunctionRef("my-function", "$LATEST")),
        ("my-function:7", FunctionRef("my-function", "7")),
        ("000000000000:function:my-function", FunctionRef("my-function")),
        ("000000000000:function:my-function:7", FunctionRef("my-function", "7")),
        ("function:my-function", FunctionRef("my-function")),
        (f"{ARN}:my-function", FunctionRef("my-function")),
        (f"{ARN}:my-function:$LATEST", FunctionRef("my-function", "$LATEST")),
        (f"{ARN}:my-function:prod", FunctionRef("my-function", "prod")),
        ("a" * 64, FunctionRef("a" * 64)),
    ],
)
def test_every_accepted_form(value: str, expected: FunctionRef) -> None:
    assert ACCOUNT.parse_function_name(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "bad name",
        "bad!name",
        "name/with/slash",
        "my-function:bad qualifier",
        "my-function:",
        ":my-function",
        "arn:aws:s3:::bucket",
        "a" * 65,
        "",
        "x" * 141,
    ],
)
def test_bad_names_are_validation_errors(value: str) -> None:
    with pytest.raises(ValidationError) as info:
        ACCOUNT.parse_function_name(value)
    assert info.value.message.startswith("1 validation error detected: Value ")


@pytest.mark.parametrize(
    "value",
    [
        "111111111111:function:my-function",
        "arn:aws:lambda:eu-west-1:000000000000:function:my-function",
        "arn:aws:lambda:us-east-1:111111111111:function:my-function",
    ],
)
def test_other_accounts_and_regions_are_not_found(value: str) -> None:
    with pytest.raises(ResourceNotFound):
        ACCOUNT.parse_function_name(value)


def test_qualifier_parameter_alone() -> None:
    assert ACCOUNT.resolve("fn", "3") == FunctionRef("fn", "3")
    assert ACCOUNT.resolve("fn", None) == FunctionRef("fn")
    assert ACCOUNT.resolve(f"{ARN}:fn", "$LATEST") == FunctionRef("fn", "$LATEST")


def test_qualifier_in_name_and_parameter_must_agree() -> None:
    assert ACCOUNT.resolve("fn:3", "3") == FunctionRef("fn", "3")
    assert ACCOUNT.resolve("fn:3") == FunctionRef("fn", "3")
    with pytest.raises(InvalidParameterValue, match="does not match"):
        ACCOUNT.resolve("fn:3", "4")
    with pytest.raises(InvalidParameterValue):
        ACCOUNT.resolve("fn:$LATEST", "1")


@pytest.mark.parametrize("qualifier", ["bad qualifier", "a/b", "x" * 129])
def test_bad_qualifier_parameter(qualifier: str) -> None:
    with pytest.raises(ValidationError):
        ACCOUNT.resolve("fn", qualifier)


def test_function_arn() -> None:
    assert ACCOUNT.function_arn("fn") == f"{ARN}:fn"
    assert ACCOUNT.function_arn("fn", "1") == f"{ARN}:fn:1"


def test_parse_function_arn_for_resources() -> None:
    assert ACCOUNT.parse_function_arn(f"{ARN}:fn") == "fn"
    with pytest.raises(InvalidParameterValue, match="Tags on function aliases and versions"):
        ACCOUNT.parse_function_arn(f"{ARN}:fn:1")
    with pytest.raises(ValidationError):
        ACCOUNT.parse_function_arn("fn")
    with pytest.raises(ResourceNotFound):
        ACCOUNT.parse_function_arn("arn:aws:lambda:eu-west-1:000000000000:function:fn")


def test_the_newest_model_patterns() -> None:
    """botocore's newest patterns: an `eusc-` region prefix; `$LATEST.PUBLISHED` and dots
    in the namespaced name of GetFunction/Invoke."""
    eusc = Account(region="eusc-de-east-1", account_id="000000000000")
    value = "arn:aws:lambda:eusc-de-east-1:000000000000:function:fn"
    assert eusc.parse_function_name(value) == FunctionRef("fn")
    assert ACCOUNT.resolve("fn:$LATEST.PUBLISHED") == FunctionRef("fn", "$LATEST.PUBLISHED")
    assert ACCOUNT.resolve("fn", "$LATEST.PUBLISHED") == FunctionRef("fn", "$LATEST.PUBLISHED")
    with pytest.raises(ValidationError):
        ACCOUNT.parse_function_name("fn:$LATEST.PUBLISHED")  # not in plain FunctionName


def test_another_regions_arn_is_not_reachable() -> None:
    with pytest.raises(ResourceNotFound) as info:
        ACCOUNT.resolve("arn:aws:lambda:eu-west-1:000000000000:function:fn")
    assert info.value.message == (
        "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')"
    )


@pytest.mark.parametrize(
    ("name", "qualifier", "message"),
    [
        (
            "a b",
            None,
            "1 validation error detected: Value 'a b' at 'functionName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: "
            "(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-"
            r"\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|"
            "[a-zA-Z0-9-_]+))?",
        ),
        (
            "x" * 257,
            None,
            f"1 validation error detected: Value '{'x' * 257}' at 'functionName' failed to "
            "satisfy constraint: Member must have length less than or equal to 256",
        ),
        (
            "fn",
            "q" * 129,
            f"1 validation error detected: Value '{'q' * 129}' at 'qualifier' failed to "
            "satisfy constraint: Member must have length less than or equal to 128",
        ),
        (
            "a" * 65,
            "a/b",
            f"2 validation errors detected: Value '{'a' * 65}' at 'functionName' failed to "
            "satisfy constraint: Member must have length less than or equal to 64; Value 'a/b' "
            "at 'qualifier' failed to satisfy constraint: Member must satisfy regular "
            r"expression pattern: \$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+",
        ),
    ],
)
def test_validation_messages_count_every_failure(
    name: str, qualifier: str | None, message: str
) -> None:
    with pytest.raises(ValidationError) as info:
        ACCOUNT.resolve(name, qualifier)
    assert info.value.message == message
