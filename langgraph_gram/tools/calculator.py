"""An exact calculator: rational arithmetic on a parsed expression, never ``eval``.

:func:`calculate` evaluates an expression to text; :func:`calculator_tool` is the same as a
LangChain tool. A bad expression comes back as the tool's text output, which a model can act
on.
"""

from __future__ import annotations

import ast
import math
import re
from decimal import Decimal, localcontext
from fractions import Fraction

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

MAX_EXPONENT = 1000
"""Largest absolute integer exponent the calculator accepts."""

MAX_DIGITS = 10_000
"""Most decimal digits any numerator or denominator may reach."""

_MAX_BITS = math.ceil(MAX_DIGITS * math.log2(10))
_MAX_INPUT_CHARS = 2000
_MAX_ROOT = 64
_APPROX_DIGITS = 20
_FUNCTIONS = ("abs", "round", "min", "max", "sqrt", "floor", "ceil")
_ALLOWED_HINT = "numbers, + - * / // % ** ( ) and " + ", ".join(_FUNCTIONS)


class _CalcError(ValueError):
    """An expression the calculator refuses; the message is shown to the model."""


_REPLACEMENTS = {
    "×": "*",
    "✕": "*",
    "∗": "*",
    "·": "*",
    "⋅": "*",
    "÷": "/",
    "∕": "/",
    "−": "-",
    "–": "-",
    "^": "**",
    "$": "",
    "€": "",
    "£": "",
}
_THOUSANDS = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?![\w,])")
_CALL = re.compile(r"[A-Za-z_]\w*\s*\(")
_PERCENT = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)%(?=\s*(?:$|[)*/+\-]))")
_EXPONENT = re.compile(r"[eE]([+-]?\d[\d_]*)")
_ROOT_SIGN = re.compile(r"√\s*(\d+(?:\.\d+)?|(?=\())")


def _normalize_expression(expression: str) -> str:
    text = expression.strip()
    text = re.sub(r"\s*=\s*\??\s*$", "", text)  # "2 + 2 =" or "2 + 2 = ?"
    for old, new in _REPLACEMENTS.items():
        text = text.replace(old, new)
    text = _ROOT_SIGN.sub(lambda m: f"sqrt({m.group(1)})" if m.group(1) else "sqrt", text)
    if not _CALL.search(text):  # with calls, "max(1,234)" is ambiguous: commas separate args
        text = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), text)
    text = _PERCENT.sub(r"(\1/100)", text)  # "15%" at the end or before an operator
    return text


_DIGIT_LIMIT = 10**MAX_DIGITS


def _too_big(n: int) -> bool:
    bits = n.bit_length()
    return bits > _MAX_BITS or (bits == _MAX_BITS and abs(n) >= _DIGIT_LIMIT)


def _check(value: Fraction) -> Fraction:
    if _too_big(value.numerator) or _too_big(value.denominator):
        raise _CalcError(f"result too large (more than {MAX_DIGITS} digits)")
    return value


def _integer_root(n: int, q: int) -> int:
    """Floor of the q-th root of n >= 0 (integer Newton iteration)."""
    if n < 2:
        return n
    x = 1 << -(-n.bit_length() // q)
    while True:
        y = ((q - 1) * x + n // x ** (q - 1)) // q
        if y >= x:
            return x
        x = y


class _Evaluator:
    def __init__(self, source: str) -> None:
        self.source = source
        self.inexact = False

    def eval(self, node: ast.AST) -> Fraction:
        if isinstance(node, ast.Expression):
            return self.eval(node.body)
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
            value = self.eval(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp):
            return self._binop(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Name):
            raise _CalcError(f"unknown name {node.id!r}; allowed: {_ALLOWED_HINT}")
        if isinstance(node, ast.Tuple):
            raise _CalcError("unexpected comma; write one expression (no thousands separators)")
        raise _CalcError(f"{type(node).__name__} is not allowed; allowed: {_ALLOWED_HINT}")

    def _constant(self, node: ast.Constant) -> Fraction:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _CalcError(f"only numbers are allowed, not {value!r}")
        if isinstance(value, int):
            return _check(Fraction(value))
        literal = ast.get_source_segment(self.source, node) or ""
        exponent = _EXPONENT.search(literal)
        if exponent and abs(int(exponent.group(1))) > MAX_DIGITS:
            raise _CalcError(f"number too large or too small (more than {MAX_DIGITS} digits)")
        try:  # the literal as written is exact ("0.1000000000000000000001", "1e400")
            exact = Fraction(literal.replace("_", ""))
        except (ValueError, ZeroDivisionError):
            if not math.isfinite(value):
                raise _CalcError("number too large") from None
            exact = Fraction(str(value))
        return _check(exact)

    def _binop(self, node: ast.BinOp) -> Fraction:
        left = self.eval(node.left)
        right = self.eval(node.right)
        op = node.op
        if isinstance(op, ast.Pow):
            return self._power(left, right)
        if isinstance(op, ast.Add):
            return _check(left + right)
        if isinstance(op, ast.Sub):
            return _check(left - right)
        if isinstance(op, ast.Mult):
            return _check(left * right)
        if isinstance(op, ast.Div | ast.FloorDiv | ast.Mod) and right == 0:
            raise _CalcError("division by zero")
        if isinstance(op, ast.Div):
            return _check(left / right)
        if isinstance(op, ast.FloorDiv):
            return Fraction(left // right)
        if isinstance(op, ast.Mod):
            return _check(left % right)
        raise _CalcError(f"operator {type(op).__name__} is not allowed; allowed: {_ALLOWED_HINT}")

    def _power(self, base: Fraction, exponent: Fraction) -> Fraction:
        if abs(exponent) > MAX_EXPONENT:
            raise _CalcError(f"exponent too large (at most {MAX_EXPONENT} in absolute value)")
        p, q = exponent.numerator, exponent.denominator
        if base == 0 and p < 0:
            raise _CalcError("division by zero")
        if q == 1:
            size = max(base.numerator.bit_length(), base.denominator.bit_length())
            if abs(p) * (size - 1) >= _MAX_BITS:  # a lower bound of the result's bits
                raise _CalcError(f"result too large (more than {MAX_DIGITS} digits)")
            return _check(base**p)
        if base < 0:
            raise _CalcError("a negative number has no real fractional power")
        if q <= _MAX_ROOT:
            num = _integer_root(base.numerator, q)
            den = _integer_root(base.denominator, q)
            if num**q == base.numerator and den**q == base.denominator:
                return self._power(Fraction(num, den), Fraction(p))
        size = max(base.numerator.bit_length(), base.denominator.bit_length())
        if size * abs(exponent) > _MAX_BITS:
            raise _CalcError(f"result too large (more than {MAX_DIGITS} digits)")
        self.inexact = True
        with localcontext() as ctx:
            ctx.prec = _APPROX_DIGITS + 5
            value = (Decimal(base.numerator) / Decimal(base.denominator)) ** (
                Decimal(p) / Decimal(q)
            )
        return _check(Fraction(value))

    def _call(self, node: ast.Call) -> Fraction:
        func = node.func
        if not isinstance(func, ast.Name) or func.id not in _FUNCTIONS:
            shown = func.id if isinstance(func, ast.Name) else ast.unparse(func)
            raise _CalcError(f"function {shown!r} is not allowed; allowed: {_ALLOWED_HINT}")
        if node.keywords:
            raise _CalcError(f"{func.id}() takes no keyword arguments")
        args = [self.eval(arg) for arg in node.args]
        name = func.id
        if name in ("min", "max"):
            if not args:
                raise _CalcError(f"{name}() needs at least one number")
            return min(args) if name == "min" else max(args)
        if name == "round":
            if len(args) not in (1, 2):
                raise _CalcError("round() takes a number and optionally a number of digits")
            return self._round(*args)
        if len(args) != 1:
            raise _CalcError(f"{name}() takes exactly one number")
        (value,) = args
        if name == "abs":
            return abs(value)
        if name == "floor":
            return Fraction(math.floor(value))
        if name == "ceil":
            return Fraction(math.ceil(value))
        if value < 0:
            raise _CalcError("sqrt() of a negative number")
        return self._power(value, Fraction(1, 2))

    @staticmethod
    def _round(value: Fraction, digits: Fraction = Fraction(0)) -> Fraction:
        if digits.denominator != 1 or abs(digits) > 100:
            raise _CalcError("round() digits must be a whole number between -100 and 100")
        scale = Fraction(10) ** int(digits)
        scaled = abs(value) * scale
        rounded = math.floor(scaled + Fraction(1, 2))  # half away from zero, as people round
        return _check(Fraction(rounded if value >= 0 else -rounded) / scale)


def _int_text(n: int) -> str:
    return str(Decimal(n))  # no int->str digit limit (sys.get_int_max_str_digits)


def _decimal_text(value: Fraction, places: int = 10) -> str:
    """Approximate decimal: ``places`` decimals, or 10 significant digits for tiny numbers."""
    if value != 0 and abs(value) < Fraction(1, 10**4):
        with localcontext() as ctx:
            ctx.prec = 10
            return f"{Decimal(value.numerator) / Decimal(value.denominator):.9E}"
    sign = "-" if value < 0 else ""
    scaled = abs(value) * 10**places
    units = math.floor(scaled + Fraction(1, 2))
    whole, frac = divmod(units, 10**places)
    return f"{sign}{_int_text(whole)}.{frac:0{places}d}"


def _terminating_text(value: Fraction) -> str | None:
    """Return the exact decimal when the denominator is 2^a 5^b with at most 20 decimals."""
    den = value.denominator
    twos = (den & -den).bit_length() - 1
    rest = den >> twos
    fives = 0
    while rest % 5 == 0:
        rest //= 5
        fives += 1
    places = max(twos, fives)
    if rest != 1 or places > _APPROX_DIGITS:
        return None
    units = abs(value.numerator) * (10**places // den)
    whole, frac = divmod(units, 10**places)
    sign = "-" if value < 0 else ""
    return f"{sign}{_int_text(whole)}.{frac:0{places}d}"


def _format_value(value: Fraction, inexact: bool) -> str:
    if inexact:
        text = _decimal_text(value)
        if "." in text and "E" not in text:
            text = text.rstrip("0").rstrip(".")
        return f"≈ {text}"
    if value.denominator == 1:
        return _int_text(value.numerator)
    fraction = f"{_int_text(value.numerator)}/{_int_text(value.denominator)}"
    exact = _terminating_text(value)
    if exact is not None:
        return f"{fraction} = {exact}"
    return f"{fraction} ≈ {_decimal_text(value)}"


def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression exactly; errors come back as ``"Error: ..."`` text.

    Numbers are exact rationals (``0.1`` is 1/10). Allowed: ``+ - * / // % **``, unary
    signs, parentheses and ``abs, round, min, max, sqrt, floor, ceil``. Also accepted: ``×``,
    ``÷``, ``−``, ``^`` (power), ``√``, thousands separators (``1,234``, when the expression has
    no function call), ``15%`` before an operator or at the end (= 15/100), currency signs
    and a trailing ``=``. ``round`` rounds halves away from zero. Exponents are bounded by
    :data:`MAX_EXPONENT` and every number by :data:`MAX_DIGITS` digits.

    Args:
        expression: The expression, e.g. ``"(3 + 4) × 2^10 / 3"``.

    Returns:
        An integer (``"1024"``); a reduced fraction with its decimal (``"3/10 = 0.3"``,
        ``"7/3 ≈ 2.3333333333"``); ``"≈ <decimal>"`` when an irrational root was involved;
        or ``"Error: <why>"``.
    """
    if len(expression) > _MAX_INPUT_CHARS:
        return f"Error: expression too long (at most {_MAX_INPUT_CHARS} characters)"
    source = _normalize_expression(expression)
    if not source:
        return "Error: empty expression"
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        return f"Error: invalid expression ({exc.msg}); allowed: {_ALLOWED_HINT}"
    except (ValueError, MemoryError, RecursionError):
        return "Error: expression too large or too deeply nested"
    evaluator = _Evaluator(source)
    try:
        value = evaluator.eval(tree)
    except _CalcError as exc:
        return f"Error: {exc}"
    except ZeroDivisionError:
        return "Error: division by zero"
    except (RecursionError, MemoryError, OverflowError, ArithmeticError):
        return "Error: expression too large or too deeply nested"
    return _format_value(value, evaluator.inexact)


class _CalculatorInput(BaseModel):
    expression: str = Field(description="An arithmetic expression, e.g. '(1234 - 56) * 3 / 7'.")


def calculator_tool(*, name: str = "calculator") -> BaseTool:
    """Make an exact calculator tool (see :func:`calculate`); errors are its text output.

    Args:
        name: The tool's name.

    Returns:
        The tool (one argument, ``expression``).
    """

    async def acalculate(expression: str) -> str:
        return calculate(expression)  # bounded CPU work (exponent and digit limits)

    return StructuredTool.from_function(
        func=calculate,
        coroutine=acalculate,
        name=name,
        description=(
            "Exact arithmetic. Input: one expression with numbers, + - * / // % ** (or ^), "
            "parentheses and abs, round, min, max, sqrt, floor, ceil. Fractions stay exact "
            "(7/3 gives '7/3 ≈ 2.3333333333')."
        ),
        args_schema=_CalculatorInput,
        metadata={"gram_kind": "calculator"},
    )
