"""What a service's error answer says, as the command line shows it: the problem+json body (RFC 9457) the
services answer with, or what can be made of a body that is not one (a proxy's page, a crash's text)."""

from __future__ import annotations

from typing import Any

import httpx


def problem_of(response: httpx.Response) -> dict[str, Any]:
    """The answer's problem: its JSON object, else a title from the status line and the start of the body."""
    try:
        problem = response.json()
    except ValueError:
        return {"title": response.reason_phrase, "detail": response.text[:500]}
    return problem if isinstance(problem, dict) else {"detail": str(problem)}


def refusal_text(response: httpx.Response, problem: dict[str, Any] | None = None) -> str:
    """``<status> <title>: <detail> (<pointer>: <detail>; ...)``: one line naming every field the service named."""
    problem = problem if problem is not None else problem_of(response)
    pointers = "; ".join(f"{e.get('pointer')}: {e.get('detail')}" for e in problem.get("errors") or []
                         if isinstance(e, dict))
    return (f"{response.status_code} {problem.get('title') or 'refused'}: {problem.get('detail') or ''}"
            + (f" ({pointers})" if pointers else ""))
