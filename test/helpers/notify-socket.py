#!/usr/bin/env python3
# A stand-in for systemd's notification socket, for tests: binds an AF_UNIX SOCK_DGRAM
# socket at argv[1] (Node cannot bind one), and prints one JSON line per datagram:
#   {"t": <epoch ms when received>, "pid": <sender pid from SCM_CREDENTIALS>, "msg": "READY=1\n..."}
# The first line is {"listening": "<path>"} once the socket is bound. It exits when its
# stdin closes, so it never outlives the test process that spawned it.
import json
import os
import socket
import struct
import sys
import threading
import time


def watch_stdin():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def main():
    path = sys.argv[1]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    # SO_PASSCRED: the kernel attaches the sender's pid, uid and gid to every datagram, as
    # systemd sees them (NotifyAccess=main accepts only the main pid's messages).
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    s.bind(path)
    threading.Thread(target=watch_stdin, daemon=True).start()
    out = sys.stdout
    out.write(json.dumps({"listening": path}) + "\n")
    out.flush()
    creds_size = struct.calcsize("iII")
    while True:
        data, anc, _flags, _addr = s.recvmsg(65536, socket.CMSG_SPACE(creds_size))
        pid = None
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", cdata[:creds_size])[0]
        out.write(json.dumps({"t": time.time() * 1000, "pid": pid, "msg": data.decode("utf-8", "replace")}) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
