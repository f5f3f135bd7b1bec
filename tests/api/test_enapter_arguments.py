"""Enapter command arguments: how a manifest declares them and how values are checked.

The cloud does not check min/max (only Enapter's own form does), so every value the
integration sends goes through ``check_arguments`` first. Property tests feed the
parser and the checker arbitrary JSON, as a broken or hostile blueprint would.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.iot_bridge.api import enapter_manifest
from custom_components.iot_bridge.api.enapter_manifest import (
    MAX_ENUM_TEXT,
    MAX_ENUM_VALUES,
    ArgumentError,
    CommandArgumentSpec,
    CommandSpec,
    access_rank,
    check_argument,
    check_arguments,
    enum_text,
    parse_manifest,
    role_may_run,
)
from custom_components.iot_bridge.enapter.model import DevicePlan

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=12,
)
ARGUMENT = st.fixed_dictionaries(
    {},
    optional={
        "display_name": st.text(max_size=4) | JSON,
        "type": st.sampled_from(
            ["boolean", "string", "integer", "float", "array_of_strings", "json", "x"]
        )
        | JSON,
        "required": st.booleans() | JSON,
        "min": SCALARS,
        "max": SCALARS,
        "enum": st.lists(SCALARS, max_size=5)
        | st.dictionaries(
            st.text(max_size=4),
            st.fixed_dictionaries({}, optional={"display_name": st.text(max_size=4) | JSON}),
            max_size=5,
        )
        | JSON,
        "unit": st.text(max_size=4) | JSON,
        "default": JSON,
    },
)
COMMAND = st.fixed_dictionaries(
    {},
    optional={
        "display_name": st.text(max_size=4) | JSON,
        "access_level": st.sampled_from(["user", "owner", "vendor", " Installer "]) | JSON,
        "arguments": st.dictionaries(st.text(max_size=4), ARGUMENT | JSON, max_size=3) | JSON,
    },
)


def command(**arguments: CommandArgumentSpec) -> CommandSpec:
    return CommandSpec(display_name="Go", arguments=arguments)


RATE = CommandArgumentSpec("Rate", "float", required=True, min=60, max=100)
LIMIT = CommandArgumentSpec("Limit", "integer", required=True, min=50, max=100)
BAUD = CommandArgumentSpec("Baud", "integer", required=True, enum=("9600", "19200"))
PARITY = CommandArgumentSpec("Parity", "string", enum=("N", "O", "E"))
FLAG = CommandArgumentSpec("Flag", "boolean")
NAMES = CommandArgumentSpec("Names", "array_of_strings")
BLOB = CommandArgumentSpec("Blob", "json")


@pytest.mark.parametrize(
    ("spec", "value", "sent"),
    [
        (RATE, 80, 80.0),
        (RATE, 60, 60.0),
        (RATE, 100.0, 100.0),
        (LIMIT, 80.0, 80),  # what a number entity gives for an integer
        (BAUD, 9600, 9600),
        (BAUD, "19200", 19200),  # an option as a select or YAML gives it
        (PARITY, "E", "E"),
        (FLAG, False, False),
        (NAMES, ["a", "b"], ["a", "b"]),
        (BLOB, {"any": [1, None]}, {"any": [1, None]}),
    ],
)
def test_values_are_sent_as_their_declared_type(
    spec: CommandArgumentSpec, value: Any, sent: Any
) -> None:
    checked = check_argument("x", spec, value)
    assert checked == sent
    assert type(checked) is type(sent)


@pytest.mark.parametrize(
    ("spec", "value", "problem", "expected"),
    [
        (RATE, 59.99, "min", "60"),
        (RATE, 100.5, "max", "100"),
        (RATE, "80", "type", "float"),
        (RATE, True, "type", "float"),
        (RATE, math.inf, "type", "float"),
        (RATE, 10**400, "type", "float"),
        (LIMIT, 80.5, "type", "integer"),
        (BAUD, 4800, "option", "9600, 19200"),
        (BAUD, "fast", "type", "integer"),
        (PARITY, "X", "option", "N, O, E"),
        (FLAG, "yes", "type", "boolean"),
        (NAMES, ["a", 1], "type", "array_of_strings"),
        (BLOB, {1, 2}, "type", "json"),
        (BLOB, math.nan, "type", "json"),
    ],
)
def test_values_that_do_not_fit_are_refused(
    spec: CommandArgumentSpec, value: Any, problem: str, expected: str
) -> None:
    with pytest.raises(ArgumentError) as err:
        check_argument("x", spec, value)
    assert (err.value.argument, err.value.problem, err.value.expected) == ("x", problem, expected)


def test_unknown_and_missing_arguments_are_refused() -> None:
    spec = command(rate=RATE, parity=PARITY)
    assert check_arguments(spec, {"rate": 70}) == {"rate": 70.0}
    with pytest.raises(ArgumentError) as err:
        check_arguments(spec, {"rate": 70, "speed": 1})
    assert (err.value.argument, err.value.problem, err.value.expected) == (
        "speed",
        "unknown",
        "rate, parity",
    )
    with pytest.raises(ArgumentError) as err:
        check_arguments(spec, {"parity": "N"})
    assert (err.value.argument, err.value.problem) == ("rate", "missing")


def test_roles() -> None:
    assert access_rank("READONLY") == access_rank("read_only") == 0
    assert access_rank("VENDOR") == 4
    assert access_rank("superuser") is None
    assert role_may_run("INSTALLER", "owner")
    assert not role_may_run("USER", "owner")
    assert not role_may_run("READ_ONLY", "user")
    # Unknown on either side: only the API can tell.
    assert role_may_run(None, "system")
    assert role_may_run("OWNER", "wizard")


def test_hostile_argument_specs_are_harmless(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    huge = [f"v{index}" for index in range(5000)]
    manifest = parse_manifest(
        {
            "commands": {
                "upside_down": {
                    "arguments": {"x": {"type": "float", "required": True, "min": 10, "max": 1}}
                },
                "odd_bounds": {
                    "arguments": {
                        "x": {"type": "float", "required": True, "min": "NaN", "max": "lots"}
                    }
                },
                "huge": {"arguments": {"x": {"type": "string", "required": True, "enum": huge}}},
                "mixed": {
                    "arguments": {
                        "x": {
                            "type": "integer",
                            "required": True,
                            "enum": [1, "two", 3.0, True, None, "4", "x" * 300],
                        }
                    }
                },
                "blank_level": {"access_level": "  "},
            },
            "telemetry": {"hostile_mode": {"type": "string", "enum": huge}},
        }
    )
    assert manifest is not None
    upside_down = manifest.commands["upside_down"].arguments["x"]
    assert (upside_down.min, upside_down.max) == (None, None)
    odd = manifest.commands["odd_bounds"].arguments["x"]
    assert (odd.min, odd.max) == (None, None)
    options = manifest.commands["huge"].arguments["x"].enum
    assert options is not None
    assert len(options) == MAX_ENUM_VALUES
    assert manifest.telemetry["hostile_mode"].enum == options
    # Only what an integer can carry, once each, as text.
    assert manifest.commands["mixed"].arguments["x"].enum == ("1", "3", "4")
    assert manifest.commands["blank_level"].access_level == "user"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("min 10.0 above max 1.0" in message for message in warnings) == 1
    assert sum("declares 5000 values" in message for message in warnings) == 2
    # Parsing the same manifest again (every hourly listing) logs nothing new.
    parse_manifest({"telemetry": {"hostile_mode": {"type": "string", "enum": huge}}})
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == len(warnings)
    plan = DevicePlan.of(manifest)
    # Bounds that make no sense are dropped: the number is unbounded but still typed.
    assert {s.command for s in plan.numbers} == {"upside_down", "odd_bounds"}
    assert {s.command for s in plan.selects} == {"huge", "mixed"}


@settings(FAST)
@given(raw=st.dictionaries(st.text(max_size=4), COMMAND | JSON, max_size=4) | JSON)
def test_any_command_declaration_parses_into_sane_specs(raw: Any) -> None:
    manifest = parse_manifest({"commands": raw})
    assert manifest is not None
    for spec in manifest.commands.values():
        assert isinstance(spec.access_level, str)
        assert spec.access_level
        for argument in spec.arguments.values():
            for bound in (argument.min, argument.max):
                assert bound is None or math.isfinite(bound)
            if argument.min is not None and argument.max is not None:
                assert argument.min <= argument.max
            if argument.enum is not None:
                assert 0 < len(argument.enum) <= MAX_ENUM_VALUES
                assert len(set(argument.enum)) == len(argument.enum)
                assert all(0 < len(option) <= MAX_ENUM_TEXT for option in argument.enum)
                for option in argument.enum:
                    # Every option can be sent as the declared type.
                    check_argument("x", argument, option)
            assert set(argument.enum_names) <= set(argument.enum or ())
    DevicePlan.of(manifest)


@settings(FAST)
@given(raw=ARGUMENT, value=JSON)
def test_a_checked_value_satisfies_its_declaration(raw: dict[str, Any], value: Any) -> None:
    manifest = parse_manifest({"commands": {"go": {"arguments": {"x": raw}}}})
    assert manifest is not None
    spec = manifest.commands["go"].arguments["x"]
    try:
        sent = check_argument("x", spec, value)
    except ArgumentError as err:
        refused: ArgumentError | None = err
    else:
        refused = None
    if refused is not None:
        assert (refused.argument, refused.problem in {"type", "min", "max", "option"}) == (
            "x",
            True,
        )
        return
    if spec.enum is not None:
        assert enum_text(sent) in spec.enum
    if spec.type in ("integer", "float"):
        assert isinstance(sent, int if spec.type == "integer" else float)
        assert not isinstance(sent, bool)
        assert math.isfinite(sent)
        assert spec.min is None or sent >= spec.min
        assert spec.max is None or sent <= spec.max
    elif spec.type == "boolean":
        assert isinstance(sent, bool)
    elif spec.type == "string":
        assert isinstance(sent, str)
    # Whatever passes can be sent as JSON.
    assert enapter_manifest._is_json(sent)
