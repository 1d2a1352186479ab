"""``fastevents codegen``: a typed Python client from a router or a served catalogue.

The generated module is imported and used over HTTP against ``fastevents serve``, and
checked with ``mypy --strict`` and ``ruff check`` as a user's project would check it.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import enum
import importlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Literal, NamedTuple

import msgspec
import pytest

import fastevents
from fastevents import Event, EventBuilder, EventErrorType, EventException, EventRouter, _cli
from fastevents._codegen import python_client, typescript_client
from fastevents.testing import MockEvents

from . import schema_router
from .helpers_http import serve_fastevents
from .test_catalogue import build_router as build_catalogue_router


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Point(NamedTuple):
    x: int
    y: int


class Cat(msgspec.Struct, tag=True):
    lives: int


class Dog(msgspec.Struct, tag=True):
    good: bool = True


class Odd(msgspec.Struct, rename="camel"):
    """Awkward names and types: \"\"\" quotes, a backslash \\ and ünïcödé."""

    class_: str = msgspec.field(name="class")
    type: str
    str_value: str = msgspec.field(name="str")
    two_fa: bool = msgspec.field(name="2fa")
    level: Level
    point: Point
    pet: Cat | Dog
    counts: dict[str, int]
    pair: tuple[int, str]
    blob: bytes
    price: decimal.Decimal
    when: datetime.date
    ref: uuid.UUID
    mode: Literal["a", "b"] = "a"
    ratio: float = 1
    note: str | None = None
    level_default: Level = Level.HIGH
    since: datetime.date = datetime.date(2020, 1, 2)  # a default the client cannot write: left unset


class Empty(msgspec.Struct):
    pass


class UsersClient(msgspec.Struct):
    """A schema named like a generated class."""

    name: str


def build_edge_router() -> EventRouter:
    router = EventRouter()

    @router.event("odd:thing", 1)
    def odd(event: Event, payload: Odd) -> Odd:
        return payload

    @router.event("odd.thing", 1)  # the same method name once made snake_case
    def odd_too(event: Event, payload: UsersClient) -> list[Point]:
        return []

    @router.event("empty", 1)
    def empty(event: Event, payload: Empty) -> Empty:
        return payload

    @router.event("3d:print", 1)
    def print_3d(event: Event, payload: dict[str, float]) -> dict[str, list[int]] | None:
        return None

    return router


ROUTERS = {"users": schema_router.router, "catalogue": build_catalogue_router(), "edge": build_edge_router()}


def generate(name: str) -> str:
    return python_client(ROUTERS[name].catalogue(), name=name, header=["made by a test"])


def load(directory: Path, module: str) -> Any:
    sys.path.insert(0, str(directory))
    try:
        return importlib.import_module(module)
    finally:
        sys.path.remove(str(directory))


@pytest.fixture
def module_dir(tmp_path: Path) -> Any:
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith("gen_")]:
        del sys.modules[name]


@pytest.mark.parametrize("name", sorted(ROUTERS))
def test_output_is_the_same_bytes_for_the_same_input(name: str) -> None:
    assert generate(name) == generate(name)
    assert generate(name).startswith("# made by a test\n")


@pytest.mark.parametrize("name", sorted(ROUTERS))
def test_generated_module_imports_and_names_classes_after_the_schemas(name: str, module_dir: Path) -> None:
    (module_dir / f"gen_{name}.py").write_text(generate(name), encoding="utf-8")
    module = load(module_dir, f"gen_{name}")
    prefix = name.capitalize()
    for suffix in ("Client", "Error", "Redirect"):
        assert hasattr(module, prefix + suffix)
    assert hasattr(module, f"Async{prefix}Client")
    for schema in ROUTERS[name].catalogue()["components"]["schemas"]:
        assert schema in module.__all__


def test_generated_types_encode_as_the_server_decodes(module_dir: Path) -> None:
    (module_dir / "gen_edge.py").write_text(generate("edge"), encoding="utf-8")
    gen = load(module_dir, "gen_edge")
    value = gen.Odd(
        class_="c",
        type_="t",
        str_="s",
        n_2fa=True,
        level=gen.Level.VALUE_1,
        point=(1, 2),
        pet=gen.Cat(lives=9),
        counts={"a": 1},
        pair=(1, "x"),
        blob=b"\x00\xff",
        price=decimal.Decimal("1.50"),
        when=datetime.date(2026, 1, 2),
        ref=uuid.UUID(int=5),
    )
    assert value.mode == "a" and value.ratio == 1.0 and value.note is None
    assert value.level_default is gen.Level.VALUE_2
    assert value.since is msgspec.UNSET
    wire = msgspec.json.encode(value)
    decoded = msgspec.json.decode(wire, type=Odd)  # the server's own type
    assert decoded.class_ == "c" and decoded.two_fa is True and decoded.pet == Cat(lives=9)
    assert decoded.level is Level.LOW and decoded.price == decimal.Decimal("1.50")
    assert decoded.since == datetime.date(2020, 1, 2)  # not sent: the server's default
    again = msgspec.json.decode(msgspec.json.encode(decoded), type=gen.Odd)
    assert msgspec.structs.replace(again, since=msgspec.UNSET) == value
    assert again.since == datetime.date(2020, 1, 2)
    assert msgspec.json.decode(msgspec.json.encode(gen.Empty()), type=Empty) == Empty()


def test_a_schema_named_like_a_generated_class_is_renamed(module_dir: Path) -> None:
    text = python_client(build_edge_router().catalogue(), name="users", header=["x"])
    (module_dir / "gen_clash.py").write_text(text, encoding="utf-8")
    gen = load(module_dir, "gen_clash")
    assert gen.UsersClient_2(name="x").name == "x"
    assert callable(gen.UsersClient.odd_thing_v1_2)
    assert "UsersClient_2" in gen.__all__


@pytest.mark.parametrize(
    ("default", "expected"),
    [(1, "Level.VALUE_1"), (0, "Level.VALUE_0"), (True, None), (False, None), (1.0, None), ("1", None)],
)
def test_an_enum_default_is_a_member_only_of_the_same_json_type(default: Any, expected: str | None) -> None:
    from fastevents._codegen import _Writer

    writer = _Writer({"events": [], "components": {"schemas": {"Level": {"enum": [0, 1, 2]}}}}, "T")
    assert writer.default_of({"$ref": "#/components/schemas/Level"}, default) == expected


def test_methods_are_named_after_the_event_and_version_each_once(module_dir: Path) -> None:
    (module_dir / "gen_edge.py").write_text(generate("edge"), encoding="utf-8")
    gen = load(module_dir, "gen_edge")
    names = [n for n in vars(gen.EdgeClient) if not n.startswith("_")]
    assert names == ["close", "odd_thing_v1", "odd_thing_v1_2", "empty_v1", "n_3d_print_v1"]


def _run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_generated_modules_pass_mypy_strict_and_ruff(tmp_path: Path) -> None:
    files = []
    for name in sorted(ROUTERS):
        path = tmp_path / f"gen_{name}.py"
        path.write_text(generate(name), encoding="utf-8")
        files.append(path.name)
    (tmp_path / "use.py").write_text(
        "import asyncio\n"
        "from gen_users import AsyncUsersClient, GetUser, Role, User, UsersClient, UsersError\n\n\n"
        "def read(client: UsersClient) -> Role:\n"
        "    user: User = client.get_user_v1(GetUser(user_id=1), flow_id='f', timeout=2.0)\n"
        "    return user.role\n\n\n"
        "async def read_async(client: AsyncUsersClient) -> list[str]:\n"
        "    try:\n"
        "        return (await client.get_user_v1(GetUser(user_id=1))).tags\n"
        "    except UsersError as exc:\n"
        "        return [exc.code, str(exc.type)]\n",
        encoding="utf-8",
    )
    checked = _run("mypy", "--strict", "--no-incremental", *files, "use.py", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    linted = _run("ruff", "check", "--isolated", "--no-cache", *files, cwd=tmp_path)
    assert linted.returncode == 0, linted.stdout + linted.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "misuse",
    [
        "client.get_user_v1(CreateUser(display_name='x'))",  # another event's payload
        "len(client.get_user_v1(GetUser(user_id=1)).display_name + 1)",  # str + int
        "client.get_user_v1(GetUser(user_id=1), flowid='f')",  # no such option
        "client.server_ping_v1(GetUser(user_id=1))",  # takes no payload
    ],
)
def test_mypy_rejects_misuse_of_the_generated_client(tmp_path: Path, misuse: str) -> None:
    (tmp_path / "gen_users.py").write_text(generate("users"), encoding="utf-8")
    (tmp_path / "use.py").write_text(
        "from gen_users import CreateUser, GetUser, UsersClient\n\n\n"
        f"def use(client: UsersClient) -> None:\n    {misuse}\n",
        encoding="utf-8",
    )
    checked = _run("mypy", "--strict", "--no-incremental", "gen_users.py", "use.py", cwd=tmp_path)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "use.py:5: error" in checked.stdout


# --- the command, end to end over HTTP ------------------------------------------------------


def test_codegen_command_writes_the_module_with_a_header(tmp_path: Path) -> None:
    out = tmp_path / "users_client.py"
    assert _cli.main(["codegen", "tests.schema_router:router", "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.splitlines()[:2] == [
        f"# Generated by fastevents {fastevents.__version__} from tests.schema_router:router: do not edit.",
        "# Made with: fastevents codegen tests.schema_router:router -o users_client.py",
    ]
    assert "class UsersClient:" in text and "class AsyncUsersClient:" in text
    assert _cli.main(["codegen", "tests.schema_router:router", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == text


def test_codegen_command_prints_to_stdout_and_takes_a_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli.main(["codegen", "tests.schema_router:router", "--name", "people service"]) == 0
    out = capsys.readouterr().out
    assert "class PeopleServiceClient:" in out and "class PeopleServiceError(Exception):" in out


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("tests.schema_router:nothing", "has no attribute"),
        ("http://127.0.0.1:1/events", "cannot read the catalogue at http://127.0.0.1:1/events/catalogue"),
        ("ftp://127.0.0.1/events", "invalid URL"),
    ],
)
def test_codegen_command_reports_a_bad_source_in_one_line(
    source: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _cli.main(["codegen", source, "--timeout", "2"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("fastevents: ") and message in err and err.count("\n") == 1


@pytest.mark.slow
def test_generated_client_answers_over_http_from_a_served_catalogue(module_dir: Path) -> None:
    with serve_fastevents("--catalogue", target="tests.schema_router:router") as server:
        out = module_dir / "gen_http_client.py"
        assert _cli.main(["codegen", server.url, "-o", str(out), "--name", "users"]) == 0
        text = out.read_text(encoding="utf-8")
        assert text.startswith(
            f"# Generated by fastevents {fastevents.__version__} from the catalogue at {server.url}: do not edit.\n"
        )
        assert text.split("\n", 2)[2] == generate("users").split("\n", 1)[1]  # the same module as from the router
        gen = load(module_dir, "gen_http_client")

        with gen.UsersClient(server.url, timeout=10) as client:
            user = client.get_user_v1(gen.GetUser(user_id=1), flow_id="flow-1")
            assert isinstance(user, gen.User)
            assert (user.user_id, user.role, user.tags) == (1, gen.Role.ADMIN, ["a", "b"])
            assert user.address == gen.Address(street="Main street 1")
            created = client.create_user_v2(gen.CreateUser(display_name="abc", role=gen.Role.ADMIN))
            assert created == gen.Created(user_id=3, ok=True)
            assert client.sum_numbers_v1([1.0, 2.5]) == gen.Total(count=2, total=3.5)
            assert client.echo_any_v1({"a": [1, None]}) == {"a": [1, None]}
            assert client.echo_raw_v1([1, "x"]) == [1, "x"]
            assert client.server_ping_v1() == "pong"
            with pytest.raises(gen.UsersError) as not_found:
                client.get_user_v1(gen.GetUser(user_id=0))
            error = not_found.value
            assert (error.code, error.parameters, error.type) == (
                "USER_NOT_FOUND",
                {"userId": 0},
                EventErrorType.NOT_FOUND,
            )
            assert error.response.name == "get:user:notFound"
            with pytest.raises(gen.UsersError) as failed:
                client.always_fails_v1(gen.GetUser(user_id=1))
            assert (failed.value.code, failed.value.type) == ("UNHANDLED_ERROR", EventErrorType.GENERIC)

        async def use_async() -> tuple[Any, Any]:
            async with gen.AsyncUsersClient(server.url, timeout=10) as client:
                user = await client.get_user_v1(gen.GetUser(user_id=2))
                with pytest.raises(gen.UsersError) as bad:
                    await client.create_user_v2(msgspec.json.decode(b'{"displayName": 5}'))
                return user, bad.value

        user, bad = asyncio.run(use_async())
        assert (user.user_id, user.role) == (2, gen.Role.MEMBER)
        assert (bad.code, bad.type) == ("MISSING_FIELDS", EventErrorType.BAD_REQUEST)


@pytest.mark.slow
def test_codegen_from_a_server_without_its_catalogue_says_how_to_serve_it(capsys: pytest.CaptureFixture[str]) -> None:
    with serve_fastevents(target="tests.schema_router:router") as server, pytest.raises(SystemExit):
        _cli.main(["codegen", server.url])
    assert "HTTP 404 (is the server run with --catalogue?)" in capsys.readouterr().err


def test_generated_client_is_answered_by_mock_events(module_dir: Path) -> None:
    (module_dir / "gen_mocked.py").write_text(generate("users"), encoding="utf-8")
    gen = load(module_dir, "gen_mocked")
    with MockEvents() as mock:
        mock.add("get:user", 1, {"userId": 5, "displayName": "x", "role": "member", "tags": []})
        mock.add("server:ping", 1, EventException("DOWN", {"for": 3}, type=EventErrorType.GONE))
        mock.add("create:user", 2, lambda event: EventBuilder.redirect_for(event, "https://example.com/u", {"a": "1"}))
        with gen.UsersClient("http://127.0.0.1:9/events") as client:
            user = client.get_user_v1(gen.GetUser(user_id=5), flow_id="f-1")
            assert user == gen.User(user_id=5, display_name="x", role=gen.Role.MEMBER, tags=[])
            with pytest.raises(gen.UsersError) as gone:
                client.server_ping_v1()
            with pytest.raises(gen.UsersRedirect) as moved:
                client.create_user_v2(gen.CreateUser(display_name="d"))
    assert (gone.value.code, gone.value.parameters, gone.value.type) == ("DOWN", {"for": 3}, EventErrorType.GONE)
    assert (moved.value.url, moved.value.query_parameters) == ("https://example.com/u", {"a": "1"})
    sent = mock.calls_for("get:user")[0]
    assert (sent.payload, sent.event.flow_id) == ({"userId": 5}, "f-1")
    assert msgspec.json.decode(msgspec.json.encode(mock.calls_for("create:user")[0].payload)) == {
        "displayName": "d",
        "role": "member",
        "tags": [],
        "address": None,
        "ref": None,
        "kind": "person",
    }


# --- TypeScript (--lang typescript) ----------------------------------------------------------


def _tsc() -> str:
    """The TypeScript compiler: $TSC, else tsc on PATH (CI: ``npm install typescript``)."""
    found = os.environ.get("TSC") or shutil.which("tsc")
    if not found or not shutil.which("node"):
        pytest.skip("needs node and tsc (npm install typescript; TSC=path/to/tsc)")
    return found


TS_FLAGS = ["--strict", "--target", "es2022", "--lib", "es2022,dom", "--module", "commonjs"]

TS_MAIN = """\
import { UsersClient, UsersError, UsersRedirect } from "./users";

const url = (globalThis as unknown as { process: { argv: string[] } }).process.argv[2];

async function main(): Promise<void> {
  const client = new UsersClient(url);
  const user = await client.getUserV1({ userId: 1 }, { flowId: "ts-flow" });
  const role: "admin" | "member" = user.role;
  const created = await client.createUserV2({ displayName: "abcd", tags: ["x"] });
  const total = await client.sumNumbersV1([1, 2.5]);
  const ping: string = await client.serverPingV1();
  let error: unknown = null;
  try {
    await client.getUserV1({ userId: 0 });
  } catch (caught) {
    if (caught instanceof UsersError) {
      error = { code: caught.code, type: caught.type, parameters: caught.parameters, name: caught.response.name };
    }
  }
  console.log(JSON.stringify({ user, role, created, total, ping, error, redirect: UsersRedirect.name }));
}

main().catch((caught: unknown) => {
  console.error(caught);
  throw caught;
});
"""


@pytest.mark.parametrize("name", sorted(ROUTERS))
def test_typescript_output_is_the_same_bytes_for_the_same_input(name: str) -> None:
    first = typescript_client(ROUTERS[name].catalogue(), name=name, header=["made by a test"])
    assert first == typescript_client(ROUTERS[name].catalogue(), name=name, header=["made by a test"])
    assert first.startswith("// made by a test\n")


@pytest.mark.slow
def test_typescript_modules_compile_with_tsc_strict(tmp_path: Path) -> None:
    tsc = _tsc()
    files = []
    for name in sorted(ROUTERS):
        (tmp_path / f"{name}.ts").write_text(
            typescript_client(ROUTERS[name].catalogue(), name=name, header=["x"]), encoding="utf-8"
        )
        files.append(f"{name}.ts")
    checked = subprocess.run(
        [tsc, *TS_FLAGS, "--noEmit", *files], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.slow
def test_tsc_rejects_a_payload_of_the_wrong_type(tmp_path: Path) -> None:
    tsc = _tsc()
    (tmp_path / "users.ts").write_text(generate_ts(), encoding="utf-8")
    (tmp_path / "main.ts").write_text(
        'import { UsersClient } from "./users";\nvoid new UsersClient("u").getUserV1({ userId: "one" });\n',
        encoding="utf-8",
    )
    checked = subprocess.run(
        [tsc, *TS_FLAGS, "--noEmit", "main.ts"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert checked.returncode != 0 and "main.ts(2," in checked.stdout, checked.stdout


def generate_ts() -> str:
    return typescript_client(schema_router.router.catalogue(), name="users", header=["x"])


@pytest.mark.slow
def test_typescript_client_answers_over_http(tmp_path: Path) -> None:
    tsc = _tsc()
    with serve_fastevents("--catalogue", target="tests.schema_router:router") as server:
        out = tmp_path / "users.ts"
        assert _cli.main(["codegen", server.url, "--lang", "typescript", "-o", str(out)]) == 0
        assert out.read_text(encoding="utf-8").split("\n", 2)[2] == generate_ts().split("\n", 1)[1]
        (tmp_path / "main.ts").write_text(TS_MAIN, encoding="utf-8")
        built = subprocess.run(
            [tsc, *TS_FLAGS, "--outDir", "out", "users.ts", "main.ts"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert built.returncode == 0, built.stdout + built.stderr
        ran = subprocess.run(
            ["node", "out/main.js", server.url], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    result = json.loads(ran.stdout)
    assert result["user"]["userId"] == 1 and result["role"] == "admin" and result["user"]["tags"] == ["a", "b"]
    assert result["created"] == {"userId": 4, "ok": True}
    assert result["total"] == {"count": 2, "total": 3.5}
    assert result["ping"] == "pong"
    assert result["error"] == {
        "code": "USER_NOT_FOUND",
        "type": "notFound",
        "parameters": {"userId": 0},
        "name": "get:user:notFound",
    }
