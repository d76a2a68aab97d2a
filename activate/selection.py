"""Pick syncs the way dbt picks models: names, globs, `tag:NAME`, `+SELECTOR` (with what it depends on), exclusions.

    select_syncs(project, ["tag:crm", "+slack_alerts"], exclude=["hubspot_companies"])

Selector forms (the same for `--exclude`):
- `hubspot_contacts`: that sync;
- `hubspot_*`, `crm_?`, `[ab]*`: every sync whose name matches the shell-style glob;
- `tag:crm`: every sync whose `tags:` holds `crm`;
- `+X`: what `X` selects and, transitively, every sync those depend on (`SyncSpec.dependencies`: `after:` and the
  syncs its associations read ids from).

The result is in dependency order (`Project.run_order`): a sync comes after the selected syncs it depends on,
otherwise file order. A selector that matches nothing is a usage error naming the choices: a typo must never
silently shrink a nightly run.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from activate.config.hints import closest
from activate.errors import UsageError

if TYPE_CHECKING:
    from activate.config import Project

TAG_PREFIX = "tag:"
GLOB_CHARACTERS = frozenset("*?[")


def select_syncs(project: Project, select: Sequence[str] = (), exclude: Sequence[str] = ()) -> list[str]:
    """The sync names `select` picks (every sync when it is empty) minus those `exclude` picks, dependencies first.

    Raises `UsageError` when a selector (included or excluded) matches no sync, or nothing is left.
    """
    if not project.syncs and not select:
        raise UsageError("the project defines no syncs yet: add one as syncs/<name>.yml")
    chosen = set(project.syncs) if not select else {name for s in select for name in resolve(project, s)}
    removed = {name for s in exclude for name in resolve(project, s)}
    names = [name for name in project.syncs if name in chosen and name not in removed]
    if not names:
        given = " ".join(select) or "every sync"
        raise UsageError(f"the selection ({given}) minus --exclude {' '.join(exclude)} leaves no sync")
    return project.run_order(names)


def resolve(project: Project, selector: str) -> set[str]:
    """The names one selector picks; `UsageError` (with the valid choices) when it picks none."""
    text = selector.strip()
    if text.startswith("+"):
        return with_dependencies(project, resolve(project, text[1:]))
    if text.startswith(TAG_PREFIX):
        tag = text[len(TAG_PREFIX) :]
        found = {name for name, sync in project.syncs.items() if tag in sync.spec.tags}
        if not found:
            known = sorted({t for sync in project.syncs.values() for t in sync.spec.tags})
            raise UsageError(_no_match(f"no sync has tag '{tag}'", tag, known, "tags in use"))
        return found
    if GLOB_CHARACTERS & set(text):
        found = {name for name in project.syncs if fnmatch.fnmatchcase(name, text)}
        if not found:
            raise UsageError(_no_match(f"no sync matches '{text}'", text, list(project.syncs), "known syncs"))
        return found
    return {project.sync(text).name}  # an unknown name: the UsageError names the closest sync


def with_dependencies(project: Project, names: Iterable[str]) -> set[str]:
    """`names` and, transitively, every sync they depend on."""
    found: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        pending.extend(d for d in project.sync(name).spec.dependencies if d in project.syncs)
    return found


def _no_match(message: str, word: str, known: list[str], label: str) -> str:
    guess = closest(word, known)
    if guess:
        message += f" (did you mean '{guess}'?)"
    return message + (f"; {label}: {', '.join(known)}" if known else f"; {label}: none")
