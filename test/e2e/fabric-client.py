"""Fabric as its users write it, reading the ssh config that `pingknock setup` wrote: for each
alias a Connection runs a command, puts a file and checks it; then one ThreadingGroup runs a
command on every alias at once, each session appending its SSH_CONNECTION to a log. Prints one
JSON object on stdout.
Usage: fabric-client.py SSH_CONFIG LOCAL_FILE REMOTE_DIR ALIAS..."""
import json
import sys

import fabric


def main() -> int:
    config_path, local_file, remote_dir, *aliases = sys.argv[1:]
    # Fabric reads ~/.ssh/config by default; a runtime path is what `fab -S FILE` gives.
    config = fabric.Config(runtime_ssh_path=config_path)
    report = {"connections": {}}
    for alias in aliases:
        with fabric.Connection(alias, config=config) as connection:
            remote = f"{remote_dir}/fabric-{alias}.bin"
            report["connections"][alias] = {
                "proxycommand": connection.ssh_config.get("proxycommand"),
                "ssh_connection": connection.run("printenv SSH_CONNECTION", hide=True).stdout.strip(),
            }
            connection.put(local_file, remote)
            report["connections"][alias]["sha256"] = connection.run(f"sha256sum {remote}", hide=True).stdout.split()[0]
    # Fabric keys a group's results by Connection, and Connections to the same host, user and
    # port are equal: aliases of one server share one entry. So each session logs for itself.
    group = fabric.ThreadingGroup(*aliases, config=config)
    try:
        results = group.run(f"printenv SSH_CONNECTION >>{remote_dir}/fabric-group.log", hide=True)
        report["group_results"] = len(results)
    finally:
        group.close()
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
