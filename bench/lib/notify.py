#!/usr/bin/env python3
"""A stand-in for systemd's notification socket, for timing start-up to READY=1.

usage: notify.py SOCKET_PATH

Binds an AF_UNIX datagram socket at SOCKET_PATH (Node cannot bind one), prints "listening"
and then one line per datagram: "<CLOCK_MONOTONIC ns> <message with newlines as |>".
Node's process.hrtime reads the same clock, so the caller can subtract its spawn time.
Exits when stdin closes.
"""
import os
import selectors
import socket
import sys
import time


def main() -> int:
    path = sys.argv[1]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ)
    sel.register(sys.stdin, selectors.EVENT_READ)
    print("listening", flush=True)
    while True:
        for key, _ in sel.select():
            if key.fileobj is s:
                msg = s.recv(65536)
                t = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
                print(f"{t} {msg.decode('utf-8', 'replace').strip().replace(chr(10), '|')}", flush=True)
            elif not sys.stdin.buffer.read1(4096):
                os.unlink(path)
                return 0


if __name__ == "__main__":
    sys.exit(main())
