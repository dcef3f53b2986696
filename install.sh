#!/bin/sh
# Takes a fresh Debian/Ubuntu machine to a working `pingknock` on the PATH.
#   ./install.sh          ping (iputils) if missing, Node packages, the build, /usr/local/bin/pingknock
#   ./install.sh --lab    also what the demo, the tests and the benchmarks need:
#                         iptables, nftables, ufw, openssh-server, openssh-client, rsync, iproute2,
#                         netcat, python3 (a raw-socket knock sender for the tests), sudo,
#                         ansible-core and python3-fabric (clients the tests take through the knock)
# As root it does everything itself; as another user, the steps that need root (installing packages,
# linking into a folder the user cannot write) go through sudo, and it says so.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
lab=no
bindir=/usr/local/bin
while [ $# -gt 0 ]; do
	case "$1" in
	--lab) lab=yes ;;
	--bindir) shift; bindir=${1:?--bindir needs a folder} ;;
	-h | --help) sed -n '2,7p' "$0"; exit 0 ;;
	*) echo "install.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
	esac
	shift
done

say() { printf 'install.sh: %s\n' "$*" >&2; }

# Only the steps that need root go through sudo: the Node packages and the build stay the user's.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		say "through sudo (this is not root): $*"
		sudo "$@"
	else
		say "needs root for: $*; sudo is not installed, so run ./install.sh as root"
		exit 1
	fi
}

# Debian package -> a program it provides (or, for a Python module, an absolute path it installs);
# only missing ones are installed.
wanted="iputils-ping:ping"
if [ "$lab" = yes ]; then
	wanted="$wanted iptables:iptables nftables:nft ufw:ufw openssh-server:sshd openssh-client:ssh rsync:rsync iproute2:ip netcat-openbsd:nc python3:python3 sudo:sudo"
	wanted="$wanted ansible-core:/usr/bin/ansible python3-fabric:/usr/lib/python3/dist-packages/fabric/__init__.py"
fi
missing=
for pair in $wanted; do
	package=${pair%%:*}
	program=${pair#*:}
	case $program in
	/*) [ -e "$program" ] && continue ;;
	esac
	if ! PATH="$PATH:/usr/sbin:/sbin" command -v "$program" >/dev/null 2>&1; then
		missing="$missing $package"
	fi
done
if [ -n "$missing" ]; then
	say "installing:$missing"
	# Through env: sudo would drop an exported variable.
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	# shellcheck disable=SC2086 # word splitting of the package list is intended
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if ! command -v node >/dev/null 2>&1; then
	say "Node.js >= 20.19 is required and not installed (see https://nodejs.org or your distribution's nodejs package)"
	exit 1
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
	say "Node.js >= 20.19 is required; this is $(node --version)"
	exit 1
fi

cd "$here"
say "installing Node packages and building"
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build

# The build's launcher starts this machine's node directly (no /usr/bin/env hop per connection).
if mkdir -p "$bindir" 2>/dev/null && [ -w "$bindir" ]; then
	ln -sf "$here/dist/bin/pingknock" "$bindir/pingknock"
else
	as_root mkdir -p "$bindir"
	as_root ln -sf "$here/dist/bin/pingknock" "$bindir/pingknock"
fi
say "pingknock is $bindir/pingknock ($("$bindir/pingknock" --version))"
