import { FLOOD_LIMITS, newKnockerLimit, refreshAfterSeconds, type KnockRuleModel, type StaticKey } from './model.js';
import { PingknockError } from '../errors.js';
import type { Family, PingLayout } from '../layout.js';
import { IP_HEADER_BYTES, PATTERN_BYTES, transportByteOffset } from '../layout.js';

/**
 * The iptables form of the rule model, shared by the iptables/ip6tables script and the ufw snippet.
 *
 * The secret is matched with `u32` as four 32-bit words at one exact offset, not with `string`:
 * `--string --from/--to` counts from the IP header, so IPv4 options would shift it, and kernels
 * before 6.7 match any start position below `--to`, which let rotated secrets through. For IPv4,
 * `0>>22&0x3C@` jumps over the real header length; IPv6's header is a fixed 40 bytes (extension
 * headers are not followed: a knock carrying them does not match).
 */

export const RECENT_LISTS: Readonly<Record<Family, string>> = { ipv4: 'knocked', ipv6: 'knocked6' };
export const LOG_PREFIX = 'KNOCK-OK: ';

const ECHO_REQUEST: Readonly<Record<Family, readonly string[]>> = {
  ipv4: ['-p', 'icmp', '--icmp-type', 'echo-request'],
  ipv6: ['-p', 'ipv6-icmp', '--icmpv6-type', 'echo-request'],
};

/** The u32 test for the pattern at the layout's exact offset (and the layout's zero word). */
export function u32Expression(patternHex: string, layout: PingLayout, family: Family): string {
  if (!new RegExp(`^[0-9a-f]{${PATTERN_BYTES * 2}}$`).test(patternHex)) {
    throw new RangeError(`pattern must be ${PATTERN_BYTES * 2} lowercase hex digits`);
  }
  const words = patternHex.match(/.{8}/g) ?? [];
  const word = (payloadOffset: number, value: string): string => {
    const offset = transportByteOffset(payloadOffset);
    return family === 'ipv4' ? `0>>22&0x3C@${offset}=0x${value}` : `${IP_HEADER_BYTES.ipv6 + offset}=0x${value}`;
  };
  const zero = layout.zeroWordOffset === undefined ? [] : [word(layout.zeroWordOffset, '0')];
  return [...zero, ...words.map((value, index) => word(layout.patternOffset + index * 4, value))].join('&&');
}

export interface XtChains {
  /** Where the knock test goes. */
  readonly knock: string;
  /** Where a knocked host's connection is sent to be accepted. */
  readonly knockedTarget: string;
}

/** What a `recent` list holds by default (xt_recent's ip_list_tot); past it, the oldest is forgotten. */
export const XT_RECENT_CAPACITY = 100;

/**
 * The model's keys, all static: xt_recent remembers addresses, not patterns, so iptables cannot
 * refuse a one-time pattern's second use, and a one-time key is refused rather than made static.
 */
export function xtStaticKeys(model: KnockRuleModel): StaticKey[] {
  const rolling = model.keys.find((key) => key.kind === 'rolling');
  if (rolling !== undefined) {
    throw new PingknockError(
      'usage',
      `key ${rolling.name} is one-time (rolling), and iptables, ip6tables and ufw cannot hold one-time knocks: ` +
        'their recent lists remember addresses, not patterns. Use nftables, or a static key (--static)',
    );
  }
  return model.keys.filter((key): key is StaticKey => key.kind === 'static');
}

/**
 * The pace at which each knock rule puts knocks on a `recent` list. `-m limit` keeps one bucket
 * per rule, and there is one such rule per key and layout, so the list's capacity is shared out
 * among them: together they cannot push a real knocker off the list within one window.
 */
export function xtKnockLimit(model: KnockRuleModel): { readonly perMinute: number; readonly burst: number } {
  return newKnockerLimit(Math.floor(XT_RECENT_CAPACITY / knockRuleCount(model)), model.windowSeconds);
}

function knockRuleCount(model: KnockRuleModel): number {
  return Math.max(1, model.layouts.length * xtStaticKeys(model).length);
}

/** The flood bounds of knockRules, as comment lines for a rules file's header. */
export function xtFloodNote(model: KnockRuleModel): string {
  const perMinute = xtKnockLimit(model).perMinute * knockRuleCount(model);
  const { perSourcePerSecond } = FLOOD_LIMITS;
  return `# IPv6 knockers are remembered by their /64. Flood bounds: one source may knock ${perSourcePerSecond} times a
# second, and at most ${perMinute} knocks a minute (new or repeated) are put on a \`recent\` list, which
# holds ${XT_RECENT_CAPACITY} by default and forgets its oldest: beyond that a knocker still on the list is
# answered, others get no reply and knock again. For more people knocking at once, raise
# xt_recent's ip_list_tot (see the README).`;
}

/**
 * Rules for `chains.knock`, each as iptables arguments after `-A CHAIN`. Per key and layout: a source
 * knocking faster than FLOOD_LIMITS allows is dropped; one put on the list less than
 * refreshAfterSeconds ago is answered; at a pace that cannot push a real knocker off the list
 * within its window (xtKnockLimit), a knock is put on the list, new or refreshed, logged and
 * answered; beyond that pace a knocker still on the list is answered without being refreshed, and
 * any other knock is dropped: the client knocks again.
 */
export function knockRules(model: KnockRuleModel, family: Family, chains: XtChains): string[][] {
  const list = RECENT_LISTS[family];
  const port = String(model.port);
  const window = String(model.windowSeconds);
  const { perSourcePerSecond, perSourceBurst, ipv6Prefix } = FLOOD_LIMITS;
  const recent = (...test: string[]): string[] => [
    '-m',
    'recent',
    ...test,
    '--name',
    list,
    ...(family === 'ipv6' ? ['--mask', ipv6Prefix.mask] : []),
    '--rsource',
  ];
  const tooFast = [
    ...[
      '-m',
      'hashlimit',
      '--hashlimit-above',
      `${perSourcePerSecond}/sec`,
      '--hashlimit-burst',
      String(perSourceBurst),
      '--hashlimit-mode',
      'srcip',
    ],
    ...(family === 'ipv6' ? ['--hashlimit-srcmask', String(ipv6Prefix.length)] : []),
    ...['--hashlimit-name', `pk-${list}`],
  ];
  const pace = xtKnockLimit(model);
  const keyLayouts = xtStaticKeys(model).flatMap((key) => model.layouts.map((layout) => ({ key, layout })));
  const knocks = keyLayouts.flatMap(({ key, layout }) => {
    const knock = [...ECHO_REQUEST[family], '-m', 'u32', '--u32', u32Expression(key.patternHex, layout, family)];
    return [
      [...knock, ...tooFast, '-j', 'DROP'],
      [...knock, ...recent('--rcheck', '--seconds', String(refreshAfterSeconds(model.windowSeconds))), '-j', 'ACCEPT'],
      // LOG does not end the chain: the knock is remembered (or refreshed) and logged here, and
      // answered below. Only this rule changes the list, at the pace (see refreshAfterSeconds).
      [
        ...knock,
        '-m',
        'limit',
        '--limit',
        `${pace.perMinute}/min`,
        '--limit-burst',
        String(pace.burst),
        ...recent('--set'),
        '-j',
        'LOG',
        '--log-prefix',
        LOG_PREFIX,
        '--log-level',
        '5',
      ],
      [...knock, ...recent('--rcheck', '--seconds', window), '-j', 'ACCEPT'],
      [...knock, '-j', 'DROP'],
    ];
  });
  return [
    ...knocks,
    ['-p', 'tcp', '--dport', port, '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'],
    ['-p', 'tcp', '--dport', port, ...recent('--rcheck', '--seconds', window), '-j', chains.knockedTarget],
    ['-p', 'tcp', '--dport', port, '-j', 'DROP'],
  ];
}

/** Quotes one argument so that iptables-restore (and sh, were it to read it) takes it as one word. */
export function quoteArgument(argument: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(argument)) return argument;
  if (/["$`\\]/.test(argument)) {
    throw new RangeError(`cannot quote ${JSON.stringify(argument)}`);
  }
  return `"${argument}"`;
}
