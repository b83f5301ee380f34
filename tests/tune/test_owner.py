"""A worker record tells whether its process still runs on this machine."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

from batchlab.tune.owner import Owner


def test_this_process_is_alive_and_round_trips() -> None:
    me = Owner.current()
    assert me.pid == os.getpid() and me.is_on_this_machine() and me.is_alive()
    assert Owner.from_attr(me.to_attr()) == me
    assert Owner.from_attr("junk") is None and Owner.from_attr({"host": "h"}) is None


def test_an_exited_process_is_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    owner = dataclasses.replace(Owner.current(), pid=child.pid)
    assert not owner.is_alive()


def test_a_reused_pid_or_another_boot_is_dead() -> None:
    me = Owner.current()
    assert not dataclasses.replace(me, started=str(int(me.started or 0) + 1)).is_alive()
    assert not dataclasses.replace(me, boot="another-boot").is_alive()
