"""``fastevents.compat`` against the real ``events-protocol`` 0.2.4, snippet by snippet.

Each case is one snippet of 0.2.4-style code. It runs twice: in the old package's own venv
(tools/seedenv.py) with the old imports, and here with the imports pointed at
``fastevents.compat``; the observable results must be equal. ``DIFFERENCES`` are the cases
where fastevents differs on purpose (README.md, "Migrating from events-protocol 0.2.4"): the
test pins what each side does. All cases of one side run in one subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from .test_interop_seed import _seed_python

# The first use provisions the old package's venv (pip, from PyPI): minutes on a cold machine.
pytestmark = [pytest.mark.slow, pytest.mark.seed, pytest.mark.timeout(600)]

SEED_IMPORTS = """
from events_protocol.client.event_client import EventClient
from events_protocol.core.builder import EventBuilder
from events_protocol.core.context import EventContextHolder
from events_protocol.core.exception import EventException, EventNotFoundException
from events_protocol.core.model.base import CamelPydanticMixin
from events_protocol.core.model.event import Event, RequestEvent, ResponseEvent
from events_protocol.core.model.event_type import EventErrorType, EventSuccessType
from events_protocol.server.handler.event_handler import EventHandler
from events_protocol.server.handler.event_handler_registry import EventRegister
from events_protocol.server.parser.event_processor import EventProcessor

def error_fields(exc):  # which fields a schema error names
    return [field["name"] for field in exc.to_dict()["fields"]]
"""

COMPAT_IMPORTS = """
from fastevents.compat import (
    CamelPydanticMixin, Event, EventBuilder, EventClient, EventContextHolder, EventErrorType,
    EventException, EventHandler, EventNotFoundException, EventProcessor, EventRegister,
    EventSuccessType, RequestEvent, ResponseEvent,
)

def error_fields(exc):
    return [field["name"] for field in exc.parameters["fields"]]
"""

# Definitions every snippet may use; the same text on both sides.
COMMON = """
import asyncio, json, logging, os, typing
logging.disable(logging.CRITICAL)  # the old package logs every answer

URL = os.environ.get("ECHO_URL", "")
REQUEST = ('{"name": "get:thing", "version": 2, "id": "id-1", "flowId": "flow-1",'
           ' "payload": {"firstName": "Ada", "itemCount": 3, "inner": {"innerId": 7}},'
           ' "identity": {"user": {"id": "42", "type": "CUSTOMER"}}, "auth": {"token": "t"},'
           ' "metadata": {"origin": "web"}}')
req = RequestEvent.from_json(REQUEST)

class Inner(CamelPydanticMixin):
    inner_id: int

class Thing(CamelPydanticMixin):
    first_name: str
    item_count: int = 0
    inner: typing.Optional[Inner] = None

class Raising(EventHandler):
    @classmethod
    def handle(cls, event):
        raise EventNotFoundException("nothing here")

class Inspecting(EventHandler):
    @classmethod
    def handle(cls, event):
        return EventBuilder.response_for(event, {
            "to_json": type(event.to_json()).__name__, "user_id": event.user.user_id,
            "user_type": event.user_type, "user_user_type": event.user.user_type,
            "context": [EventContextHolder.get().id, EventContextHolder.get().event_name]})

class Redirecting(EventHandler):
    @classmethod
    def handle(cls, event):
        return EventBuilder.response_for(event, {"url": "https://x.test/"}, EventSuccessType.REDIRECT)

for name, handler in (("compat:raising", Raising), ("compat:inspecting", Inspecting),
                      ("compat:redirecting", Redirecting)):
    type("Register", (EventRegister,), {"event_name": name, "event_version": 1,
                                        "event_handler": handler}).register_event()

def process(name, identity=None):
    body = json.dumps({"name": name, "version": 1, "id": "p-id", "flowId": "p-flow", "payload": {},
                       "identity": identity or {}})
    answer = EventProcessor.process_event(body)
    fields = json.loads(answer)
    return [type(answer).__name__] + [fields[key] for key in ("name", "version", "id", "flowId", "payload")]

def response(r):
    return {"name": r.name, "id": r.id, "flow_id": r.flow_id, "payload": r.payload,
            "is_success": r.is_success, "is_redirect": r.is_redirect, "is_error": r.is_error,
            "event_type": str(r.event_type), "to_json": type(r.to_json()).__name__}
"""

# name -> snippet that sets ``result``; results must be equal on both sides.
SAME: dict[str, str] = {
    # response_for(..., event_type) and ResponseEvent.from_event(event, type)
    "response_for_default": "result = response(EventBuilder.response_for(req, {'a': 1}))",
    "response_for_positional_type": (
        "result = response(EventBuilder.response_for(req, {'url': 'u'}, EventSuccessType.REDIRECT))"
    ),
    "response_for_keyword_type": (
        "result = response(EventBuilder.response_for(req, {'a': 1}, event_type=EventSuccessType.REDIRECT))"
    ),
    "response_for_error_type": (
        "r = EventBuilder.response_for(req, {}, EventErrorType.FORBIDDEN)\nresult = [response(r), str(r.error_type)]"
    ),
    "response_for_in_a_handler": "result = process('compat:redirecting')",
    "from_event_default": "result = response(ResponseEvent.from_event(req))",
    "from_event_redirect": "result = response(ResponseEvent.from_event(req, EventSuccessType.REDIRECT))",
    "from_event_error": (
        "r = ResponseEvent.from_event(req, EventErrorType.BAD_REQUEST)\n"
        "result = [response(r), str(r.error_type), isinstance(r, ResponseEvent)]"
    ),
    # event.user_type and event.user.user_id
    "user_of_a_received_event": ("result = [req.user_type, req.user.user_id, req.user.user_type, req.user_id]"),
    "user_with_a_numeric_id_and_no_type": (
        "e = Event(name='a:b', version=1, identity={'user': {'id': 7}})\n"
        "result = [e.user_type, e.user.user_id, e.user.user_type, e.user_id]"
    ),
    "user_absent": (
        "e = Event(name='a:b', version=1)\nresult = [e.user_type, e.user.user_id, e.user.user_type, e.user_id]"
    ),
    "user_inside_a_handler": "result = process('compat:inspecting', {'user': {'id': 5, 'type': 'STAFF'}})",
    # the old with_context(id, flow_id, name, version) signature
    "with_context_old_signature": (
        "with EventContextHolder.with_context('c-id', 'c-flow', 'get:thing', 2) as ctx:\n"
        "    inside = EventContextHolder.get()\n"
        "    result = [[c.id, c.flow_id, c.event_name, c.event_version] for c in (ctx, inside)]\n"
        "result.append(EventContextHolder.get().id)"
    ),
    "with_context_old_signature_user": (
        "with EventContextHolder.with_context('c-id', 'c-flow', 'get:thing', 2, 'u-9', 'ADMIN') as ctx:\n"
        "    result = [ctx.user_id, ctx.user_type, EventContextHolder.get().user_type]"
    ),
    "with_async_context_old_signature": (
        "async def main():\n"
        "    async with EventContextHolder.with_async_context('a-id', 'a-flow', 'get:async', 3) as ctx:\n"
        "        c = EventContextHolder.get()\n"
        "        return [ctx.id, c.id, c.flow_id, c.event_name, c.event_version]\n"
        "result = asyncio.run(main())"
    ),
    # EventErrorType.is_in / get_type
    "error_type_is_in": (
        "result = [EventErrorType.is_in(x) for x in ('badRequest', 'error', 'unknown', 'expired', 'response',"
        " 'nope', '', None, 3, EventErrorType.FORBIDDEN, EventSuccessType.SUCCESS)]"
    ),
    "success_type_is_in": (
        "result = [EventSuccessType.is_in(x) for x in ('response', 'redirect', 'error', None,"
        " EventSuccessType.REDIRECT, EventErrorType.GENERIC)]"
    ),
    "error_type_get_type": (
        "result = [str(EventErrorType.get_type(x)) for x in ('badRequest', 'notFound', 'userDenied', 'error',"
        " 'nope', '', 'unknown', None, EventErrorType.EXPIRED)]"
    ),
    "success_type_get_type": (
        "result = [EventSuccessType.get_type(x) and str(EventSuccessType.get_type(x))"
        " for x in ('response', 'redirect', 'error', '', None, EventSuccessType.SUCCESS)]"
    ),
    "response_classification_uses_the_types": (
        "result = [[r.is_success, r.is_redirect, r.is_error, str(r.event_type)] for r in"
        " (ResponseEvent(name=n, version=1) for n in ('a:b:response', 'a:b:redirect', 'a:b:expired',"
        " 'a:b:whatever', 'a:b'))]"
    ),
    # schema .to_dict() / .from_json(), and building a schema from camelCase keys
    "schema_from_camel_keys": (
        "t = Thing(firstName='Ada', itemCount=2, inner={'innerId': 1})\n"
        "result = [t.first_name, t.item_count, type(t.inner).__name__, t.inner.inner_id, t.to_dict()]"
    ),
    "schema_from_snake_keys": (
        "t = Thing(first_name='Ada', item_count=2, inner=Inner(inner_id=1))\n"
        "result = [t.to_dict(), json.loads(t.to_json()), type(t.to_json()).__name__]"
    ),
    "schema_from_a_camel_dict": "result = Thing(**{'firstName': 'Ada', 'inner': None}).to_dict()",
    "schema_from_json": (
        't = Thing.from_json(\'{"firstName": "Bo", "itemCount": 3, "inner": {"innerId": 5}}\')\n'
        "result = [type(t).__name__, t.first_name, t.item_count, type(t.inner).__name__, t.to_dict()]"
    ),
    "schema_from_json_missing_field": (
        "try:\n"
        "    Thing.from_json('{\"itemCount\": 3}')\n"
        "    result = 'accepted'\n"
        "except Exception as exc:\n"
        "    result = ['raised', error_fields(exc)]"
    ),
    "schema_from_json_not_json": (
        "try:\n"
        "    Thing.from_json('{not json')\n"
        "    result = 'accepted'\n"
        "except Exception as exc:\n"
        "    result = ['raised', error_fields(exc)]"
    ),
    "schema_missing_field": (
        "try:\n    Thing(itemCount=3)\n    result = 'accepted'\nexcept Exception as exc:\n    result = 'raised'"
    ),
    "schema_from_object": "result = Thing.from_object(Thing(firstName='Cy')).to_dict()",
    "payload_as_schema": "p = req.payload_as(Thing)\nresult = [type(p).__name__, p.to_dict()]",
    # EventNotFoundException("msg")
    "event_not_found_exception": (
        "e = EventNotFoundException('no such thing')\n"
        "result = [e.code, e.parameters, str(e.event_error_type), isinstance(e, EventException)]"
    ),
    "event_not_found_exception_in_a_handler": "result = process('compat:raising')",
    # to_json() returning str
    "event_to_json": (
        "result = [type(req.to_json()).__name__, json.loads(req.to_json()),"
        " type(Event(name='a:b', version=1, id='i', flow_id='f').to_json()).__name__]"
    ),
    "event_to_dict": "result = req.to_dict()",
    # positional id/flow_id in send_event, answered by fastevents serve's echo handler
    "send_event_positional_ids": (
        "r = EventClient(URL).send_event('echo:payload', 1, {'a': [1, 2]}, 'my-id', 'my-flow')\nresult = response(r)"
    ),
    "send_event_positional_everything": (
        "r = EventClient(URL).send_event('echo:payload', 1, {'b': 1}, 'id-2', 'flow-2', {'userId': 'U'},"
        " {'token': 'x'}, {'origin': 'o'}, 5000)\n"
        "result = [response(r), r.auth]"
    ),
}

# name -> (snippet, what 0.2.4 gives, what fastevents.compat gives): the README's list.
DIFFERENCES: dict[str, tuple[str, Any, Any]] = {
    "from_event_does_not_echo_auth_identity_metadata": (
        "r = ResponseEvent.from_event(req)\nresult = [r.auth, r.identity, r.metadata]",
        [{"token": "t"}, {"user": {"id": "42", "type": "CUSTOMER"}}, {"origin": "web"}],
        [{}, {}, {}],
    ),
    "answers_do_not_echo_identity": (
        "a = json.loads(EventProcessor.process_event(json.dumps({'name': 'compat:inspecting', 'version': 1,"
        " 'identity': {'user': {'id': 5}}, 'metadata': {'origin': 'o'}})))\n"
        "result = [a['identity'], a['metadata']]",
        [{"user": {"id": 5}}, {"origin": "o"}],
        [{}, {}],
    ),
    "newer_error_types_are_known": (
        "result = [str(EventErrorType.get_type(x)) for x in ('unprocessable', 'gone', 'eventNotFound')]",
        ["unknown", "unknown", "unknown"],
        ["unprocessable", "gone", "eventNotFound"],
    ),
    "non_numeric_user_ids_are_read": (
        "e = Event(name='a:b', version=1, identity={'user': {'id': 'u-1'}})\n"
        "try:\n"
        "    result = e.user.user_id\n"
        "except ValueError:\n"
        "    result = 'ValueError'",
        "ValueError",
        "u-1",
    ),
    "nested_contexts_restore_the_outer_one": (
        "with EventContextHolder.with_context('outer', 'f', 'a:b', 1):\n"
        "    with EventContextHolder.with_context('inner', 'f', 'a:b', 1):\n"
        "        pass\n"
        "    result = EventContextHolder.get().id",
        None,
        "outer",
    ),
    "error_type_of_a_success_is_none": (
        "try:\n"
        "    result = ResponseEvent(name='a:b:response', version=1).error_type\n"
        "except ValueError:\n"
        "    result = 'ValueError'",
        "ValueError",
        None,
    ),
    "schemas_do_not_coerce_numbers_to_text": (
        "try:\n"
        "    result = Thing(firstName=1).first_name\n"
        "except Exception as exc:\n"
        "    result = ['raised', error_fields(exc)]",
        "1",
        ["raised", ["firstName"]],
    ),
    "context_user_ids_are_read_like_event_user_ids": (
        "with EventContextHolder.with_context('i', 'f', 'a:b', 1, 42) as ctx:\n    result = ctx.user_id",
        "42",
        42,
    ),
}

RUNNER = r"""
import json, sys, traceback
imports, common, cases, out = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
namespace = {}
exec(imports + common, namespace)

def plain(value):
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return "<%s %s>" % (type(value).__name__, value)

results = {}
for name, code in cases.items():
    scope = dict(namespace)
    try:
        exec(code, scope)
        results[name] = plain(scope["result"])
    except Exception as exc:
        results[name] = {"unexpected": type(exc).__name__, "trace": traceback.format_exc()}
with open(out, "w") as f:
    json.dump(results, f)
"""


def _run(python: str, imports: str, url: str, out: Path) -> dict[str, Any]:
    cases = {**SAME, **{name: case[0] for name, case in DIFFERENCES.items()}}
    cases = {name: textwrap.dedent(code) for name, code in cases.items()}
    result = subprocess.run(
        [python, "-c", RUNNER, imports, COMMON, json.dumps(cases), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "ECHO_URL": url},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def results(server: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every case's result: ``{"seed": {...}, "compat": {...}}``, one subprocess per side."""
    tmp = tmp_path_factory.mktemp("compat_seed")
    return {
        "seed": _run(_seed_python(), SEED_IMPORTS, server.url, tmp / "seed.json"),
        "compat": _run(sys.executable, COMPAT_IMPORTS, server.url, tmp / "compat.json"),
    }


@pytest.mark.parametrize("case", sorted(SAME))
def test_compat_does_what_0_2_4_does(results: dict[str, dict[str, Any]], case: str) -> None:
    seed, compat = results["seed"][case], results["compat"][case]
    assert not (isinstance(seed, dict) and "unexpected" in seed), seed
    assert compat == seed


@pytest.mark.parametrize("case", sorted(DIFFERENCES))
def test_compat_differs_from_0_2_4_only_where_documented(results: dict[str, dict[str, Any]], case: str) -> None:
    _, seed_expected, compat_expected = DIFFERENCES[case]
    assert results["seed"][case] == seed_expected
    assert results["compat"][case] == compat_expected
