"""The sandbox's `GET /orders?query=...`: the query-string subset quivo-bulk uses (docs/sandbox.md).

Elasticsearch query-string syntax, as far as the client needs it: `field:value`,
quoted values with `\\"` and `\\\\` escapes, `AND`, `OR`, `NOT`, parentheses
(`AND` binds tighter than `OR`; terms side by side mean `OR`, Elasticsearch's
default operator), over orderId, orderIdentifier, orderReference and
orderStatus. A recursive-descent parser turns the query into a predicate.

    matches = parse_query('orderIdentifier:"#1001" OR orderStatus:PENDING')
    matches({"orderIdentifier": "#1001"})  # True
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

SEARCHABLE = ("orderId", "orderIdentifier", "orderReference", "orderStatus")
Predicate = Callable[[Mapping[str, Any]], bool]
_TOKEN = re.compile(
    r'\s*(?:(?P<open>\()|(?P<close>\))|(?P<term>[A-Za-z_][\w.]*:(?:"(?:[^"\\]|\\.)*"|[^\s()]+))'
    r"|(?P<word>[^\s()]+))"
)


class QueryError(ValueError):
    """The query cannot be parsed; the message is the API's plain-text 400."""


def _tokens(query: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(query):
        if not query[position:].strip():
            break
        match = _TOKEN.match(query, position)
        if match is None or match.end() == position:
            raise QueryError(f"query: cannot parse at '{query[position : position + 20]}'")
        kind = match.lastgroup or "word"
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _term(text: str) -> Predicate:
    field, _, raw = text.partition(":")
    if field not in SEARCHABLE:
        raise QueryError(f"query: unknown field {field}")
    value = re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith('"') else raw
    return lambda order: str(order.get(field)) == value


class _Parser:
    """expr := and ('OR'? and)* ; and := unary ('AND' unary)* ; unary := 'NOT' unary | atom"""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def expression(self) -> Predicate:
        parts = [self.conjunction()]
        while (token := self.peek()) is not None and token[0] != "close":
            if token == ("word", "OR"):
                self.take()
            parts.append(self.conjunction())
        if len(parts) == 1:
            return parts[0]
        return lambda order: any(part(order) for part in parts)

    def conjunction(self) -> Predicate:
        parts = [self.unary()]
        while self.peek() == ("word", "AND"):
            self.take()
            parts.append(self.unary())
        if len(parts) == 1:
            return parts[0]
        return lambda order: all(part(order) for part in parts)

    def unary(self) -> Predicate:
        if self.peek() == ("word", "NOT"):
            self.take()
            inner = self.unary()
            return lambda order: not inner(order)
        return self.atom()

    def atom(self) -> Predicate:
        token = self.peek()
        if token is None:
            raise QueryError("query: ends where a term was expected")
        kind, text = self.take()
        if kind == "open":
            inner = self.expression()
            if self.peek() != ("close", ")"):
                raise QueryError("query: a parenthesis is not closed")
            self.take()
            return inner
        if kind == "term":
            return _term(text)
        raise QueryError(f"query: '{text}' is not a field:value term")


def parse_query(query: str) -> Predicate:
    """A predicate over an order for `query` (empty: every order); raise QueryError."""
    tokens = _tokens(query)
    if not tokens:
        return lambda order: True
    parser = _Parser(tokens)
    predicate = parser.expression()
    if parser.peek() is not None:
        raise QueryError("query: a closing parenthesis has no opening one")
    return predicate


_ID_TERM = re.compile(r'orderId:(?:"(\d+)"|(\d+))')


def only_order_ids(query: str) -> list[int] | None:
    """The order IDs of a query that is only `orderId:1 OR orderId:2 ...` (quoted or
    not), so the search can look them up like an index would; None for any other query."""
    parts = [part.strip() for part in re.split(r"\s+OR\s+", query.strip())]
    found = []
    for part in parts:
        match = _ID_TERM.fullmatch(part)
        if match is None:
            return None
        found.append(int(match.group(1) or match.group(2)))
    return found or None


def parse_sort(sort: str, fields: tuple[str, ...]) -> tuple[str, bool]:
    """`field:asc|desc` (or `field,desc`) -> (field, descending)."""
    parts = re.split(r"[:,]", sort, maxsplit=1)
    field, direction = parts[0], parts[1] if len(parts) > 1 else ""
    if field not in fields:
        raise QueryError(f"sort: unknown field {field}")
    if direction.lower() not in ("", "asc", "desc"):
        raise QueryError(f"sort: direction must be asc or desc, not {direction}")
    return field, direction.lower() == "desc"


def sort_key(value: Any) -> tuple[bool, str]:
    """How values sort: missing last, numbers by value (zero-padded), text as text."""
    return value is None, str(value).zfill(20)
