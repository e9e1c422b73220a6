"""CloudWatch Logs filter patterns: parsed once, then matched against each event exactly.

Two kinds, as AWS's "Filter pattern syntax" has them:

- Terms, for unstructured events: `ERROR` (the event contains the term),
  `ERROR Exception` (all of them), `?ERROR ?WARN` (any of the `?` terms),
  `-DEBUG` (not this one), `"INTERNAL SERVER ERROR"` (a quoted phrase, which may
  hold spaces and punctuation), `%ERR[0-9]+%` (a regular expression). Terms are
  case sensitive. A term matches where it stands as whole words: its first and
  last characters, when they are letters or digits, are not glued to more
  letters or digits in the event (`ERROR` matches `[ERROR]` and `ERROR_CODE`,
  not `ERRORS`; a regular expression matches anywhere, as AWS's `%...%` is for).
- JSON patterns, for events that are JSON objects: `{ $.level = "ERROR" }`,
  `{ $.latency > 100 && $.path = "/api/*" }`, `||`, parentheses, `!=`, `<`,
  `<=`, `>`, `>=`, `*` wildcards in strings, `%regex%` values,
  `IS TRUE`, `IS FALSE`, `IS NULL`, `EXISTS`, `NOT EXISTS`; selectors `$.a.b[0]`.

Besides `matches`, a pattern says how the full-text index may narrow a search
(`narrowing`): which words every matching event must contain. A word here is a
run of letters and digits (`WORD`, the same split the index makes), so a term
that matches only at word boundaries needs every word in it to be a word of
the event. The index only narrows (case-folded on SQLite); `matches` decides.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambdad.store.log_index import WORD, AllOf, AnyOf, Narrowing, Words
from lambdad.telemetry.log_errors import InvalidParameter

MAX_PATTERN = 1024
_SAFE_JSON_TEXT = re.compile(r"[ !#-.0-\[\]-~]*")
"""Printable ASCII that JSON writers put in a string as it is (no quote, backslash, slash)."""


# ---- narrowing (the words the index may look up) -----------------------------------------


def all_of(parts: list[Narrowing | None]) -> Narrowing | None:
    known = tuple(part for part in parts if part is not None)
    if not known:
        return None
    return known[0] if len(known) == 1 else AllOf(known)


def any_of(parts: list[Narrowing | None]) -> Narrowing | None:
    if not parts or any(part is None for part in parts):
        return None  # one alternative the index cannot see: every event may match
    known = tuple(part for part in parts if part is not None)
    return known[0] if len(known) == 1 else AnyOf(known)


def _words(text: str) -> Words | None:
    found = tuple(dict.fromkeys(WORD.findall(text)))
    return Words(found) if found else None


# ---- the pattern -------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterPattern:
    text: str
    matches: Callable[[str], bool]
    narrowing: Narrowing | None

    @property
    def matches_everything(self) -> bool:
        return not self.text.strip()


def parse(text: str | None) -> FilterPattern:
    """`text` as a pattern; InvalidParameterException when it is not one."""
    text = text or ""
    if len(text) > MAX_PATTERN:
        raise InvalidParameter(
            "1 validation error detected: Value at 'filterPattern' failed to satisfy "
            f"constraint: Member must have length less than or equal to {MAX_PATTERN}"
        )
    stripped = text.strip()
    if not stripped:
        return FilterPattern(text, lambda _message: True, None)
    if stripped.startswith("[") and stripped.endswith("]"):
        raise InvalidParameter(
            "Invalid filter pattern: space-delimited patterns ([w1, w2, ...]) are not supported"
        )
    found = _JsonParser(stripped).pattern(text) if stripped.startswith("{") else _terms(text)
    if found.narrowing is None:
        return found
    # A match holds its words as they are: a substring test rules most events out
    # before the exact matcher (a regex, a JSON parse) runs.
    might, exact = _contains(found.narrowing), found.matches
    return FilterPattern(text, lambda message: might(message) and exact(message), found.narrowing)


def _contains(narrowing: Narrowing) -> Callable[[str], bool]:
    if isinstance(narrowing, Words):
        words = narrowing.words
        return lambda message: all(word in message for word in words)
    parts = [_contains(part) for part in narrowing.parts]
    if isinstance(narrowing, AllOf):
        return lambda message: all(part(message) for part in parts)
    return lambda message: any(part(message) for part in parts)


def _invalid(text: str, why: str) -> InvalidParameter:
    return InvalidParameter(f"Invalid character(s) in term '{text}': {why}")


# ---- terms -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Term:
    search: Callable[[str], bool]
    narrowing: Narrowing | None


def _word_term(term: str) -> _Term:
    """`term` where it stands as whole words (see the module's docstring)."""
    before = r"(?<![^\W_])" if WORD.match(term[0]) else ""
    after = r"(?![^\W_])" if WORD.match(term[-1]) else ""
    found = re.compile(before + re.escape(term) + after).search
    return _Term(lambda message: found(message) is not None, _words(term))


def _regex(body: str, source: str) -> re.Pattern[str]:
    if not body or "(" in body or ")" in body or not body.isascii():
        raise _invalid(source, "a regular expression may not hold ( ) or multi-byte characters")
    try:
        return re.compile(body)
    except re.error as exc:
        raise _invalid(source, str(exc)) from None


def _regex_term(body: str, source: str) -> _Term:
    found = _regex(body, source).search
    return _Term(lambda message: found(message) is not None, None)


def _split_terms(text: str) -> list[tuple[str, _Term]]:
    """(`?`, `-` or "", term) for each term, in order."""
    terms: list[tuple[str, _Term]] = []
    at = 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        sign = text[at] if text[at] in "?-" else ""
        at += len(sign)
        if at < len(text) and text[at] == '"':
            end = at + 1
            chars: list[str] = []
            while end < len(text) and text[end] != '"':
                if text[end] == "\\" and end + 1 < len(text):
                    end += 1
                chars.append(text[end])
                end += 1
            if end >= len(text):
                raise _invalid(text, "a quoted term is not closed")
            phrase = "".join(chars)
            at = end + 1
            if phrase:
                terms.append((sign, _word_term(phrase)))
            continue
        if at < len(text) and text[at] == "%":
            end = text.find("%", at + 1)
            if end < 0:
                raise _invalid(text, "a regular expression is not closed with %")
            terms.append((sign, _regex_term(text[at + 1 : end], text)))
            at = end + 1
            continue
        end = at
        while end < len(text) and not text[end].isspace():
            end += 1
        if end == at:
            raise _invalid(text, f"'{sign}' stands alone")
        terms.append((sign, _word_term(text[at:end])))
        at = end
    return terms


def _terms(text: str) -> FilterPattern:
    terms = _split_terms(text)
    required = [term for sign, term in terms if sign == ""]
    optional = [term for sign, term in terms if sign == "?"]
    excluded = [term for sign, term in terms if sign == "-"]

    def matches(message: str) -> bool:
        return (
            all(term.search(message) for term in required)
            and not any(term.search(message) for term in excluded)
            and (not optional or any(term.search(message) for term in optional))
        )

    parts = [term.narrowing for term in required]
    if optional:
        parts.append(any_of([term.narrowing for term in optional]))
    return FilterPattern(text, matches, all_of(parts))


# ---- JSON patterns -----------------------------------------------------------------------

_MISSING = object()
_JSON_TOKEN = re.compile(
    r"""\s*(?:
      (?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\))
    | (?P<selector>\$(?:\.[^\s.\[\]=!<>()&|]+|\[(?:\d+|\*)\])*)
    | "(?P<string>(?:[^"\\]|\\.)*)"
    | %(?P<regex>[^%]*)%
    | (?P<word>[^\s=!<>()&|"]+)
    )""",
    re.VERBOSE,
)
Condition = Callable[[Any], bool]


def _select(selector: str, document: Any) -> Any:
    """The value at `selector` ($.a.b[0]) in `document`, or _MISSING."""
    value = document
    for step in re.findall(r"\.([^.\[\]]+)|\[(\d+|\*)\]", selector[1:]):
        key, index = step
        if key and isinstance(value, dict) and key in value:
            value = value[key]
        elif index.isdigit() and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return _MISSING
    return value


def _number(word: str) -> float | None:
    try:
        value = float(word)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _JsonParser:
    """Recursive descent over `{ expr }`: or := and ('||' and)*; and := unary ('&&' unary)*;
    unary := '(' or ')' | comparison."""

    def __init__(self, text: str) -> None:
        self.text = text
        if not text.endswith("}"):
            raise self._error("a JSON pattern ends with }")
        self.tokens = self._lex(text[1:-1])
        self.at = 0

    def _error(self, why: str) -> InvalidParameter:
        return InvalidParameter(f"Invalid filter pattern '{self.text}': {why}")

    def _lex(self, body: str) -> list[tuple[str, str]]:
        tokens: list[tuple[str, str]] = []
        at = 0
        while body[at:].strip():
            found = _JSON_TOKEN.match(body, at)
            if found is None or found.end() == at:
                raise self._error(f"unexpected text at '{body[at:].strip()[:20]}'")
            kind = found.lastgroup or ""
            value = found.group(kind)
            if kind == "string":
                value = re.sub(r"\\(.)", r"\1", value)
            tokens.append((kind, value))
            at = found.end()
        return tokens

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _take(self, kind: str | None = None) -> tuple[str, str]:
        token = self._peek()
        if token is None or (kind is not None and token[0] != kind):
            raise self._error(f"expected {kind or 'more'}")
        self.at += 1
        return token

    def pattern(self, source: str) -> FilterPattern:
        condition, narrowing = self._or()
        if self._peek() is not None:
            raise self._error(f"unexpected '{self.tokens[self.at][1]}'")

        def matches(message: str) -> bool:
            if not message.lstrip().startswith("{"):
                return False
            try:
                document = json.loads(message)
            except ValueError:
                return False
            return condition(document)

        return FilterPattern(source, matches, narrowing)

    def _or(self) -> tuple[Condition, Narrowing | None]:
        parts = [self._and()]
        while self._peek() == ("op", "||"):
            self._take()
            parts.append(self._and())
        if len(parts) == 1:
            return parts[0]
        conditions = [condition for condition, _ in parts]
        return (
            lambda document: any(c(document) for c in conditions),
            any_of([narrowing for _, narrowing in parts]),
        )

    def _and(self) -> tuple[Condition, Narrowing | None]:
        parts = [self._unary()]
        while self._peek() == ("op", "&&"):
            self._take()
            parts.append(self._unary())
        if len(parts) == 1:
            return parts[0]
        conditions = [condition for condition, _ in parts]
        return (
            lambda document: all(c(document) for c in conditions),
            all_of([narrowing for _, narrowing in parts]),
        )

    def _unary(self) -> tuple[Condition, Narrowing | None]:
        if self._peek() == ("op", "("):
            self._take()
            inner = self._or()
            if self._peek() != ("op", ")"):
                raise self._error("a ( is not closed")
            self._take()
            return inner
        return self._comparison()

    def _comparison(self) -> tuple[Condition, Narrowing | None]:
        selector = self._take("selector")[1]
        kind, word = self._take()
        if kind == "word" and word.upper() in ("IS", "NOT", "EXISTS"):
            return self._keyword(selector, word.upper()), None
        if kind != "op" or word not in ("=", "!=", "<", "<=", ">", ">="):
            raise self._error(f"expected a comparison after {selector}")
        operator = word
        kind, value = self._take()
        if kind == "regex":
            regex = _regex(value, self.text)
            found: Condition = lambda v: isinstance(v, str) and regex.search(v) is not None  # noqa: E731
            return self._equality(selector, operator, found), None
        number = _number(value) if kind == "word" else None
        if number is not None:
            return self._numeric(selector, operator, number), None
        if kind not in ("word", "string"):
            raise self._error(f"expected a value after {selector} {operator}")
        if operator not in ("=", "!="):
            raise self._error(f"{operator} compares numbers")
        if "*" in value:
            glob = re.compile(".*".join(map(re.escape, value.split("*"))), re.DOTALL)
            wanted: Condition = lambda v: isinstance(v, str) and glob.fullmatch(v) is not None  # noqa: E731
            return self._equality(selector, operator, wanted), None
        narrowing = _words(value) if _SAFE_JSON_TEXT.fullmatch(value) else None
        return (
            self._equality(selector, operator, lambda v: isinstance(v, str) and v == value),
            narrowing if operator == "=" else None,
        )

    @staticmethod
    def _equality(selector: str, operator: str, wanted: Condition) -> Condition:
        def condition(document: Any) -> bool:
            value = _select(selector, document)
            if value is _MISSING:
                return False
            return wanted(value) if operator == "=" else not wanted(value)

        return condition

    @staticmethod
    def _numeric(selector: str, operator: str, number: float) -> Condition:
        compare: Callable[[float], bool] = {
            "=": lambda v: v == number,
            "!=": lambda v: v != number,
            "<": lambda v: v < number,
            "<=": lambda v: v <= number,
            ">": lambda v: v > number,
            ">=": lambda v: v >= number,
        }[operator]

        def condition(document: Any) -> bool:
            value = _select(selector, document)
            return _is_number(value) and compare(float(value))

        return condition

    def _keyword(self, selector: str, first: str) -> Condition:
        if first == "EXISTS":
            return lambda document: _select(selector, document) is not _MISSING
        if first == "NOT":
            if self._take("word")[1].upper() != "EXISTS":
                raise self._error("expected NOT EXISTS")
            return lambda document: _select(selector, document) is _MISSING
        what = self._take("word")[1].upper()
        expected: dict[str, Any] = {"TRUE": True, "FALSE": False, "NULL": None}
        if what not in expected:
            raise self._error("expected IS TRUE, IS FALSE or IS NULL")
        wanted = expected[what]
        return lambda document: _select(selector, document) is wanted
