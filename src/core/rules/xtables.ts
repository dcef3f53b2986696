import type { KnockRuleModel } from './model.js';
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

/** Rules for `chains.knock`, each as iptables arguments after `-A CHAIN`. */
export function knockRules(model: KnockRuleModel, family: Family, chains: XtChains): string[][] {
  const list = RECENT_LISTS[family];
  const port = String(model.port);
  const knocks = model.layouts.flatMap((layout) => {
    const knock = [...ECHO_REQUEST[family], '-m', 'u32', '--u32', u32Expression(model.patternHex, layout, family)];
    return [
      // LOG does not end the chain, so the knock is remembered and logged here, and accepted below.
      [...knock, '-m', 'recent', '--set', '--name', list, '--rsource', '-j', 'LOG', '--log-prefix', LOG_PREFIX, '--log-level', '5'],
      [...knock, '-j', 'ACCEPT'],
    ];
  });
  return [
    ...knocks,
    ['-p', 'tcp', '--dport', port, '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'],
    ['-p', 'tcp', '--dport', port, '-m', 'recent', '--rcheck', '--seconds', String(model.windowSeconds), '--name', list, '--rsource', '-j', chains.knockedTarget],
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
