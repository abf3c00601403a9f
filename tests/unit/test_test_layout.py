"""The test tree has no package files, so pytest imports each test module by its file name: two test
modules with the same name in different folders stop the whole run at collection."""

from __future__ import annotations

from collections import Counter

from services.runtime.settings import REPO_ROOT


def test_every_test_module_name_is_unique() -> None:
    names = Counter(path.name for path in (REPO_ROOT / "tests").rglob("test_*.py"))
    assert names, "no test modules found"
    assert [name for name, count in names.items() if count > 1] == []
