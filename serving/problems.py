"""A refusal of input and its problems: what every 4xx of the API carries (`InputError.body()`
is the `ErrorResponse` of serving.schema)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_PROBLEMS = 20
"""At most this many problems are listed in one error answer."""


@dataclass(frozen=True)
class Problem:
    loc: tuple[str | int, ...]
    msg: str
    type: str

    def where(self) -> str:
        out = ""
        for part in self.loc:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out or "body"

    def as_dict(self) -> dict[str, Any]:
        return {"loc": list(self.loc), "msg": self.msg, "type": self.type}


class InputError(Exception):
    """Input the API refuses; `status` is the HTTP status to answer with."""

    def __init__(self, problems: list[Problem], status: int = 400, total: int | None = None):
        self.problems = problems[:MAX_PROBLEMS]
        self.status = status
        self.total = total if total is not None else len(problems)
        super().__init__(self.message())

    def message(self) -> str:
        first = self.problems[0]
        more = self.total - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
        return f"{first.where()}: {first.msg}{tail}"

    def body(self) -> dict[str, Any]:
        return {"error": self.message(), "detail": [p.as_dict() for p in self.problems]}


def refuse(loc: tuple[str | int, ...], msg: str, kind: str, status: int = 400) -> InputError:
    return InputError([Problem(loc, msg, kind)], status=status)
