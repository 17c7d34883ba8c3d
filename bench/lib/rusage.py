#!/usr/bin/env python3
"""Run a command and report what the kernel accounted for it, as one JSON line.

usage: rusage.py OUT.json -- COMMAND [ARG ...]

The command inherits stdin, stdout and stderr. OUT.json gets the wall time from fork to
reap (time.monotonic), user and system CPU seconds, and ru_maxrss (KiB): wait4(2) reports
the largest resident set of the process and of the descendants it waited for, so a
`tar | zstd | curl` pipeline run by bash reports its largest single process. The timing
starts after Python itself is up, so its own start-up is not counted.
"""
import json
import os
import sys
import time


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.stderr.write(__doc__)
        return 2
    out, argv = sys.argv[1], sys.argv[3:]
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    wall = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status)
    with open(out, "w") as f:
        json.dump({"wall_s": wall, "user_s": ru.ru_utime, "sys_s": ru.ru_stime, "maxrss_kib": ru.ru_maxrss, "code": code}, f)
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
