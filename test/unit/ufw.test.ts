import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Family } from '../../src/core/layout.js';
import { buildRuleModel } from '../../src/core/rules/model.js';
import {
  insertUfwBlock,
  removeUfwBlock,
  renderUfw,
  renderUfwBlock,
  UFW_TARGETS,
  withoutUfwBlocks,
  withUfwBlocks,
} from '../../src/core/rules/ufw.js';
import { parseSecret } from '../../src/core/secret.js';

const secret = parseSecret('ABCDEFGHIJKLMNOP', 'test');
const model = buildRuleModel({ secret, port: 22, windowSeconds: 60 });
const modelV4 = buildRuleModel({ secret, port: 22, windowSeconds: 60, families: ['ipv4'] });

/** Reviewed line by line: secret ABCDEFGHIJKLMNOP, port 22, window 60 s, IPv4 only. */
const EXPECTED_UFW_IPV4 = `# pingknock rules for ufw: TCP port 22 opens only to hosts that knocked with a ping.
#
# What it does: an ICMP echo request carrying the secret at its exact place puts its sender on a
# \`recent\` list for 60 s, is logged ("KNOCK-OK: ") and answered. Port 22: established
# connections are kept, new ones from a knocked address accepted, all others dropped.
# Where the secret is looked for: Linux iputils ping: payload byte 16; BSD/macOS ping: payload byte 8.
# Keys: default (static).
# IPv6 knockers are remembered by their /64. Flood bounds: one source may knock 50 times a
# second, and at most 90 knocks a minute (new or repeated) are put on a \`recent\` list, which
# holds 100 by default and forgets its oldest: beyond that a knocker still on the list is
# answered, others get no reply and knock again. For more people knocking at once, raise
# xt_recent's ip_list_tot (see the README).
# Do not also open the port with \`ufw allow\`; the knock is what opens it.
#
# Load:    paste each block where it says, then: ufw reload    (or: pingknock rules --backend ufw --apply)
# Remove:  delete the lines from "# BEGIN pingknock" to "# END pingknock", then: ufw reload
# Knock by hand, without pingknock:
#   default: ping -c1 -p 4142434445464748494a4b4c4d4e4f50 HOST
#
# ---- for /etc/ufw/before.rules (ipv4) ----
# Paste the block below into /etc/ufw/before.rules, in the *filter section, directly ABOVE the line
#   -A ufw-before-input -p icmp --icmp-type echo-request -j ACCEPT
# (the stock line that answers every ping: above it, the knock is seen first).
# BEGIN pingknock
# knock: Linux iputils ping: payload byte 16; BSD/macOS ping: payload byte 8; window 60 s; port 22
# keys: default (static)
-A ufw-before-input -p icmp --icmp-type echo-request -m u32 \
--u32 "0>>22&0x3C@20=0x0&&0>>22&0x3C@24=0x41424344&&0>>22&0x3C@28=0x45464748&&0>>22&0x3C@32=0x494a4b4c&&\
0>>22&0x3C@36=0x4d4e4f50" -m hashlimit --hashlimit-above 50/sec --hashlimit-burst 100 --hashlimit-mode srcip \
--hashlimit-name pk-knocked -j DROP
-A ufw-before-input -p icmp --icmp-type echo-request -m u32 \
--u32 "0>>22&0x3C@20=0x0&&0>>22&0x3C@24=0x41424344&&0>>22&0x3C@28=0x45464748&&0>>22&0x3C@32=0x494a4b4c&&\
0>>22&0x3C@36=0x4d4e4f50" -m recent --rcheck --seconds 30 --name knocked --rsource -j ACCEPT
-A ufw-before-input -p icmp --icmp-type echo-request -m u32 \
--u32 "0>>22&0x3C@20=0x0&&0>>22&0x3C@24=0x41424344&&0>>22&0x3C@28=0x45464748&&0>>22&0x3C@32=0x494a4b4c&&\
0>>22&0x3C@36=0x4d4e4f50" -m limit --limit 45/min --limit-burst 5 -m recent --set --name knocked --rsource -j LOG \
--log-prefix "KNOCK-OK: " --log-level 5
-A ufw-before-input -p icmp --icmp-type echo-request -m u32 \
--u32 "0>>22&0x3C@20=0x0&&0>>22&0x3C@24=0x41424344&&0>>22&0x3C@28=0x45464748&&0>>22&0x3C@32=0x494a4b4c&&\
0>>22&0x3C@36=0x4d4e4f50" -m recent --rcheck --seconds 60 --name knocked --rsource -j ACCEPT
-A ufw-before-input -p icmp --icmp-type echo-request -m u32 \
--u32 "0>>22&0x3C@20=0x0&&0>>22&0x3C@24=0x41424344&&0>>22&0x3C@28=0x45464748&&0>>22&0x3C@32=0x494a4b4c&&\
0>>22&0x3C@36=0x4d4e4f50" -j DROP
-A ufw-before-input -p icmp --icmp-type echo-request -m u32 \
--u32 "0>>22&0x3C@16=0x41424344&&0>>22&0x3C@20=0x45464748&&0>>22&0x3C@24=0x494a4b4c&&0>>22&0x3C@28=0x4d4e4f50" \
-m hashlimit --hashlimit-above 50/sec --hashlimit-burst 100 --hashlimit-mode srcip --hashlimit-name pk-knocked -j DROP
-A ufw-before-input -p icmp --icmp-type echo-request -m u32 \
--u32 "0>>22&0x3C@16=0x41424344&&0>>22&0x3C@20=0x45464748&&0>>22&0x3C@24=0x494a4b4c&&0>>22&0x3C@28=0x4d4e4f50" \
-m recent --rcheck --seconds 30 --name knocked --rsource -j ACCEPT
-A ufw-before-input -p icmp --icmp-type echo-request -m u32 \
--u32 "0>>22&0x3C@16=0x41424344&&0>>22&0x3C@20=0x45464748&&0>>22&0x3C@24=0x494a4b4c&&0>>22&0x3C@28=0x4d4e4f50" \
-m limit --limit 45/min --limit-burst 5 -m recent --set --name knocked --rsource -j LOG --log-prefix "KNOCK-OK: " \
--log-level 5
-A ufw-before-input -p icmp --icmp-type echo-request -m u32 \
--u32 "0>>22&0x3C@16=0x41424344&&0>>22&0x3C@20=0x45464748&&0>>22&0x3C@24=0x494a4b4c&&0>>22&0x3C@28=0x4d4e4f50" \
-m recent --rcheck --seconds 60 --name knocked --rsource -j ACCEPT
-A ufw-before-input -p icmp --icmp-type echo-request -m u32 \
--u32 "0>>22&0x3C@16=0x41424344&&0>>22&0x3C@20=0x45464748&&0>>22&0x3C@24=0x494a4b4c&&0>>22&0x3C@28=0x4d4e4f50" -j DROP
-A ufw-before-input -p tcp --dport 22 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A ufw-before-input -p tcp --dport 22 -m recent --rcheck --seconds 60 --name knocked --rsource -j ACCEPT
-A ufw-before-input -p tcp --dport 22 -j DROP
# END pingknock
`;

/** The stock files of the installed ufw package: a missing one fails the test (readFileSync throws). */
function stock(family: Family): string {
  return readFileSync(UFW_TARGETS[family].file, 'utf8');
}

const FAMILIES: Family[] = ['ipv4', 'ipv6'];

describe('renderUfw', () => {
  it('renders the reviewed snippet for port 22, window 60, IPv4 only', () => {
    expect(renderUfw(modelV4)).toBe(EXPECTED_UFW_IPV4);
  });

  it('adds an IPv6 section for before6.rules, with ufw6-before-input, ICMPv6 and the list knocked6', () => {
    const text = renderUfw(model);
    expect(text.startsWith(EXPECTED_UFW_IPV4)).toBe(true);
    const v6 = text.slice(EXPECTED_UFW_IPV4.length);
    expect(v6.split('\n').slice(0, 5)).toEqual([
      '',
      '# ---- for /etc/ufw/before6.rules (ipv6) ----',
      '# Paste the block below into /etc/ufw/before6.rules, in the *filter section, directly ABOVE the line',
      '#   -A ufw6-before-input -p icmpv6 --icmpv6-type echo-request -j ACCEPT',
      '# (the stock line that answers every ping: above it, the knock is seen first).',
    ]);
    expect(v6.endsWith(renderUfwBlock(model, 'ipv6'))).toBe(true);
    const rules = v6.split('\n').filter((line) => line.startsWith('-A '));
    expect(rules).toHaveLength(13);
    expect(rules.every((line) => line.startsWith('-A ufw6-before-input '))).toBe(true);
    expect(rules.filter((line) => line.includes('-p ipv6-icmp --icmpv6-type echo-request'))).toHaveLength(10);
    // Every test of the list and every rate limit takes the knocker's /64.
    expect(rules.filter((line) => line.includes('-m recent '))).toHaveLength(7);
    expect(
      rules.filter((line) => line.includes('--name knocked6 --mask ffff:ffff:ffff:ffff:: --rsource ')),
    ).toHaveLength(7);
    expect(rules.filter((line) => line.includes('-m hashlimit '))).toHaveLength(2);
    expect(rules.filter((line) => line.includes(' --hashlimit-srcmask 64 --hashlimit-name pk-knocked6 '))).toHaveLength(
      2,
    );
    expect(v6).toContain('"60=0x0&&64=0x41424344&&68=0x45464748&&72=0x494a4b4c&&76=0x4d4e4f50"');
    expect(v6).not.toContain('0>>22');
  });

  it('accepts a knocked host right in the before chain (there is no knock-ok chain in ufw)', () => {
    const block = renderUfwBlock(model, 'ipv4');
    expect(block).toContain('--rcheck --seconds 60 --name knocked --rsource -j ACCEPT\n');
    expect(block).not.toContain('knock-ok');
  });

  it('substitutes port and window', () => {
    const block = renderUfwBlock(buildRuleModel({ secret, port: 2200, windowSeconds: 15 }), 'ipv6');
    expect([...block.matchAll(/--dport (\S+)/g)].map((match) => match[1])).toEqual(['2200', '2200', '2200']);
    // Per layout: remembered in the last half window (rounded up), then within the window; then the port.
    expect([...block.matchAll(/--seconds (\S+)/g)].map((match) => match[1])).toEqual(['8', '15', '8', '15', '15']);
    expect(block).toContain('; window 15 s; port 2200\n');
  });
});

describe('insertUfwBlock into the stock ufw files', () => {
  it.each(FAMILIES)('puts the block directly above the stock echo-request accept (%s)', (family) => {
    const original = stock(family);
    const block = renderUfwBlock(model, family);
    const result = insertUfwBlock(original, block, family);
    const lines = result.split('\n');
    const begin = lines.indexOf('# BEGIN pingknock');
    const end = lines.indexOf('# END pingknock');
    expect(begin).toBeGreaterThan(lines.indexOf('*filter'));
    expect(end).toBe(begin + block.split('\n').length - 2);
    expect(lines[end + 1]).toBe(UFW_TARGETS[family].echoAccept);
    // Exactly one echo-request accept in the input chain, and it comes after every knock rule.
    expect(lines.filter((line) => line === UFW_TARGETS[family].echoAccept)).toHaveLength(1);
  });

  it.each(FAMILIES)('changes no other byte: removing the block gives the original back (%s)', (family) => {
    const original = stock(family);
    const block = renderUfwBlock(model, family);
    const result = insertUfwBlock(original, block, family);
    expect(result).not.toBe(original);
    expect(removeUfwBlock(result)).toBe(original);
  });

  it.each(FAMILIES)('changes no other byte, checked by slicing at the echo-request line (%s)', (family) => {
    const original = stock(family);
    const block = renderUfwBlock(model, family);
    const result = insertUfwBlock(original, block, family);
    const at = original.indexOf(`\n${UFW_TARGETS[family].echoAccept}\n`) + 1;
    expect(at).toBeGreaterThan(0);
    expect(result.length).toBe(original.length + block.length);
    expect(result.slice(0, at)).toBe(original.slice(0, at));
    expect(result.slice(at, at + block.length)).toBe(block);
    expect(result.slice(at + block.length)).toBe(original.slice(at));
  });

  it.each(FAMILIES)('is idempotent: inserting twice gives what inserting once gives (%s)', (family) => {
    const original = stock(family);
    const block = renderUfwBlock(model, family);
    const once = insertUfwBlock(original, block, family);
    expect(insertUfwBlock(once, block, family)).toBe(once);
    expect(once.split('# BEGIN pingknock')).toHaveLength(2);
  });

  it.each(FAMILIES)('replaces an earlier block, wherever it was, instead of adding a second (%s)', (family) => {
    const original = stock(family);
    const old = renderUfwBlock(buildRuleModel({ secret, port: 2222, windowSeconds: 5 }), family);
    const block = renderUfwBlock(model, family);
    expect(insertUfwBlock(insertUfwBlock(original, old, family), block, family)).toBe(
      insertUfwBlock(original, block, family),
    );
    // A block a user moved to the end of the file is taken from there.
    expect(insertUfwBlock(`${original}${old}`, block, family)).toBe(insertUfwBlock(original, block, family));
  });

  it.each(FAMILIES)('keeps CRLF line ends in a CRLF file, block included (%s)', (family) => {
    const original = stock(family).replaceAll('\n', '\r\n');
    const block = renderUfwBlock(model, family);
    const result = insertUfwBlock(original, block, family);
    expect(result).toContain(block.replaceAll('\n', '\r\n'));
    expect(result).not.toMatch(/[^\r]\n/);
    expect(result.indexOf(`# END pingknock\r\n${UFW_TARGETS[family].echoAccept}\r\n`)).toBeGreaterThan(0);
    expect(removeUfwBlock(result)).toBe(original);
    expect(insertUfwBlock(result, block, family)).toBe(result);
  });

  it.each(FAMILIES)('puts the block above the *filter section COMMIT when the echo line is gone (%s)', (family) => {
    const withoutEcho = stock(family).replace(`${UFW_TARGETS[family].echoAccept}\n`, '');
    expect(withoutEcho).not.toContain(UFW_TARGETS[family].echoAccept);
    const block = renderUfwBlock(model, family);
    const result = insertUfwBlock(withoutEcho, block, family);
    expect(result.endsWith(`${block}COMMIT\n`)).toBe(true);
    expect(removeUfwBlock(result)).toBe(withoutEcho);
  });

  it('picks the COMMIT of *filter, not of a table before it', () => {
    const text =
      '*nat\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n# filter\n*filter\n:ufw-before-input - [0:0]\nCOMMIT\n*raw\nCOMMIT\n';
    const block = renderUfwBlock(model, 'ipv4');
    expect(insertUfwBlock(text, block, 'ipv4')).toBe(
      `*nat\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n# filter\n` +
        `*filter\n:ufw-before-input - [0:0]\n${block}COMMIT\n*raw\nCOMMIT\n`,
    );
  });

  it('inserts above a COMMIT on the last line without a line end', () => {
    const block = renderUfwBlock(model, 'ipv4');
    expect(insertUfwBlock('*filter\nCOMMIT', block, 'ipv4')).toBe(`*filter\n${block}COMMIT`);
  });

  it('keeps CRLF when the COMMIT it goes above is the unterminated last line', () => {
    const block = renderUfwBlock(model, 'ipv4');
    expect(insertUfwBlock('*filter\r\n:ufw-before-input - [0:0]\r\nCOMMIT', block, 'ipv4')).toBe(
      `*filter\r\n:ufw-before-input - [0:0]\r\n${block.replaceAll('\n', '\r\n')}COMMIT`,
    );
  });

  it.each([
    ['no *filter', '*nat\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n'],
    ['*filter without COMMIT', '*filter\n:ufw-before-input - [0:0]\n'],
    ['COMMIT only before *filter', 'COMMIT\n*filter\n'],
    ['an empty file', ''],
  ])('throws a RangeError for a file with %s', (_name, text) => {
    expect(() => insertUfwBlock(text, renderUfwBlock(model, 'ipv4'), 'ipv4')).toThrow(RangeError);
    expect(() => insertUfwBlock(text, renderUfwBlock(model, 'ipv6'), 'ipv6')).toThrow(
      'no *filter section with COMMIT in /etc/ufw/before6.rules',
    );
  });

  it('does not take the other family echo line for its own', () => {
    const v6 = stock('ipv6');
    const block = renderUfwBlock(model, 'ipv4');
    // before6.rules has no IPv4 echo accept: the IPv4 block falls back to the filter COMMIT.
    expect(insertUfwBlock(v6, block, 'ipv4').endsWith(`${block}COMMIT\n`)).toBe(true);
  });
});

describe('withUfwBlocks and withoutUfwBlocks over the files as read', () => {
  const files = { [UFW_TARGETS.ipv4.file]: stock('ipv4'), [UFW_TARGETS.ipv6.file]: stock('ipv6') };

  it("puts each family's block into its own file, and only the model's families", () => {
    expect(withUfwBlocks(files, model)).toEqual({
      [UFW_TARGETS.ipv4.file]: insertUfwBlock(stock('ipv4'), renderUfwBlock(model, 'ipv4'), 'ipv4'),
      [UFW_TARGETS.ipv6.file]: insertUfwBlock(stock('ipv6'), renderUfwBlock(model, 'ipv6'), 'ipv6'),
    });
    expect(Object.keys(withUfwBlocks(files, modelV4))).toEqual([UFW_TARGETS.ipv4.file]);
  });

  it('leaves out a family whose file was not read (ufw without IPv6)', () => {
    expect(Object.keys(withUfwBlocks({ [UFW_TARGETS.ipv4.file]: stock('ipv4') }, model))).toEqual([
      UFW_TARGETS.ipv4.file,
    ]);
  });

  it('takes the blocks out again, byte for byte', () => {
    expect(withoutUfwBlocks(withUfwBlocks(files, model))).toEqual(files);
  });
});

describe('removeUfwBlock', () => {
  it.each(FAMILIES)('returns a file without a block unchanged (%s)', (family) => {
    const original = stock(family);
    expect(removeUfwBlock(original)).toBe(original);
  });

  it('returns unchanged a file with a BEGIN but no END, or an END before the BEGIN', () => {
    const half = '*filter\n# BEGIN pingknock\n-A x -j DROP\nCOMMIT\n';
    expect(removeUfwBlock(half)).toBe(half);
    const reversed = '*filter\n# END pingknock\n-A x -j DROP\n# BEGIN pingknock\nCOMMIT\n';
    expect(removeUfwBlock(reversed)).toBe(reversed);
  });

  it('takes out the block lines only, BEGIN and END included', () => {
    expect(removeUfwBlock('a\n# BEGIN pingknock\nb\n# END pingknock\nc\n')).toBe('a\nc\n');
    expect(removeUfwBlock('a\r\n  # BEGIN pingknock\r\nb\r\n# END pingknock  \r\nc')).toBe('a\r\nc');
  });

  it('returns the empty text unchanged', () => {
    expect(removeUfwBlock('')).toBe('');
  });
});
