import type { KnockRuleModel } from './model.js';
import type { Family } from '../layout.js';
import { knockRules, LOG_PREFIX, quoteArgument, RECENT_LISTS, xtFloodNote, xtStaticKeys } from './xtables.js';
import { describeKeys, describeLayouts, manualKnocks } from './describe.js';
import { hereDocument, ifBlock, indent } from '../shell.js';

export const XT_CHAINS = { knock: 'knock', knockOk: 'knock-ok' } as const;

/**
 * Each family's program, the shell variable the scripts keep it in, and the environment variable
 * that picks another variant of it (iptables-legacy, iptables-nft).
 */
export const XT_TOOLS: Readonly<
  Record<Family, { readonly tool: string; readonly variable: string; readonly env: string }>
> = {
  ipv4: { tool: 'iptables', variable: 'ipt', env: 'IPTABLES' },
  ipv6: { tool: 'ip6tables', variable: 'ip6t', env: 'IP6TABLES' },
};

/** The family's program in the variant `tool` names: iptables-legacy gives ip6tables-legacy for IPv6. */
export function xtTool(family: Family, tool: string | undefined): string {
  return `${XT_TOOLS[family].tool}${/-(legacy|nft)$/.exec(tool ?? '')?.[0] ?? ''}`;
}

/** The jump into pingknock's chain, as iptables-save prints it. */
const SAVED_JUMP = `-A INPUT -j ${XT_CHAINS.knock}`;

function jumpRemoval(family: Family): string {
  return `while "$${XT_TOOLS[family].variable}" -w -D INPUT -j ${XT_CHAINS.knock} 2>/dev/null; do :; done\n`;
}

function chainsRemoval(family: Family): string {
  const ipt = `"$${XT_TOOLS[family].variable}"`;
  const emptied = ifBlock([
    [`${ipt} -w -n -L "$chain" >/dev/null 2>&1`, `${ipt} -w -F "$chain"\n${ipt} -w -X "$chain"\n`],
  ]);
  return `for chain in ${XT_CHAINS.knock} ${XT_CHAINS.knockOk}; do\n${indent(emptied)}done\n`;
}

/** Takes the family's jump and both chains away, and nothing else. */
export function xtRemoval(family: Family): string {
  return `${jumpRemoval(family)}${chainsRemoval(family)}`;
}

/**
 * Saves pingknock's own part of the family's filter table, its chains and its jump, to `file`
 * (empty when there is none), for `xtRestoreOwn`: a rollback that restored the whole table would
 * also take back what others added since, a fail2ban ban say.
 */
export function xtSaveOwn(family: Family, file: string): string {
  const { knock, knockOk } = XT_CHAINS;
  const own = [`:${knock} .*`, `:${knockOk} .*`, `-A ${knock} .*`, `-A ${knockOk} .*`, SAVED_JUMP]
    .map((line) => `-e '${line}'`)
    .join(' ');
  return `filter=$("$${XT_TOOLS[family].variable}-save" -t filter)
printf '%s\\n' "$filter" | grep -x ${own} >${file} || [ $? -eq 1 ]
`;
}

/**
 * Puts back what `xtSaveOwn` saved in `file`. Loading adds the jump only where it is missing, so a
 * jump that was there before is still in its place and stays; one that was not goes. Declaring a
 * chain in a `--noflush` restore empties it, so the saved rules replace the applied ones; chains
 * that were not there go (they come and go together: `knock` jumps to `knock-ok`).
 */
export function xtRestoreOwn(family: Family, file: string): string {
  const restore =
    `{ echo '*filter'; grep -vxF -e '${SAVED_JUMP}' ${file}; echo COMMIT; } | ` +
    `"$${XT_TOOLS[family].variable}-restore" -w --noflush\n`;
  const jump = ifBlock([[`! grep -qxF -e '${SAVED_JUMP}' ${file}`, jumpRemoval(family)]]);
  return `${jump}${ifBlock([[`grep -q '^:' ${file}`, restore]], chainsRemoval(family))}`;
}

/**
 * Renders the model as a POSIX sh script in the seed's layout, for each of the model's families
 * (iptables for IPv4, ip6tables for IPv6): chain `knock` (the test) and chain `knock-ok` (what a
 * knocked host may do), jumped from the top of INPUT. Each family loads through one
 * `*-restore --noflush`, which replaces both chains atomically, so a rerun changes nothing.
 */
export function renderIptables(model: KnockRuleModel): string {
  xtStaticKeys(model);
  const { families } = model;
  const tools = families.map((family) => XT_TOOLS[family]);
  const { knock, knockOk } = XT_CHAINS;
  const and = (words: readonly string[]): string => words.join(' and ');
  const variant = (suffix: string): string =>
    `${tools.map(({ env, tool }) => `${env}=${tool}${suffix}`).join(' ')} sh FILE`;
  const programs = and(tools.map(({ tool }) => tool));
  const restores = and(tools.map(({ tool }) => `one ${tool}-restore`));
  const icmp = and(families.map((family) => (family === 'ipv6' ? 'ICMPv6' : 'ICMP')));
  const lists = `list${families.length > 1 ? 's' : ''} ${and(families.map((family) => `"${RECENT_LISTS[family]}"`))}`;
  return `#!/bin/sh
# pingknock rules for ${programs}: TCP port ${model.port} opens only to hosts that knocked with a ping.
#
# What it does: chain \`${knock}\`, jumped from the top of INPUT, looks for the secret in ${icmp} echo
# requests at its exact place, remembers the sender for ${model.windowSeconds} s (\`recent\` ${lists}),
# logs "${LOG_PREFIX}" and accepts the ping so it is answered.
${xtFloodNote(model)}
# Where the secret is looked for: ${describeLayouts(model)}.
# Keys: ${describeKeys(model)}.
# Port ${model.port}: established connections are kept, new ones from a knocked address go to chain
# \`${knockOk}\`, which accepts them, and all others are dropped.
#
# Load:    sh FILE          (${variant('-legacy')} or ${variant('-nft')} picks the variant)
#          Both chains are replaced in ${restores}: loading again changes nothing.
# Remove:  sh FILE remove
# Knock by hand, without pingknock:
${manualKnocks(model, families).join('\n')}
set -eu
${tools.map(({ variable, env, tool }) => `${variable}=\${${env}:-${tool}}`).join('\n')}
case \${1:-load} in
load)
${families.map((family) => loadFamily(model, family)).join('')}	;;
remove)
${indent(families.map(xtRemoval).join(''))}	;;
*)
	echo "usage: sh $0 [load|remove]" >&2
	exit 2
	;;
esac
`;
}

/** The load of one family: both chains and, when it is missing, the jump, in one restore. */
function loadFamily(model: KnockRuleModel, family: Family): string {
  const { knock, knockOk } = XT_CHAINS;
  const ipt = XT_TOOLS[family].variable;
  const rules = knockRules(model, family, { knock, knockedTarget: knockOk }).map(
    (args) => `-A ${knock} ${args.map(quoteArgument).join(' ')}`,
  );
  // Expanded: $jump is the script's own.
  const restore = hereDocument(
    `"$${ipt}-restore" -w --noflush`,
    [
      `*filter`,
      `:${knock} - [0:0]`,
      `:${knockOk} - [0:0]`,
      ...rules,
      `-A ${knockOk} -p tcp --dport ${model.port} -j ACCEPT`,
      '$jump',
      'COMMIT',
      '',
    ].join('\n'),
    'EOF',
    'expand',
  );
  return indent(`jump='-I INPUT 1 -j ${knock}'
if "$${ipt}" -w -C INPUT -j ${knock} 2>/dev/null; then jump=; fi
${restore}`);
}
