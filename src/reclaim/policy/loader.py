"""Reading a policy file: TOML in, a checked ``Policy`` and its version out, or every mistake."""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from pydantic import ValidationError

from reclaim.errors import ValidationFailed
from reclaim.policy.schema import Policy

DEFAULT_POLICY = "default.toml"


class PolicyError(ValidationFailed):
    """The policy file can't be used; the message names every bad rule."""


@dataclass(frozen=True, slots=True)
class LoadedPolicy:
    policy: Policy
    # "<name>@<hash>": the same text always has the same version, any edit a new one.
    version: str
    text: str
    source: str


def _where(location: tuple[int | str, ...]) -> str:
    """('options', 'rules', 2, 'methods') → 'options.rules[3].methods' (rules counted from 1)."""
    out = ""
    for part in location:
        if isinstance(part, int):
            out += f"[{part + 1}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def version_of(name: str, text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "policy"
    return f"{slug}@{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def parse(text: str, source: str) -> LoadedPolicy:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source} is not valid TOML: {exc}.", source=source) from None
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{_where(tuple(error['loc']))}: {error['msg']}"
            for error in exc.errors(include_url=False)
        ]
        raise PolicyError(
            f"{source} has {len(problems)} bad rule{'s' if len(problems) > 1 else ''}:\n  "
            + "\n  ".join(problems),
            source=source,
            problems=problems,
        ) from None
    return LoadedPolicy(policy, version_of(policy.name, text), text, source)


def load(path: Path | None) -> LoadedPolicy:
    """The merchant's policy file, or the built-in one when none is configured."""
    if path is None:
        text = (files("reclaim.policy") / DEFAULT_POLICY).read_text(encoding="utf-8")
        return parse(text, f"built-in {DEFAULT_POLICY}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"Can't read the policy file {path}: {exc.strerror}.") from None
    except UnicodeDecodeError:
        raise PolicyError(f"The policy file {path} is not UTF-8 text.") from None
    return parse(text, str(path))
