"""``json_schema``: validate an action against a JSON Schema (``jsonschema``).

Two targets:

- ``arguments`` (default): each tool call's arguments are validated against the schema of that
  tool in the candidate's tool list (OpenAI chat ``{"type": "function", "function": {...}}``,
  Responses ``{"type": "function", "name", "parameters"}`` and ``input_schema`` forms are read),
  or against the ``schema`` option when it is given. A call to a tool that is not in the list fails.
  An action without tool calls passes only when the demonstration has none either.
- ``content``: the message text (after ``</think>`` and outer whitespace are dropped) must parse
  as JSON and match the ``schema`` option (e.g. an agent's JSON command format).

A failure's reason names the JSON path that failed (``$.items[0].city``) and the rule it broke.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
from jsonschema.exceptions import SchemaError, best_match
from jsonschema.protocols import Validator

from ..errors import ConfigError
from ..types import Candidate, Message, ToolCall, Verdict
from ._options import choice, resolve_options
from ._text import DemoCache
from .base import Verifier

__all__ = ["JsonSchemaVerifier", "tool_schemas"]


def tool_schemas(tools: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``{tool name: parameters schema}`` from a tool list in any of the common shapes."""
    out: dict[str, Any] = {}
    for tool in tools:
        if not isinstance(tool, Mapping):
            continue
        spec = tool.get("function") if isinstance(tool.get("function"), Mapping) else tool
        name = spec.get("name")
        if isinstance(name, str):
            schema = spec.get("parameters", spec.get("input_schema"))
            out[name] = schema if isinstance(schema, Mapping) else {"type": "object"}
    return out


def _load_schema(value: Any) -> dict[str, Any] | None:
    if value is None or isinstance(value, Mapping):
        return dict(value) if value is not None else None
    path = Path(str(value))
    if not path.is_file():
        raise ConfigError(
            f"verifier 'json_schema': schema must be an object or a JSON file path; {path} does not exist"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ConfigError(
            f"verifier 'json_schema': {path} is not valid JSON ({e.msg}, line {e.lineno})"
        ) from None


class JsonSchemaVerifier(Verifier):
    """Validate tool-call arguments (or the JSON message text) against a JSON Schema.

    Options: ``schema`` (an object or a path to a ``.json`` file; default: the tool's own schema),
    ``target`` (``arguments`` | ``content``), ``formats`` (check ``format`` keywords, default false).
    """

    name: ClassVar[str] = "json_schema"
    deterministic: ClassVar[bool] = True
    thread_safe: ClassVar[bool] = True
    cost: ClassVar = "cheap"
    cascade_role: ClassVar[str] = "gate"
    DEFAULTS: ClassVar[dict[str, Any]] = {"schema": None, "target": "arguments", "formats": False}

    def __init__(self, **options: Any) -> None:
        o = resolve_options(self.name, options, self.DEFAULTS)
        self.target = choice(self.name, "target", o["target"], ("arguments", "content"))
        self.formats = bool(o["formats"])
        self.schema = _load_schema(o["schema"])
        if self.target == "content" and self.schema is None:
            raise ConfigError("verifier 'json_schema' with target='content' needs a 'schema' option")
        self._validators: dict[str, Validator] = {}
        self._by_identity = DemoCache(1024)  # the same schema object: no re-serialising
        self._tools = DemoCache()  # a candidate's tool list -> {name: schema}
        self._lock = threading.Lock()
        if self.schema is not None:
            try:
                self._validator(self.schema)
            except SchemaError as e:
                raise ConfigError(
                    f"verifier 'json_schema': the configured schema is invalid: {e.message}"
                ) from None

    def _validator(self, schema: Mapping[str, Any]) -> Validator:
        return self._by_identity.get(schema, self._validator_by_content)

    def _validator_by_content(self, schema: Mapping[str, Any]) -> Validator:
        key = json.dumps(schema, sort_keys=True)
        with self._lock:
            hit = self._validators.get(key)
        if hit is not None:
            return hit
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)  # SchemaError: a broken tool schema -> errored verdict
        validator = cls(schema, format_checker=cls.FORMAT_CHECKER if self.formats else None)
        with self._lock:
            if len(self._validators) > 1024:
                self._validators.clear()
            self._validators[key] = validator
        return validator

    def _check(self, schema: Mapping[str, Any], instance: Any, what: str) -> Verdict | None:
        validator = self._validator(schema)
        if validator.is_valid(instance):
            return None
        error = best_match(validator.iter_errors(instance))
        if error is None:
            return None
        return Verdict.fail(
            f"{what} fail the schema at {error.json_path}: {error.message}",
            path=error.json_path,
            schema_path="/".join(str(p) for p in error.schema_path),
        )

    def verify(self, candidate: Candidate, action: Message) -> Verdict:
        if self.target == "content":
            return self._verify_content(action)
        if not action.tool_calls:
            if candidate.expected.tool_calls:
                return Verdict.fail("no tool call where the demonstration calls a tool")
            if not (action.content or "").strip():
                return Verdict.fail("empty action")
            return Verdict.ok("no tool call to validate (the demonstration has none either)")
        schemas = self._tools.get(candidate.tools, tool_schemas)
        for call in action.tool_calls:
            bad = self._verify_call(call, schemas)
            if bad is not None:
                return bad
        return Verdict.ok(f"{len(action.tool_calls)} tool call(s) match their schemas")

    def _verify_call(self, call: ToolCall, schemas: Mapping[str, Any]) -> Verdict | None:
        schema = self.schema
        if schema is None:
            if call.name not in schemas:
                return Verdict.fail(f"tool '{call.name}' is not in the candidate's tool list", tool=call.name)
            schema = schemas[call.name]
        if call.arguments is None:
            return Verdict.fail(f"arguments of '{call.name}' are not a JSON object", tool=call.name)
        return self._check(schema, call.arguments, f"arguments of '{call.name}'")

    def _verify_content(self, action: Message) -> Verdict:
        text = (action.content or "").rsplit("</think>", 1)[-1].strip()
        if not text:
            return Verdict.fail("empty action")
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            return Verdict.fail(
                f"the message is not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
            )
        assert self.schema is not None
        return self._check(self.schema, value, "the message's JSON") or Verdict.ok(
            "the message matches the schema"
        )
