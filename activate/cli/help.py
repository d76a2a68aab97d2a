"""Help pages without type noise: Typer prints `<bool>` beside every flag and `<str>`/`<int>`/`<path>` beside every
value. A flag takes no value and the help text says what a value means, so the type column is dropped for every
parameter that has no metavar of its own (`--target NAME` keeps its word).

Typer has no setting for this; the column is whatever `display_type_rich` returns, and `None` leaves it empty.
(Typer 0.29 vendors its own click, `typer._click`, hence the untyped parameters here.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperCommand

from activate.cli.boundary import BoundaryGroup


def _no_type(ctx: Any) -> None:
    return None


def _quiet(params: list[Any]) -> list[Any]:
    for param in params:
        # an argument's metavar is its name, not a type: its type column goes too
        if param.metavar is None or getattr(param, "param_type_name", "") == "argument":
            param.display_type_rich = _no_type
    return params


class PlainCommand(TyperCommand):
    """A command whose help lists options and arguments without their Python types."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _quiet(super().get_params(ctx))


class PlainGroup(BoundaryGroup):
    """The top-level group: the error boundary around every command, and the same help style as its commands."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _quiet(super().get_params(ctx))


class PlainTyper(typer.Typer):
    """`typer.Typer` whose commands default to `PlainCommand`."""

    def command(
        self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any
    ) -> Callable[..., Any]:
        return super().command(name, cls=cls or PlainCommand, **kwargs)
