#!/usr/bin/env python3
"""Prints the transitive import closure of the root protos, one path a line.

Imports that resolve to the compiler's own well-known types (google/protobuf/)
are left out: they come with libprotobuf.
"""
import os
import re
import sys

IMPORT = re.compile(r'^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;', re.M)


def main():
    roots_file, *include_dirs = sys.argv[1:]
    with open(roots_file) as f:
        pending = [l.strip() for l in f if l.strip() and not l.startswith('#')]
    seen = set()
    while pending:
        path = pending.pop()
        if path in seen or path.startswith('google/protobuf/'):
            continue
        for d in include_dirs:
            full = os.path.join(d, path)
            if os.path.exists(full):
                break
        else:
            sys.exit(f'closure.py: {path} not found in {include_dirs}')
        seen.add(path)
        with open(full) as f:
            pending.extend(IMPORT.findall(f.read()))
    print('\n'.join(sorted(seen)))


if __name__ == '__main__':
    main()
