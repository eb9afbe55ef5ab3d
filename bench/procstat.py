"""CPU time and resident memory of a process and all its descendants, from /proc (Linux)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # the command name is in parentheses and may hold spaces: split after the last ')'
    return raw[raw.rindex(")") + 2 :].split()


def tree(root: int) -> list[int]:
    """``root`` and every live descendant."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


@dataclass(frozen=True)
class Usage:
    cpu_s: float  # user + system CPU seconds of the tree so far
    rss_bytes: int
    processes: int


def usage(root: int) -> Usage:
    cpu_ticks = 0
    rss_pages = 0
    count = 0
    for pid in tree(root):
        fields = _stat_fields(pid)
        if fields is None:
            continue
        count += 1
        cpu_ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        rss_pages += int(fields[21])  # rss (field 24)
    return Usage(cpu_ticks / _TICKS, rss_pages * _PAGE, count)


def host_busy_s() -> float:
    """CPU seconds the whole host has spent busy (all CPUs), from the first line of /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICKS
