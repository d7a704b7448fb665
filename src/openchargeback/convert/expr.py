"""Arithmetic expressions for CSV mappings, evaluated in Decimal without ``eval``.

Grammar (a small recursive-descent parser; nothing else is accepted)::

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "×" | "/") unary)*
    unary  := ("-" | "+") unary | atom
    atom   := NUMBER | NAME | `any column name` | NAME "(" expr ("," expr)* ")" | "(" expr ")"

Names are columns of the input row (or FOCUS columns computed earlier in the mapping).
Functions: ``round(x, places)`` (half-up), ``min``, ``max``, ``abs``. Numbers are
decimal text; a cell that is not a number is an error naming the column and value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import NoReturn

from openchargeback.domain.errors import InvalidInput

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|`(?P<quoted>[^`]+)`|(?P<op>[-+*/×(),]))"
)
Env = Mapping[str, object]
Node = Callable[[Env], Decimal]


def _number(value: object, name: str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        raise ValueError(f"column {name}: binary float {value!r} refused")
    text = "" if value is None else str(value).strip()
    try:
        d = Decimal(text)
        if not d.is_finite():
            raise InvalidOperation
        return d
    except InvalidOperation:
        raise ValueError(f"column {name}: {text!r} is not a number") from None


def _round(x: Decimal, places: Decimal = Decimal(0)) -> Decimal:
    return x.quantize(Decimal(1).scaleb(-int(places)), rounding=ROUND_HALF_UP)


FUNCTIONS: dict[str, tuple[Callable[..., Decimal], int, int]] = {  # name -> (fn, min args, max args)
    "round": (_round, 1, 2),
    "min": (min, 1, 99),
    "max": (max, 1, 99),
    "abs": (abs, 1, 1),
}


class Expression:
    def __init__(self, text: str, where: str = "expression"):
        self.text, self.where = str(text), where
        self.tokens = self._tokenize()
        self.pos = 0
        self.names: set[str] = set()
        self.node = self._expr()
        if self.pos != len(self.tokens):
            self._fail(f"unexpected {self.tokens[self.pos][1]!r}")

    def _fail(self, what: str) -> NoReturn:
        raise InvalidInput(f"{self.where}: {self.text!r}: {what}")

    def _tokenize(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        i, text = 0, self.text
        while i < len(text):
            if text[i:].strip() == "":
                break
            m = _TOKEN.match(text, i)
            if not m:
                self._fail(
                    f"cannot read {text[i:].strip()[:10]!r} (allowed: numbers, column "
                    f"names, + - * / ( ), round min max abs)"
                )
            kind = m.lastgroup or ""  # every alternative of _TOKEN is a named group
            out.append(("name" if kind == "quoted" else kind, m.group(kind)))
            i = m.end()
        if not out:
            self._fail("empty expression")
        return out

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self, value: str | None = None) -> tuple[str, str]:
        tok = self._peek()
        if tok is None or (value is not None and tok[1] != value):
            self._fail(
                f"expected {value or 'more'} at the end"
                if tok is None
                else f"expected {value!r}, found {tok[1]!r}"
            )
        self.pos += 1
        return tok

    def _expr(self) -> Node:
        node = self._term()
        while (tok := self._peek()) and tok[1] in "+-" and tok[0] == "op":
            self.pos += 1
            left, right = node, self._term()
            node = (
                (lambda a, b: lambda env: a(env) + b(env))(left, right)
                if tok[1] == "+"
                else (lambda a, b: lambda env: a(env) - b(env))(left, right)
            )
        return node

    def _term(self) -> Node:
        node = self._unary()
        while (tok := self._peek()) and tok[0] == "op" and tok[1] in "*×/":
            self.pos += 1
            left, right = node, self._unary()
            if tok[1] == "/":

                def div(env: Env, a: Node = left, b: Node = right, expr: Expression = self) -> Decimal:
                    d = b(env)
                    if d == 0:
                        raise ValueError(f"{expr.text!r}: division by zero")
                    return a(env) / d

                node = div
            else:
                node = (lambda a, b: lambda env: a(env) * b(env))(left, right)
        return node

    def _unary(self) -> Node:
        tok = self._peek()
        if tok and tok[0] == "op" and tok[1] in "+-":
            self.pos += 1
            inner = self._unary()
            return (lambda env: -inner(env)) if tok[1] == "-" else inner
        return self._atom()

    def _atom(self) -> Node:
        kind, value = self._take()
        if kind == "num":
            d = Decimal(value)
            return lambda env: d
        if kind == "op" and value == "(":
            node = self._expr()
            self._take(")")
            return node
        if kind == "name":
            nxt = self._peek()
            if nxt == ("op", "(") and value in FUNCTIONS:
                return self._call(value)
            if nxt == ("op", "("):
                self._fail(f"unknown function {value!r} (functions: {', '.join(FUNCTIONS)})")
            self.names.add(value)

            def column(env: Env, n: str = value) -> Decimal:
                return _number(env.get(n), n) if n in env else _missing(n)

            return column
        self._fail(f"unexpected {value!r}")

    def _call(self, name: str) -> Node:
        fn, lo, hi = FUNCTIONS[name]
        self._take("(")
        args = [self._expr()]
        while self._peek() == ("op", ","):
            self.pos += 1
            args.append(self._expr())
        self._take(")")
        if not lo <= len(args) <= hi:
            self._fail(f"{name}() takes {lo}..{hi} arguments, found {len(args)}")
        return lambda env: fn(*(a(env) for a in args))

    def evaluate(self, env: Env) -> Decimal:
        with localcontext() as ctx:
            ctx.prec = 50
            return self.node(env)


def _missing(name: str) -> NoReturn:
    raise ValueError(f"no column {name!r} in the row")
