"""pivotrl-calculator: the example third-party domain plugin built in docs/plugins/tutorial.md.

The agent answers arithmetic questions by calling a ``calculate`` tool. A sampled call is
functionally right when its expression has the same value as the demonstrated one
(``2*(3+4)`` and ``14`` are interchangeable), which exact string matching would miss.
"""

from __future__ import annotations

import ast
import math
import operator
import re

from pivotrl_core import Candidate, Domain, Message, Verdict, hookimpl

OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.USub: operator.neg,
}
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def evaluate(expr: str) -> float:
    """The value of an arithmetic expression (numbers, + - * /, parentheses); else ValueError."""

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in OPS:
            return OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in OPS:
            return OPS[type(node.op)](ev(node.operand))
        raise ValueError(f"not arithmetic: {ast.unparse(node)}")

    return ev(ast.parse(expr, mode="eval").body)


def expression(message: Message) -> str | None:
    """The expression of the message's single ``calculate`` call, if it has exactly one."""
    calls = [tc for tc in message.tool_calls if tc.name == "calculate"]
    expr = (calls[0].arguments or {}).get("expression") if len(calls) == 1 else None
    return expr if isinstance(expr, str) else None


def same_value(candidate: Candidate, action: Message) -> Verdict:
    """Pass when the action's calculate call has the same value as the demonstration's.

    When the demonstration answers the user, the action must answer too, with the same number.
    """
    want, got = expression(candidate.expected), expression(action)
    if want is None:
        number = NUMBER.findall(candidate.expected.content or "")[-1:]
        same = not action.tool_calls and bool(number) and number[0] in NUMBER.findall(action.content or "")
        return Verdict.ok("same answer") if same else Verdict.fail("answer lacks the number")
    if got is None:
        return Verdict.fail("no calculate call with an expression")
    try:
        same = math.isclose(evaluate(got), evaluate(want), rel_tol=1e-9)
    except (ValueError, SyntaxError, ZeroDivisionError) as e:
        return Verdict.fail(f"cannot evaluate {got!r}: {e}")
    return Verdict.ok("same value") if same else Verdict.fail(f"{got} != {want}")


@hookimpl
def pivotrl_register_verifiers(register):
    register(same_value, name="calculator_value", deterministic=True)


@hookimpl
def pivotrl_register_domains(register):
    register(
        Domain(name="calculator", description="Arithmetic with a calculate tool", verifier="calculator_value")
    )
