#!/usr/bin/env python3
"""The rooms of src/ depend one way (docs/architecture.md): a file in a room may include headers of
its own room and of rooms on a lower level only. Fails naming each include that points up or
sideways, and each room that the table below does not know (a new folder must take its place).

usage: test_layers.py SRC_DIR
"""
import os
import re
import sys

LEVEL = {
    "core": 0,
    "sampling": 1,
    "model": 2,
    "config": 3,
    "stats": 3,
    "engine": 4,
    "io": 4,
    "study": 5,
    "cli": 6,
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[A-Za-z0-9_.]+"', re.M)


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    src = argv[1]
    bad = []
    files = 0
    for room in sorted(os.listdir(src)):
        d = os.path.join(src, room)
        if not os.path.isdir(d):
            continue
        if room not in LEVEL:
            bad.append(f"src/{room}/: a room that docs/architecture.md does not place")
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith((".cpp", ".hpp")):
                continue
            files += 1
            with open(os.path.join(d, name), encoding="utf-8") as f:
                text = f.read()
            for m in INCLUDE.finditer(text):
                to = m.group(1)
                if to == room:
                    continue
                if to not in LEVEL:
                    bad.append(f"src/{room}/{name}: includes {m.group(0).strip()} (unknown room)")
                elif LEVEL[to] >= LEVEL[room]:
                    bad.append(f"src/{room}/{name}: includes {m.group(0).strip()}: {room} "
                               f"(level {LEVEL[room]}) may only use lower levels, {to} is "
                               f"level {LEVEL[to]}")
    if files == 0:
        bad.append(f"no sources found under {src}")
    for b in bad:
        print("FAIL", b)
    if bad:
        return 1
    print(f"layers: {files} files in {len(LEVEL)} rooms, every include points down")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
