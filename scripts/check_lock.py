#!/usr/bin/env python
"""Check that the running Python has every package of a lock file at exactly its locked version.

``python scripts/check_lock.py requirements.txt`` prints one line per missing or different package and exits
with status 2 when there is any (the Makefile runs it after every install, so a drifted venv is noticed).
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


def locked(path: str) -> dict[str, str]:
    """{normalized name: version} of the ``name==version`` lines of a pip-compile lock file."""
    out = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            m = PIN.match(line.strip())
            if m:
                out[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: check_lock.py LOCKFILE", file=sys.stderr)
        return 2
    wanted = locked(argv[1])
    problems = []
    for name, version in sorted(wanted.items()):
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name}: not installed (locked {version})")
            continue
        if have != version:
            problems.append(f"{name}: {have} installed, {version} locked")
    for line in problems:
        print(f"error: {argv[1]}: {line}", file=sys.stderr)
    if problems:
        print("error: the environment differs from the lock file; delete the venv and run make again", file=sys.stderr)
        return 2
    print(f"{argv[1]}: {len(wanted)} packages at their locked versions")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
