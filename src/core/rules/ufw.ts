import type { KnockRuleModel } from './model.js';
import type { Family } from '../layout.js';
import { knockRules, quoteArgument, xtFloodNote, xtStaticKeys } from './xtables.js';
import { describeKeys, describeLayouts, manualKnocks } from './describe.js';

/** ufw's own chain for hand-written rules that run before its generated ones, and its file. */
export const UFW_TARGETS: Readonly<Record<Family, { chain: string; file: string; echoAccept: string }>> = {
  ipv4: {
    chain: 'ufw-before-input',
    file: '/etc/ufw/before.rules',
    echoAccept: '-A ufw-before-input -p icmp --icmp-type echo-request -j ACCEPT',
  },
  ipv6: {
    chain: 'ufw6-before-input',
    file: '/etc/ufw/before6.rules',
    echoAccept: '-A ufw6-before-input -p icmpv6 --icmpv6-type echo-request -j ACCEPT',
  },
};

/** ufw's rules files by path, each with pingknock's block in place (or taken out, for remove). */
export interface UfwFiles {
  readonly [path: string]: string;
}

const BEGIN = '# BEGIN pingknock';
const END = '# END pingknock';

/**
 * The block to paste into ufw's before(6).rules, in ufw's own (iptables-restore) syntax. It must
 * sit above the stock line that accepts every echo request, or that line answers the knock
 * before the knock is seen. A knocked host is accepted right here, so the port must not also be
 * opened with `ufw allow`.
 */
export function renderUfwBlock(model: KnockRuleModel, family: Family): string {
  const { chain } = UFW_TARGETS[family];
  const rules = knockRules(model, family, { knock: chain, knockedTarget: 'ACCEPT' }).map(
    (args) => `-A ${chain} ${args.map(quoteArgument).join(' ')}`,
  );
  return [
    BEGIN,
    `# knock: ${describeLayouts(model)}; window ${model.windowSeconds} s; port ${model.port}`,
    `# keys: ${describeKeys(model)}`,
    ...rules,
    END,
    '',
  ].join('\n');
}

/** The printable form: the blocks, each with where exactly it goes and how to undo it. */
export function renderUfw(model: KnockRuleModel): string {
  xtStaticKeys(model);
  const sections = model.families.map((family) => {
    const { file, echoAccept } = UFW_TARGETS[family];
    return `# ---- for ${file} (${family}) ----
# Paste the block below into ${file}, in the *filter section, directly ABOVE the line
#   ${echoAccept}
# (the stock line that answers every ping: above it, the knock is seen first).
${renderUfwBlock(model, family)}`;
  });
  return `# pingknock rules for ufw: TCP port ${model.port} opens only to hosts that knocked with a ping.
#
# What it does: an ICMP echo request carrying the secret at its exact place puts its sender on a
# \`recent\` list for ${model.windowSeconds} s, is logged ("KNOCK-OK: ") and answered. Port ${model.port}: established
# connections are kept, new ones from a knocked address accepted, all others dropped.
# Where the secret is looked for: ${describeLayouts(model)}.
# Keys: ${describeKeys(model)}.
${xtFloodNote(model)}
# Do not also open the port with \`ufw allow\`; the knock is what opens it.
#
# Load:    paste each block where it says, then: ufw reload    (or: pingknock rules --backend ufw --apply)
# Remove:  delete the lines from "${BEGIN}" to "${END}", then: ufw reload
# Knock by hand, without pingknock:
${manualKnocks(model, ['ipv4']).join('\n')}
#
${sections.join('\n')}`;
}

/**
 * Puts the block into a before(6).rules text: replaces an earlier pingknock block if there is one,
 * else inserts it above the stock echo-request accept, else above the filter table's COMMIT.
 * Every other byte stays as it was.
 */
export function insertUfwBlock(rulesFile: string, block: string, family: Family): string {
  const without = removeUfwBlock(rulesFile);
  const lines = splitKeepingEnds(without);
  const echo = lines.findIndex((line) => line.trim() === UFW_TARGETS[family].echoAccept);
  const at = echo >= 0 ? echo : filterCommitIndex(lines);
  if (at < 0) {
    throw new RangeError(`no *filter section with COMMIT in ${UFW_TARGETS[family].file}`);
  }
  const newline = lines.some((line) => line.endsWith('\r\n')) ? '\r\n' : '\n';
  return [...lines.slice(0, at), block.replaceAll('\n', newline), ...lines.slice(at)].join('');
}

/**
 * ufw's before(6).rules as read (path -> text), each with pingknock's block for its family put in;
 * a family whose file was not read is left out.
 */
export function withUfwBlocks(files: Readonly<Record<string, string>>, model: KnockRuleModel): UfwFiles {
  const edited: Record<string, string> = {};
  for (const family of model.families) {
    const { file } = UFW_TARGETS[family];
    const text = files[file];
    if (text !== undefined) edited[file] = insertUfwBlock(text, renderUfwBlock(model, family), family);
  }
  return edited;
}

/** ufw's before(6).rules as read (path -> text), each with pingknock's block taken out. */
export function withoutUfwBlocks(files: Readonly<Record<string, string>>): UfwFiles {
  return Object.fromEntries(Object.entries(files).map(([file, text]) => [file, removeUfwBlock(text)]));
}

/** Takes pingknock's block (and only it) out of a before(6).rules text. */
export function removeUfwBlock(rulesFile: string): string {
  const lines = splitKeepingEnds(rulesFile);
  const begin = lines.findIndex((line) => line.trim() === BEGIN);
  const end = lines.findIndex((line, index) => index > begin && line.trim() === END);
  if (begin < 0 || end < 0) return rulesFile;
  return [...lines.slice(0, begin), ...lines.slice(end + 1)].join('');
}

function splitKeepingEnds(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

function filterCommitIndex(lines: readonly string[]): number {
  const filter = lines.findIndex((line) => line.trim() === '*filter');
  return filter < 0 ? -1 : lines.findIndex((line, index) => index > filter && line.trim() === 'COMMIT');
}
