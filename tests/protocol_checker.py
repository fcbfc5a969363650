"""Hold a frame to the declarations of spaces_project/protocol: the contract tests' checker.

``check_event`` raises ContractError unless a payload is a declared event with exactly its fields, each
of its declared type (nested shapes, lists, unions and batches included). Every frame the socket tests
receive goes through it (tests/live/wsclient.py); tests/rooms/test_protocol.py tests it.
"""

import functools
import types
import typing
from collections.abc import Callable
from typing import Any

from spaces_project.protocol import EVENTS, Batch, ServerEvent
from spaces_project.protocol.reference import hints, type_name


class ContractError(AssertionError):
    """A frame that the declarations of spaces_project/protocol do not allow."""

    def __init__(self, detail: str, path: str = "") -> None:
        super().__init__(f"{path}: {detail}" if path else detail)
        self.detail = detail
        self.path = path


def check_event(payload: dict[str, Any], *, events: dict[str, type[ServerEvent]] = EVENTS) -> None:
    """Raise ContractError unless `payload` is a declared event with exactly its fields
    (a room event; ``events=USER_EVENTS`` for the per-person channel)."""
    if not isinstance(payload, dict):
        raise ContractError(f"an event must be a JSON object, not {payload!r}")
    kind = payload.get("type")
    cls = events.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise ContractError(f"undeclared event type {kind!r}")
    present = payload.keys() - {"type"}
    declared = set(cls._FIELDS)
    if present - declared:
        raise ContractError(
            f"{kind} has fields its constructor does not define: {sorted(present - declared)}"
        )
    if declared - cls._OMIT_IF_NONE - present:
        raise ContractError(f"{kind} lacks fields: {sorted(declared - cls._OMIT_IF_NONE - present)}")
    checkers = _field_checkers(cls)
    for name in present:
        try:
            checkers[name](payload[name])
        except ContractError as error:
            raise ContractError(error.detail, f"{kind}.{name}{error.path}") from None
    if cls is Batch:
        for inner in payload["events"]:
            check_event(inner)


Checker = Callable[[Any], None]


@functools.cache
def _field_checkers(cls: type) -> dict[str, Checker]:
    return {name: _checker(hint) for name, hint in hints(cls).items()}


@functools.cache
def _checker(hint: Any) -> Checker:
    """A function that raises ContractError unless a JSON value fits `hint` (built once per hint)."""
    origin = typing.get_origin(hint)
    if hint is Any or origin is dict or hint is dict:
        return _check_object if hint is not Any else (lambda value: None)
    if origin in (typing.Union, types.UnionType):
        options = [_checker(option) for option in typing.get_args(hint)]

        def check_union(value: Any) -> None:
            errors = []
            for option in options:
                try:
                    return option(value)
                except ContractError as error:
                    errors.append(str(error))
            raise ContractError(f"{value!r} matches none of {type_name(hint)} ({'; '.join(errors)})")

        return check_union
    if typing.is_typeddict(hint):
        fields = _field_checkers(hint)
        required = set(hint.__required_keys__)

        def check_shape(value: Any) -> None:
            if not isinstance(value, dict):
                raise ContractError(f"expected a {hint.__name__} object, got {value!r}")
            extra, missing = value.keys() - fields.keys(), required - value.keys()
            if extra or missing:
                raise ContractError(
                    f"a {hint.__name__} with unknown fields {sorted(extra)} / missing {sorted(missing)}"
                )
            for key, item in value.items():
                try:
                    fields[key](item)
                except ContractError as error:
                    raise ContractError(error.detail, f".{key}{error.path}") from None

        return check_shape
    if origin is tuple:
        items = [_checker(arg) for arg in typing.get_args(hint)]

        def check_tuple(value: Any) -> None:
            if not isinstance(value, (list, tuple)) or len(value) != len(items):
                raise ContractError(f"expected {len(items)} items, got {value!r}")
            for n, (item, check) in enumerate(zip(value, items, strict=True)):
                try:
                    check(item)
                except ContractError as error:
                    raise ContractError(error.detail, f"[{n}]{error.path}") from None

        return check_tuple
    if origin is list:
        each = _checker(typing.get_args(hint)[0])

        def check_list(value: Any) -> None:
            if not isinstance(value, list):
                raise ContractError(f"expected a list, got {value!r}")
            for n, item in enumerate(value):
                try:
                    each(item)
                except ContractError as error:
                    raise ContractError(error.detail, f"[{n}]{error.path}") from None

        return check_list
    if hint is type(None):
        accepts: Callable[[Any], bool] = lambda value: value is None  # noqa: E731
    elif hint in (int, float):
        numbers = (int,) if hint is int else (int, float)
        accepts = lambda value: isinstance(value, numbers) and not isinstance(value, bool)  # noqa: E731
    else:
        accepts = lambda value: isinstance(value, hint)  # noqa: E731

    def check_scalar(value: Any) -> None:
        if not accepts(value):
            raise ContractError(f"expected {type_name(hint)}, got {value!r}")

    return check_scalar


def _check_object(value: Any) -> None:
    if not isinstance(value, dict):
        raise ContractError(f"expected an object, got {value!r}")
