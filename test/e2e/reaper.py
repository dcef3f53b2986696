"""A subreaper (prctl PR_SET_CHILD_SUBREAPER) around the processes under test, so that what ends
below it is really reaped, whatever the machine's PID 1 does with orphans: a pid that stays after
the reaper is gone is a real leftover. It exits once nothing is left below it, with the exit code
of its first child, which it also reports on stderr. Usage: reaper.py MODE COMMAND...

MODE run: the first child is the command (ssh, say).
MODE parent-owns-pipes: the first child is a stand-in for ssh: it gives the command pipes of its
  own, which close when it dies, and on SIGTERM or SIGHUP it ends the command with SIGHUP before
  it exits, as ssh does with its ProxyCommand.
MODE parent-shares-pipes: the stand-in starts the command with the reaper's own stdin and stdout
  (the test's pipes), so they stay open when it dies: what `ssh -f` and ControlPersist do when
  they fork away from the ProxyCommand's parent and keep its pipes."""
import ctypes, os, signal, subprocess, sys
if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:
    sys.exit('reaper: prctl(PR_SET_CHILD_SUBREAPER) failed')
mode, command = sys.argv[1], sys.argv[2:]
if mode == 'run':
    first = subprocess.Popen(command).pid
else:
    first = os.fork()
    if first == 0:
        pipes = subprocess.PIPE if mode == 'parent-owns-pipes' else None
        child = subprocess.Popen(command, stdin=pipes, stdout=pipes)
        if mode == 'parent-owns-pipes':
            def like_ssh(signum, frame):
                child.send_signal(signal.SIGHUP)
                os._exit(128 + signum)
            signal.signal(signal.SIGTERM, like_ssh)
            signal.signal(signal.SIGHUP, like_ssh)
        child.wait()
        os._exit(0)
code = None
while True:
    try:
        pid, status = os.wait()
    except ChildProcessError:
        break
    if pid == first:
        code = os.waitstatus_to_exitcode(status)
        print('reaper: first child exited %d' % code, file=sys.stderr, flush=True)
sys.exit(0 if code is None else code if code >= 0 else 128 - code)
