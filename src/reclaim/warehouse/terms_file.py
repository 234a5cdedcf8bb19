"""Reading a merchant-editable TOML file of warehouse terms: the built-in copy or the merchant's
own, checked by a pydantic model, every mistake reported with the place it was made."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from reclaim.errors import ValidationFailed

Model = TypeVar("Model", bound=BaseModel)


class TermsFileError(ValidationFailed):
    """The file can't be used; ``details["problems"]`` names every bad entry."""


def where(location: Sequence[int | str]) -> str:
    """('apparel', 'rules', 2, 'grade') → 'apparel.rules[3].grade' (lists counted from 1)."""
    out = ""
    for part in location:
        if isinstance(part, int):
            out += f"[{part + 1}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def refuse(source: str, problems: list[str]) -> TermsFileError:
    count = len(problems)
    return TermsFileError(
        f"{source} has {count} mistake{'s' if count > 1 else ''}:\n  " + "\n  ".join(problems),
        source=source,
        problems=problems,
    )


def read_text(path: Path | None, built_in: str) -> tuple[str, str]:
    """The file's text and how to name it in messages; ``None`` reads the built-in copy."""
    if path is None:
        return (files("reclaim.warehouse") / built_in).read_text(encoding="utf-8"), (
            f"built-in {built_in}"
        )
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except OSError as exc:
        raise TermsFileError(f"Can't read {path}: {exc.strerror}.") from None
    except UnicodeDecodeError:
        raise TermsFileError(f"{path} is not UTF-8 text.") from None


def parse(
    text: str,
    source: str,
    model: type[Model],
    prepare: Callable[[dict[str, Any]], tuple[dict[str, Any], list[str]]] | None = None,
) -> Model:
    """TOML in, a validated ``model`` out. ``prepare`` may reshape the raw document first and
    report problems of its own, which are listed with the model's."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TermsFileError(f"{source} is not valid TOML: {exc}.", source=source) from None
    problems: list[str] = []
    if prepare is not None:
        raw, problems = prepare(raw)
    try:
        validated = model.model_validate(raw)
    except ValidationError as exc:
        problems += [
            f"{where(tuple(error['loc']))}: {error['msg']}"
            for error in exc.errors(include_url=False)
        ]
        raise refuse(source, problems) from None
    if problems:
        raise refuse(source, problems)
    return validated
