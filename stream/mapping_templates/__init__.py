"""Mapping templates shipped with paystream (``paystream mapping templates`` lists them,
``paystream mapping new --from NAME FILE`` writes one).

Each template is a whole mapping file beside this module; its first two comment lines are its
title and summary, so a template is added by dropping in a file, with nothing else to list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
TITLE_PREFIX = "# paystream mapping template: "


@dataclass(frozen=True)
class Template:
    name: str
    title: str
    summary: str
    path: Path


def _read(path: Path) -> Template:
    lines = path.read_text().splitlines()
    title = lines[0].removeprefix(TITLE_PREFIX) if lines else path.stem
    summary = lines[1].removeprefix("# ") if len(lines) > 1 else ""
    return Template(path.stem, title, summary, path)


def templates() -> list[Template]:
    return [_read(path) for path in sorted(HERE.glob("*.yaml"))]


def template(name: str) -> Template:
    found = {t.name: t for t in templates()}
    if name not in found:
        raise KeyError(f"no template {name!r} (known: {', '.join(sorted(found))})")
    return found[name]


def write(name: str, destination: Path, *, overwrite: bool = False) -> Path:
    """Copy template ``name`` to ``destination``; refuses to replace a file unless asked."""
    source = template(name)
    if destination.exists() and not overwrite:
        raise FileExistsError(f"{destination} exists (use --force to replace it)")
    destination.write_text(source.path.read_text())
    return destination
