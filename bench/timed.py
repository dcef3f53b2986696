#!/usr/bin/env python3
"""Runs one program for bench/measure.ts and measures it from the outside.

Usage: timed.py [--pipes | --fdpass] PROGRAM [ARG...]

The program's stdin and stdout are /dev/null, its stderr is ours. With --pipes they are pipes, as
ssh gives its ProxyCommand: stdin ends at once (EOF), stdout is read and thrown away. With
--fdpass both are one end of a UNIX socketpair, as ssh gives it with ProxyUseFdpass yes, and this
reads the one message ssh reads there (one byte and a descriptor), closes what came, and then
waits for the program, as ssh does. Prints one line on stdout:

    <exit status> <wall ms> <cpu ms> <max rss KiB> <fork, ns since epoch> <exit, ns since epoch>

followed, with --fdpass, by ` fd` when a descriptor came and ` nofd` when none did.

wall: fork to the program reaped (monotonic clock; this interpreter's own start-up is outside it).
cpu: user + system time of the program and of all its descendants: this process is a child
subreaper, so what the program leaves behind (ssh does not wait for its ProxyCommand) is reparented
here and reaped (for up to 10 s) and counted too. max rss: the largest peak resident set among them.
CPU time shrugs off most of what other load on the machine does to wall time.
"""
import ctypes
import os
import signal
import socket
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def on_alarm(*_: object) -> None:
    raise TimeoutError


def main() -> None:
    argv = sys.argv[1:]
    mode = argv[0] if argv[:1] in (["--pipes"], ["--fdpass"]) else None
    if mode is not None:
        argv = argv[1:]
    if mode == "--pipes":
        stdin_read, stdin_write = os.pipe()
        stdout_read, stdout_write = os.pipe()
    elif mode == "--fdpass":
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        stdin_read = stdout_write = theirs.fileno()
    else:
        stdin_read = stdout_write = os.open(os.devnull, os.O_RDWR)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    started = time.monotonic_ns()
    started_real = time.time_ns()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(stdin_read, 0)
            os.dup2(stdout_write, 1)
            os.execvp(argv[0], argv)
        except OSError as error:
            os.write(2, f"timed.py: {argv[0]}: {error}\n".encode())
        os._exit(127)
    passed = ""
    if mode == "--pipes":
        for fd in (stdin_read, stdin_write, stdout_write):
            os.close(fd)
        while os.read(stdout_read, 65536):
            pass
    elif mode == "--fdpass":
        theirs.close()
        _, fds, _, _ = socket.recv_fds(ours, 1, 1)
        for fd in fds:
            os.close(fd)
        passed = " fd" if fds else " nofd"
        # A program that did not pass the socket may be relaying on it: this end's close ends that.
        ours.close()
    _, status, usage = os.wait4(pid, 0)
    wall_ms = (time.monotonic_ns() - started) / 1e6
    ended_real = time.time_ns()
    cpu_ms = (usage.ru_utime + usage.ru_stime) * 1000
    max_rss = usage.ru_maxrss
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(10)
    while True:
        try:
            _, _, orphan = os.wait4(-1, 0)
        except (ChildProcessError, TimeoutError):
            break
        cpu_ms += (orphan.ru_utime + orphan.ru_stime) * 1000
        max_rss = max(max_rss, orphan.ru_maxrss)
    code = os.waitstatus_to_exitcode(status)
    print(f"{code} {wall_ms:.3f} {cpu_ms:.3f} {max_rss} {started_real} {ended_real}{passed}")


if __name__ == "__main__":
    main()
