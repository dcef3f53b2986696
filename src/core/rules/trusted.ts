/**
 * What the generated scripts check before they write as root in a folder they were given
 * (`--state-dir`, `--persist-dir`, ufw's). A folder that someone else owns or may write in, or a
 * link on the way to it, would let that someone choose what root overwrites (a link planted at a
 * file's name) and runs (the saved restore). So such folders are refused, so are links where
 * pingknock's files go, and new files are made anew rather than written through a name found.
 */

import { hereDocument } from '../shell.js';

/** Exit code of every script that refuses a folder or file it would not trust; nothing was changed. */
export const UNSAFE_EXIT = 24;

/**
 * The sh functions, for a script's prologue (after `set -eu` and `umask 077`):
 *
 * - `trusted_dir WHAT DIR [make]`: DIR and each folder above it, down from /, must belong to root
 *   (or to whoever runs the script, root for any firewall change) and not be a link. None may be
 *   writable by its group or others, except a sticky folder above DIR (/tmp): there only a name's
 *   owner can move or remove it, so what root made stays where it is. DIR itself never: others
 *   could put names in it first. With `make`, missing folders are made 0700 one at a time (mkdir
 *   fails on a planted link instead of following it); without, a missing one ends the check, as
 *   nothing below it can be used.
 * - `unlinked FILE...`: each is missing or a plain file, not a link to write or read through.
 * - `refuse MESSAGE`: says why on stderr and exits UNSAFE_EXIT.
 */
export const TRUST_FUNCTIONS = `me=$(id -u)
refuse() { printf '%s\\n' "$1" >&2; exit ${UNSAFE_EXIT}; }
trusted_dir() {
	case $2 in /*) ;; *) refuse "refusing $1 $2: it is not an absolute path" ;; esac
	at=/ below=\${2#/}
	while :; do
		if [ ! -e "$at" ] && [ ! -L "$at" ]; then
			[ -n "\${3-}" ] || return 0
			mkdir -m 700 -- "$at" || refuse "refusing $1 $2: cannot make $at"
		fi
		[ ! -L "$at" ] || refuse "refusing $1 $2: $at is a symbolic link"
		[ -d "$at" ] || refuse "refusing $1 $2: $at is not a folder"
		${hereDocument('read -r mode links owner rest', '$(ls -ldn -- "$at")', 'PINGKNOCK_LS', 'expand')}\
		[ "$owner" = 0 ] || [ "$owner" = "$me" ] || refuse "refusing $1 $2: $at belongs to user $owner, not to root"
		case $mode in
		d????w*|d???????w*)
			case $mode in ?????????[tT]*) [ -n "$below" ] ;; *) false ;; esac ||
				refuse "refusing $1 $2: $at may be written by its group or others"
			;;
		esac
		[ -n "$below" ] || return 0
		at=\${at%/}/\${below%%/*}
		case $below in */*) below=\${below#*/} ;; *) below= ;; esac
	done
}
unlinked() {
	for name; do
		[ ! -L "$name" ] || refuse "refusing $name: it is a symbolic link"
		[ ! -e "$name" ] || [ -f "$name" ] || refuse "refusing $name: it is not a plain file"
	done
}
`;

/**
 * Replaces the file `path` (a word for sh) with a fresh one made beside it by mktemp (a name no
 * one else has, 0600), which `fill` (whole lines) writes ("$new" names it), renamed over it: mv
 * replaces a link found at `path` instead of writing through it.
 */
export function replaceStep(path: string, fill: string): string {
  return `new=$(mktemp ${path}.XXXXXX)\n${fill}mv -f "$new" ${path}\n`;
}
