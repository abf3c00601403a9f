"""Dataset tags: one name for the versions every table had at one moment.

Each table has its own version numbers, so "version 12" means different moments in different
tables. A training run pins a tag instead: `flagstream datasets tag NAME` records the latest version
of every table, and `datasets export --tag NAME` reads each table at the version the tag holds.
Tags are objects, `<storage>/tags/<name>.json` beside the datasets, written once and never changed:
created with create-if-absent semantics (an exclusive file locally, a PUT with `If-None-Match: *` on
S3), so two taggers cannot both claim one name.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from services.dataset_sink.writer import Root, list_tables, table_version
from services.runtime.errors import FatalError
from services.runtime.storage import ObjectExistsError, StorageRoot

TAG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def tags_root(datasets: Root) -> StorageRoot:
    """Where the tags of the datasets under `datasets` live (beside it, not among the tables)."""
    root = StorageRoot.of(datasets)
    parent, _, _ = root.uri.rpartition("/")
    return StorageRoot(parent, root.s3) / "tags"


def create_tag(datasets: Root, name: str, note: str = "") -> dict[str, Any]:
    """Record the latest version of every table under `name`; a tag that exists is never replaced."""
    if not TAG_NAME.fullmatch(name):
        raise FatalError(f"tag {name!r}: use letters, digits, '.', '_' or '-' (at most 64), starting alnum")
    versions = {table: table_version(datasets, table) for table in list_tables(datasets)}
    if not versions:
        raise FatalError(f"no dataset table under {StorageRoot.of(datasets)} to tag")
    tag = {"name": name, "created_at": datetime.now(UTC).isoformat(), "versions": versions, "note": note}
    try:
        tags_root(datasets).create(f"{name}.json", json.dumps(tag, indent=2).encode())
    except ObjectExistsError as exc:
        raise FatalError(f"tag {name!r} exists already (tags are never moved); pick another name") from exc
    return tag


def read_tag(datasets: Root, name: str) -> dict[str, Any]:
    """A tag's record."""
    found = tags_root(datasets).read(f"{name}.json") if TAG_NAME.fullmatch(name) else None
    if found is None:
        raise FatalError(f"no tag {name!r}; `flagstream datasets tags` lists them")
    return dict(json.loads(found))


def list_tags(datasets: Root) -> list[dict[str, Any]]:
    """Every tag, oldest first."""
    root = tags_root(datasets)
    tags = []
    for key, _size in root.objects(".json"):
        data = root.read(key)
        if data is not None and "/" not in key:
            tags.append(json.loads(data))
    return sorted(tags, key=lambda t: str(t["created_at"]))


def tagged_version(datasets: Root, name: str, table: str) -> int:
    """The version of `table` that tag `name` pins."""
    versions = read_tag(datasets, name)["versions"]
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
