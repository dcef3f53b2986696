import type { KnockRuleModel } from './model.js';
import type { Family } from '../layout.js';
import { knockRules, LOG_PREFIX, quoteArgument, RECENT_LISTS } from './xtables.js';
import { describeLayouts, manualKnock } from './describe.js';

export const XT_CHAINS = { knock: 'knock', knockOk: 'knock-ok' } as const;

/** Takes the jump and both chains away (and nothing else); `$ipt` names the iptables program. */
export const IPTABLES_REMOVAL = `while "$ipt" -w -D INPUT -j ${XT_CHAINS.knock} 2>/dev/null; do :; done
for chain in ${XT_CHAINS.knock} ${XT_CHAINS.knockOk}; do
	if "$ipt" -w -n -L "$chain" >/dev/null 2>&1; then
		"$ipt" -w -F "$chain"
		"$ipt" -w -X "$chain"
	fi
done`;

const TOOL: Readonly<Record<Family, string>> = { ipv4: 'iptables', ipv6: 'ip6tables' };

/**
 * Renders the model as a POSIX sh script in the seed's layout: chain `knock` (the test) and chain
 * `knock-ok` (what a knocked host may do), jumped from the top of INPUT. Loading goes through one
 * `iptables-restore --noflush`, which replaces both chains atomically, so a rerun changes nothing.
 */
export function renderIptables(model: KnockRuleModel, family: Family): string {
  const tool = TOOL[family];
  const { knock, knockOk } = XT_CHAINS;
  const rules = knockRules(model, family, { knock, knockedTarget: knockOk }).map(
    (args) => `-A ${knock} ${args.map(quoteArgument).join(' ')}`,
  );
  return `#!/bin/sh
# pingknock rules for ${tool}: TCP port ${model.port} opens only to hosts that knocked with a ping.
#
# What it does: chain \`${knock}\`, jumped from the top of INPUT, looks for the secret in ICMP${family === 'ipv6' ? 'v6' : ''} echo
# requests at its exact place, remembers the sender for ${model.windowSeconds} s (\`recent\` list "${RECENT_LISTS[family]}"),
# logs "${LOG_PREFIX}" and accepts the ping so it is answered.
# Where the secret is looked for: ${describeLayouts(model)}.
# Port ${model.port}: established connections are kept, new ones from a knocked address go to chain
# \`${knockOk}\`, which accepts them, and all others are dropped.
#
# Load:    sh FILE          (IPTABLES=${tool}-legacy sh FILE or IPTABLES=${tool}-nft sh FILE picks the variant)
#          Both chains are replaced in one ${tool}-restore: loading again changes nothing.
# Remove:  sh FILE remove
# Knock by hand, without pingknock:  ${manualKnock(model, family)}
set -eu
ipt=\${IPTABLES:-${tool}}
case \${1:-load} in
load)
	jump='-I INPUT 1 -j ${knock}'
	if "$ipt" -w -C INPUT -j ${knock} 2>/dev/null; then jump=; fi
	"$ipt-restore" -w --noflush <<EOF
*filter
:${knock} - [0:0]
:${knockOk} - [0:0]
${rules.join('\n')}
-A ${knockOk} -p tcp --dport ${model.port} -j ACCEPT
$jump
COMMIT
EOF
	;;
remove)
${IPTABLES_REMOVAL.replace(/^/gm, '\t')}
	;;
*)
	echo "usage: sh $0 [load|remove]" >&2
	exit 2
	;;
esac
`;
}
