"""Dataset tags: one name for the versions every table had at one moment.

Each table has its own version numbers, so "version 12" means different moments in different
tables. A training run pins a tag instead: `flagstream datasets tag NAME` records the latest version
of every table, and `datasets export --tag NAME` reads each table at the version the tag holds.
Tags are files, `<data_dir>/tags/<name>.json`, written once and never changed.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.dataset_sink.writer import list_tables, table_version
from services.runtime.errors import FatalError

TAG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def tags_dir(datasets_dir: Path) -> Path:
    """Where the tags of the datasets under `datasets_dir` live (beside it, not among the tables)."""
    return Path(datasets_dir).parent / "tags"


def create_tag(datasets_dir: Path, name: str, note: str = "") -> dict[str, Any]:
    """Record the latest version of every table under `name`; a tag that exists is never replaced."""
    if not TAG_NAME.fullmatch(name):
        raise FatalError(f"tag {name!r}: use letters, digits, '.', '_' or '-' (at most 64), starting alnum")
    versions = {table: table_version(datasets_dir, table) for table in list_tables(datasets_dir)}
    if not versions:
        raise FatalError(f"no dataset table under {datasets_dir} to tag")
    tag = {"name": name, "created_at": datetime.now(UTC).isoformat(), "versions": versions, "note": note}
    path = tags_dir(datasets_dir) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x") as out:  # exclusive: two taggers cannot both write one name
            json.dump(tag, out, indent=2)
    except FileExistsError as exc:
        raise FatalError(f"tag {name!r} exists already (tags are never moved); pick another name") from exc
    return tag


def read_tag(datasets_dir: Path, name: str) -> dict[str, Any]:
    """A tag's record."""
    path = tags_dir(datasets_dir) / f"{name}.json"
    if not TAG_NAME.fullmatch(name) or not path.is_file():
        raise FatalError(f"no tag {name!r}; `flagstream datasets tags` lists them")
    return dict(json.loads(path.read_text()))


def list_tags(datasets_dir: Path) -> list[dict[str, Any]]:
    """Every tag, oldest first."""
    folder = tags_dir(datasets_dir)
    tags = [json.loads(p.read_text()) for p in folder.glob("*.json")] if folder.is_dir() else []
    return sorted(tags, key=lambda t: str(t["created_at"]))


def tagged_version(datasets_dir: Path, name: str, table: str) -> int:
    """The version of `table` that tag `name` pins."""
    versions = read_tag(datasets_dir, name)["versions"]
    if table not in versions:
        raise FatalError(f"tag {name!r} has no version of {table!r} (the table did not exist then)")
    return int(versions[table])


def select_history(
    history: list[dict[str, Any]], *, limit: int | None = None, as_of: datetime | None = None
) -> list[dict[str, Any]]:
    """The newest-first history cut to the versions committed at or before `as_of`, then to `limit`."""
    if as_of is not None:
        history = [h for h in history if _when(h["timestamp"]) <= as_of]
    return history[:limit] if limit is not None else history


def _when(value: Any) -> datetime:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when if when.tzinfo else when.replace(tzinfo=UTC)
