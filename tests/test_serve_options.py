"""``fastevents serve``'s limit options come from :class:`fastevents._limits.Limits`, one per
field, with the field's help, unit and default: a limit is declared once."""

from __future__ import annotations

import dataclasses

import pytest

from fastevents import _cli
from fastevents._limits import Limits

FIELDS = dataclasses.fields(Limits)


def _serve_parser() -> object:
    parser = _cli._parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    return commands.choices["serve"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.name)
def test_every_limit_is_a_serve_option_with_its_help_unit_and_default(field: dataclasses.Field[object]) -> None:
    serve = _serve_parser()
    action = next(a for a in serve._actions if a.dest == field.name)  # type: ignore[attr-defined]
    assert action.option_strings == ["--" + field.name.replace("_", "-")]
    assert action.default == field.default
    assert action.metavar == {"bytes": "BYTES", "count": "N", "seconds": "S"}[field.metadata["unit"]]
    assert action.help.startswith(field.metadata["help"] + " (default ")


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f.name)
def test_a_limit_option_reaches_its_field(field: dataclasses.Field[object]) -> None:
    value = "7_000" if field.metadata["unit"] != "seconds" else "0.25"  # whole numbers as Python writes them
    args = _cli._parser().parse_args(["serve", "m:r", "--" + field.name.replace("_", "-"), value])
    limits = Limits(**{f.name: getattr(args, f.name) for f in FIELDS})
    assert getattr(limits, field.name) == (7000 if value == "7_000" else 0.25)
    assert all(getattr(limits, f.name) == f.default for f in FIELDS if f is not field)
