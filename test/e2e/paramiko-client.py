"""Plain paramiko as its users write it: ~/.ssh/config through paramiko.SSHConfig, its
ProxyCommand through paramiko.ProxyCommand, then a command and an SFTP put. Prints one JSON
object on stdout, with what became of the proxy process once the client closed.
Usage: paramiko-client.py ALIAS LOCAL_FILE REMOTE_FILE"""
import json
import os
import sys
import time

import paramiko


def ended_without_reaping(pid: int, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if info is not None:
            return f"exit {info.si_status}" if info.si_code == os.CLD_EXITED else f"signal {info.si_status}"
        time.sleep(0.05)
    raise TimeoutError(f"the ProxyCommand (pid {pid}) still runs {seconds} s after the client closed")


def main() -> int:
    alias, local_file, remote_file = sys.argv[1:]
    config = paramiko.SSHConfig.from_path(os.path.expanduser("~/.ssh/config"))
    host = config.lookup(alias)
    sock = paramiko.ProxyCommand(host["proxycommand"]) if "proxycommand" in host else None
    client = paramiko.SSHClient()
    client.load_system_host_keys()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(
        host["hostname"],
        port=int(host.get("port", 22)),
        username=host.get("user"),
        key_filename=host.get("identityfile"),
        sock=sock,
        look_for_keys=False,
        allow_agent=False,
    )
    report = {"proxycommand": host.get("proxycommand")}
    _, stdout, _ = client.exec_command("printenv SSH_CONNECTION")
    report["ssh_connection"] = stdout.read().decode().strip()
    with client.open_sftp() as sftp:
        sftp.put(local_file, remote_file)
    _, stdout, _ = client.exec_command(f"sha256sum {remote_file}")
    report["sha256"] = stdout.read().decode().split()[0]
    client.close()
    if sock is not None:
        # paramiko ends its ProxyCommand with SIGTERM (its stdin never closed first) and never reads
        # its stderr. It sends SIGTERM again at exit, so the proxy is left unreaped here.
        report["proxy_end"] = ended_without_reaping(sock.process.pid, 10)
        report["proxy_stderr"] = sock.process.stderr.read().decode(errors="replace")
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
