/**
 * Which firewall a server uses, and which backends hold pingknock's rules there: scripts for
 * `pingknock enroll` and `unenroll`, which run them over ssh.
 */

import { hereDocument, ifBlock, shellQuote } from '../shell.js';
import { PATTERN_BYTES } from '../layout.js';
import { SLOTS_PER_DAY } from '../rolling.js';
import { buildRuleModel, type RollingKey, type StaticKey } from './model.js';
import { NFT_TABLE, renderNftables } from './nftables.js';
import { XT_CHAINS } from './iptables.js';
import type { Backend } from './render.js';
import { UFW_TARGETS } from './ufw.js';

/** Exit code of `detectBackendScript` when the server has no firewall tool that works. */
export const NO_FIREWALL_EXIT = 23;

/** The backends `pingknock enroll` sets up: one per kind of server firewall. */
export const ENROLL_BACKENDS = ['nftables', 'iptables', 'ufw'] as const satisfies readonly Backend[];
export type EnrollBackend = (typeof ENROLL_BACKENDS)[number];
/** `auto`: enroll asks the server (an active ufw, else nftables, else iptables); unenroll takes what enroll used. */
export const ENROLL_BACKEND_CHOICES = ['auto', ...ENROLL_BACKENDS] as const;
export type EnrollBackendChoice = (typeof ENROLL_BACKEND_CHOICES)[number];

/**
 * Prints the firewall the server uses. An active ufw comes first: it drives iptables or nftables
 * itself, and rules added beside it would be lost on its next reload. Else nft when it can read
 * the ruleset (present and permitted), else iptables. `LC_ALL=C` keeps ufw's status in English.
 */
export function detectBackendScript(): string {
  return `set -eu
${ifBlock(
  [
    [`command -v ufw >/dev/null 2>&1 && LC_ALL=C ufw status 2>/dev/null | grep -q '^Status: active'`, 'echo ufw\n'],
    ['command -v nft >/dev/null 2>&1 && nft list ruleset >/dev/null 2>&1', 'echo nftables\n'],
    ['command -v iptables >/dev/null 2>&1 && iptables -w -n -L INPUT >/dev/null 2>&1', 'echo iptables\n'],
  ],
  `echo "found no firewall tool that works here: nft, iptables or an active ufw" >&2\nexit ${NO_FIREWALL_EXIT}\n`,
)}`;
}

/**
 * Prints, one a line, each backend that may hold pingknock's rules on the server: nftables when
 * its table is there, iptables when its chain is (for IPv4 or IPv6; a missing program is no
 * chain), ufw when ufw's before.rules exists (whether the block is in it is decided from the
 * file's text, with the same code that removes it).
 */
export function installedBackendsScript(): string {
  return `set -eu
if command -v nft >/dev/null 2>&1 && nft list table inet ${NFT_TABLE} >/dev/null 2>&1; then echo nftables; fi
if iptables -w -n -L ${XT_CHAINS.knock} >/dev/null 2>&1 || \
ip6tables -w -n -L ${XT_CHAINS.knock} >/dev/null 2>&1; then echo iptables; fi
if command -v ufw >/dev/null 2>&1 && [ -f ${shellQuote(UFW_TARGETS.ipv4.file)} ]; then echo ufw; fi
`;
}

/** Exit code of `rollingProbeScript` when this nft cannot load one-time knocks. */
export const OLD_NFT_EXIT = 24;
/** What to do about it, for the message of whoever ran the probe. */
export const OLD_NFT_ADVICE = 'upgrade nftables (1.0.4 or later), or use static knocks (--static)';

/**
 * Checks (`nft -c`, which changes nothing) that this nft loads a ruleset with one-time keys.
 * nft 1.0.2, which Ubuntu 22.04 ships, cannot declare a set keyed on raw payload (`typeof
 * @th,...`), and 1.0.4 can. The same table with a static key is checked first: when that fails
 * too, the cause is not the version (no permission, no nf_tables in the kernel), and the script
 * fails with nft's own message rather than OLD_NFT_EXIT.
 */
export function rollingProbeScript(): string {
  const settings = { port: 22, windowSeconds: 60 };
  const staticRules = renderNftables(buildRuleModel({ ...settings, keys: [PROBE_STATIC] }));
  const rollingRules = renderNftables(buildRuleModel({ ...settings, keys: [PROBE_ROLLING] }));
  const check = (rules: string): string => `out=$(${hereDocument('nft -c -f /dev/stdin 2>&1', rules, 'PROBE')})`;
  return `set -eu
if ! command -v nft >/dev/null 2>&1; then
	echo "nft is not installed here" >&2
	exit 1
fi
${ifBlock([[`! ${check(staticRules)}`, 'printf \'%s\\n\' "$out" | tail -n 3 >&2\nexit 1\n']])}${ifBlock([
    [
      `! ${check(rollingRules)}`,
      `printf '%s\\n' "$out" | tail -n 3 >&2
echo "$(nft --version 2>&1) cannot load one-time knocks (sets keyed on raw payload): ${OLD_NFT_ADVICE}" >&2
exit ${OLD_NFT_EXIT}
`,
    ],
  ])}`;
}

const PROBE_PATTERN = '0'.repeat(PATTERN_BYTES * 2);
const PROBE_STATIC: StaticKey = { kind: 'static', name: 'probe', patternHex: PROBE_PATTERN };
/** One day of the same pattern in every slot: enough for every kind of rule and set the real ruleset has. */
const PROBE_ROLLING: RollingKey = {
  kind: 'rolling',
  name: 'probe',
  firstDay: 0,
  days: 1,
  patterns: [Array.from({ length: SLOTS_PER_DAY }, () => PROBE_PATTERN)],
};
