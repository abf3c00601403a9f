"""The test-only fault hooks: inert unless set, and each fires exactly where it is told to."""

from __future__ import annotations

import asyncio

import pytest

from services.runtime import faults


def test_the_kill_hook_is_inert_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    killed: list[int] = []
    monkeypatch.setattr(faults.os, "kill", lambda pid, sig: killed.append(sig))
    for point in ("before_commit", "mid_write", "after_delta_commit"):
        faults.KillHook(None).reach(point)
        faults.KillHook("").reach(point)
    assert killed == []


def test_the_kill_hook_fires_on_the_nth_pass_through_its_point(monkeypatch: pytest.MonkeyPatch) -> None:
    killed: list[int] = []
    monkeypatch.setattr(faults.os, "kill", lambda pid, sig: killed.append(sig))
    hook = faults.KillHook("mid_write:2")
    hook.reach("before_commit")
    hook.reach("mid_write")
    assert killed == []
    hook.reach("mid_write")
    assert killed == [faults.signal.SIGKILL]
    once = faults.KillHook("before_commit")  # n defaults to 1
    once.reach("before_commit")
    assert len(killed) == 2


def test_per_record_hooks_fire_only_for_their_service_and_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faults, "CRASH_ID", b"int-13")
    monkeypatch.setattr(faults, "CRASH_SERVICE", "escalation")
    asyncio.run(faults.before_record("escalation", b"...int-12..."))
    asyncio.run(faults.before_record("review", b"...int-13..."))
    with pytest.raises(faults.InjectedCrash):
        asyncio.run(faults.before_record("escalation", b"...int-13..."))
    assert not issubclass(faults.InjectedCrash, Exception)  # past every `except Exception`
