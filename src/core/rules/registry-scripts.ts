/**
 * The server's key list (registry.ts) on the server: read it, and replace it only if it is still
 * the one read (compare-and-swap on its SHA-256), so that two clients changing keys at once
 * cannot drop each other's: the later one finds it changed, and is rolled back.
 */

import { hereDocument, ifBlock, shellQuote } from '../shell.js';
import { replaceStep, TRUST_FUNCTIONS } from './trusted.js';
import { REGISTRY_FILE } from './registry.js';

/** Exit code of `registryReadScript` on a server without a key list. */
export const NO_REGISTRY_EXIT = 26;
/** Exit code of `registryCommitStep` when the key list is not the one read. */
export const REGISTRY_CHANGED_EXIT = 25;

export function registryPath(persistDir: string): string {
  return `${persistDir}/${REGISTRY_FILE}`;
}

/** The persist folder's checks (UNSAFE_EXIT: nothing changed), and `$registry` set. */
function registryPrologue(persistDir: string): string {
  return `set -eu
umask 077
persist=${shellQuote(persistDir)}
registry=${shellQuote(registryPath(persistDir))}
${TRUST_FUNCTIONS}trusted_dir 'the persist folder' "$persist"
unlinked "$registry"
`;
}

/** Prints the key list, exactly as kept; exits NO_REGISTRY_EXIT when there is none, UNSAFE_EXIT for a link. */
export function registryReadScript(persistDir: string): string {
  return `${registryPrologue(persistDir)}${ifBlock([['[ ! -f "$registry" ]', `exit ${NO_REGISTRY_EXIT}\n`]])}\
cat -- "$registry"
`;
}

/** registryCommitStep as a script of its own: to put a key list back when what followed its commit failed. */
export function registryWriteScript(persistDir: string, expectedHash: string, next: string | undefined): string {
  return `${registryPrologue(persistDir)}${registryCommitStep(persistDir, expectedHash, next)}`;
}

/**
 * Whole lines for a `sh -e` script: when the key list's hash is still `expectedHash`
 * (registryHash), replaces it atomically with `next` (private to root), or removes it when
 * `next` is undefined; else exits REGISTRY_CHANGED_EXIT and changes nothing. The folder was
 * checked by the script's caller (persistCheckScript), before anything changed.
 */
export function registryCommitStep(persistDir: string, expectedHash: string, next: string | undefined): string {
  const changed = `echo "the key list $registry changed since it was read" >&2\nexit ${REGISTRY_CHANGED_EXIT}\n`;
  const write =
    next === undefined
      ? 'rm -f "$registry"\n'
      : replaceStep('"$registry"', hereDocument('cat >"$new"', next, 'PINGKNOCK_REGISTRY'));
  return `registry=${shellQuote(registryPath(persistDir))}
found=none
${ifBlock([['[ -f "$registry" ]', 'found=$(sha256sum <"$registry")\nfound=${found%% *}\n']])}\
${ifBlock([[`[ "$found" != ${shellQuote(expectedHash)} ]`, changed]])}${write}`;
}
