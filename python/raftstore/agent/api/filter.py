"""``?filter=``: Consul's filter expressions (hashicorp/go-bexpr) over the JSON objects an endpoint returns.

Grammar (go-bexpr's, keywords lower case)::

    expr     := or
    or       := and ("or" and)*
    and      := not ("and" not)*
    not      := "not" not | "(" expr ")" | match
    match    := selector ("==" | "!=") value
              | selector "is" ["not"] "empty"
              | value ["not"] "in" selector
              | selector ["not"] ("contains" | "matches") value
    selector := name ("." name | "[" string "]")*      Meta.env, Meta["env"], Service.Tags
    value    := "string" | `raw string` | number | true | false | bare word

Semantics: ``==`` compares with the field's type (a number or boolean value is compared to the field's text form
as go-bexpr coerces); ``in``/``contains`` test membership in a list, a key in a map, or a substring in a string;
``matches`` is a regular expression search; ``is empty`` holds for a missing field, an empty string, list or map.
Field names match exactly, or else case-insensitively. A malformed expression is a 400, as in Consul.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from raftstore.agent.errors import InvalidRequest

Predicate = Callable[[Any], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<raw>`[^`]*`)
      | (?P<op>==|!=|\(|\)|\[|\]|\.)
      | (?P<word>[A-Za-z0-9_\-:/@+*]+)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "contains", "matches", "is", "empty"}
_MISSING = object()


class FilterError(InvalidRequest):
    def __init__(self, message: str) -> None:
        super().__init__(f"Failed to create boolean expression evaluator: {message}")


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            while text[position].isspace():
                position += 1
            raise FilterError(f"unexpected character {text[position]!r} at offset {position}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        elif kind == "raw":
            kind, value = "string", value[1:-1]
        elif kind == "word" and value in _KEYWORDS:
            kind = "keyword"
        out.append((kind, value))
        position = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.at + offset
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.at += 1
        return token

    def keyword(self, *words: str) -> bool:
        kind, value = self.peek()
        if kind == "keyword" and value in words:
            self.at += 1
            return True
        return False

    def expect(self, kind: str, value: str | None = None) -> str:
        got_kind, got = self.take()
        if got_kind != kind or (value is not None and got != value):
            raise FilterError(f"expected {value or kind}, found {got or 'the end'!r}")
        return got

    def parse(self) -> Predicate:
        if not self.tokens:
            raise FilterError("empty expression")
        predicate = self.or_()
        if self.peek()[0] != "end":
            raise FilterError(f"unexpected {self.peek()[1]!r}")
        return predicate

    def or_(self) -> Predicate:
        parts = [self.and_()]
        while self.keyword("or"):
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else lambda obj: any(p(obj) for p in parts)

    def and_(self) -> Predicate:
        parts = [self.not_()]
        while self.keyword("and"):
            parts.append(self.not_())
        return parts[0] if len(parts) == 1 else lambda obj: all(p(obj) for p in parts)

    def not_(self) -> Predicate:
        if self.keyword("not"):
            inner = self.not_()
            return lambda obj: not inner(obj)
        if self.peek() == ("op", "("):
            self.take()
            inner = self.or_()
            self.expect("op", ")")
            return inner
        return self.match()

    def selector(self) -> list[str]:
        path = [self.expect("word")]
        while True:
            if self.peek() == ("op", "."):
                self.take()
                path.append(self.expect("word"))
            elif self.peek() == ("op", "["):
                self.take()
                path.append(self.expect("string"))
                self.expect("op", "]")
            else:
                return path

    def value(self) -> str:
        kind, value = self.take()
        if kind not in ("string", "word"):
            raise FilterError(f"expected a value, found {value or 'the end'!r}")
        return value

    def match(self) -> Predicate:
        kind, _ = self.peek()
        following = self.peek(1)
        value_first = (
            kind == "string"
            or following == ("keyword", "in")
            or (following == ("keyword", "not") and (self.peek(2) == ("keyword", "in")))
        )
        if value_first:
            value = self.value()
            negate = self.keyword("not")
            self.expect("keyword", "in")
            path = self.selector()
            return _negated(lambda obj: _contains(_select(obj, path), value), negate)
        path = self.selector()
        kind, op = self.peek()
        if kind == "op" and op in ("==", "!="):
            self.take()
            value = self.value()
            return _negated(lambda obj: _equals(_select(obj, path), value), op == "!=")
        if self.keyword("is"):
            negate = self.keyword("not")
            self.expect("keyword", "empty")
            return _negated(lambda obj: _empty(_select(obj, path)), negate)
        negate = self.keyword("not")
        if self.keyword("contains"):
            value = self.value()
            return _negated(lambda obj: _contains(_select(obj, path), value), negate)
        if self.keyword("matches"):
            value = self.value()
            try:
                pattern = re.compile(value)
            except re.error as error:
                raise FilterError(f"invalid regular expression {value!r}: {error}") from None
            return _negated(lambda obj: _matches(_select(obj, path), pattern), negate)
        raise FilterError(f"expected an operator after {'.'.join(path)!r}, found {self.peek()[1] or 'the end'!r}")


def _negated(predicate: Predicate, negate: bool) -> Predicate:
    return (lambda obj: not predicate(obj)) if negate else predicate


def _select(obj: Any, path: list[str]) -> Any:
    for name in path:
        if not isinstance(obj, dict):
            return _MISSING
        if name in obj:
            obj = obj[name]
            continue
        lowered = name.lower()
        key = next((k for k in obj if isinstance(k, str) and k.lower() == lowered), None)
        if key is None:
            return _MISSING
        obj = obj[key]
    return obj


def _text(field: Any) -> str:
    if isinstance(field, bool):
        return "true" if field else "false"
    return str(field)


def _equals(field: Any, value: str) -> bool:
    if field is _MISSING or field is None or isinstance(field, (dict, list)):
        return False
    return _text(field) == value


def _contains(field: Any, value: str) -> bool:
    if isinstance(field, (list, tuple)):
        return any(_text(item) == value for item in field)
    if isinstance(field, dict):
        return value in field
    if isinstance(field, str):
        return value in field
    return False


def _matches(field: Any, pattern: re.Pattern[str]) -> bool:
    if isinstance(field, str):
        return pattern.search(field) is not None
    if isinstance(field, (list, tuple)):
        return any(isinstance(item, str) and pattern.search(item) is not None for item in field)
    return False


def _empty(field: Any) -> bool:
    return field is _MISSING or field is None or (isinstance(field, (str, list, dict, tuple)) and len(field) == 0)


def compile_filter(text: str) -> Predicate:
    """A predicate over one JSON object; FilterError (a 400) for a malformed expression."""
    return _Parser(text).parse()


def request_filter(query: Any) -> Predicate | None:
    """The request's ``?filter=`` as a predicate, None when absent or empty."""
    text = query.get("filter", "")
    return compile_filter(text) if text else None
