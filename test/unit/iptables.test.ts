import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Family } from '../../src/core/layout.js';
import { PING_LAYOUTS } from '../../src/core/layout.js';
import { buildRuleModel } from '../../src/core/rules/model.js';
import { IPTABLES_REMOVAL, renderIptables, XT_CHAINS } from '../../src/core/rules/iptables.js';
import { u32Expression } from '../../src/core/rules/xtables.js';
import { parseSecret } from '../../src/core/secret.js';

const secret = parseSecret('ABCDEFGHIJKLMNOP', 'test');
const HEX = '4142434445464748494a4b4c4d4e4f50';

function render(family: Family, port = 22, windowSeconds = 60): string {
  return renderIptables(buildRuleModel({ secret, port, windowSeconds, families: [family] }), family);
}

/** `sh -n`: the text parses as a POSIX sh script (dash here). */
function shSyntax(script: string): { status: number | null; stderr: string } {
  const result = spawnSync('sh', ['-n'], { input: script, encoding: 'utf8' });
  return { status: result.status, stderr: result.stderr };
}

/** Reviewed line by line: secret ABCDEFGHIJKLMNOP, port 22, window 60 s, iptables (IPv4). */
const EXPECTED_IPV4_22_60 = `#!/bin/sh
# pingknock rules for iptables: TCP port 22 opens only to hosts that knocked with a ping.
#
# What it does: chain \`knock\`, jumped from the top of INPUT, looks for the secret in ICMP echo
# requests at its exact place, remembers the sender for 60 s (\`recent\` list "knocked"),
# logs "KNOCK-OK: " and accepts the ping so it is answered.
# Where the secret is looked for: Linux iputils ping: payload byte 16; BSD/macOS ping: payload byte 8.
# Port 22: established connections are kept, new ones from a knocked address go to chain
# \`knock-ok\`, which accepts them, and all others are dropped.
#
# Load:    sh FILE          (IPTABLES=iptables-legacy sh FILE or IPTABLES=iptables-nft sh FILE picks the variant)
#          Both chains are replaced in one iptables-restore: loading again changes nothing.
# Remove:  sh FILE remove
# Knock by hand, without pingknock:  ping -c1 -p 4142434445464748494a4b4c4d4e4f50 HOST
set -eu
ipt=\${IPTABLES:-iptables}
case \${1:-load} in
load)
\tjump='-I INPUT 1 -j knock'
\tif "$ipt" -w -C INPUT -j knock 2>/dev/null; then jump=; fi
\t"$ipt-restore" -w --noflush <<EOF
*filter
:knock - [0:0]
:knock-ok - [0:0]
-A knock -p icmp --icmp-type echo-request -m u32 --u32 "0>>22&0x3C@20=0x0&&0>>22&0x3C@24=0x41424344&&0>>22&0x3C@28=0x45464748&&0>>22&0x3C@32=0x494a4b4c&&0>>22&0x3C@36=0x4d4e4f50" -m recent --set --name knocked --rsource -j LOG --log-prefix "KNOCK-OK: " --log-level 5
-A knock -p icmp --icmp-type echo-request -m u32 --u32 "0>>22&0x3C@20=0x0&&0>>22&0x3C@24=0x41424344&&0>>22&0x3C@28=0x45464748&&0>>22&0x3C@32=0x494a4b4c&&0>>22&0x3C@36=0x4d4e4f50" -j ACCEPT
-A knock -p icmp --icmp-type echo-request -m u32 --u32 "0>>22&0x3C@16=0x41424344&&0>>22&0x3C@20=0x45464748&&0>>22&0x3C@24=0x494a4b4c&&0>>22&0x3C@28=0x4d4e4f50" -m recent --set --name knocked --rsource -j LOG --log-prefix "KNOCK-OK: " --log-level 5
-A knock -p icmp --icmp-type echo-request -m u32 --u32 "0>>22&0x3C@16=0x41424344&&0>>22&0x3C@20=0x45464748&&0>>22&0x3C@24=0x494a4b4c&&0>>22&0x3C@28=0x4d4e4f50" -j ACCEPT
-A knock -p tcp --dport 22 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A knock -p tcp --dport 22 -m recent --rcheck --seconds 60 --name knocked --rsource -j knock-ok
-A knock -p tcp --dport 22 -j DROP
-A knock-ok -p tcp --dport 22 -j ACCEPT
$jump
COMMIT
EOF
\t;;
remove)
\twhile "$ipt" -w -D INPUT -j knock 2>/dev/null; do :; done
\tfor chain in knock knock-ok; do
\t\tif "$ipt" -w -n -L "$chain" >/dev/null 2>&1; then
\t\t\t"$ipt" -w -F "$chain"
\t\t\t"$ipt" -w -X "$chain"
\t\tfi
\tdone
\t;;
*)
\techo "usage: sh $0 [load|remove]" >&2
\texit 2
\t;;
esac
`;

/** The lines between `*filter` and `COMMIT` (the iptables-restore input, `$jump` not yet expanded). */
function restoreBody(script: string): string[] {
  const lines = script.split('\n');
  return lines.slice(lines.indexOf('*filter'), lines.indexOf('COMMIT') + 1);
}

describe('renderIptables', () => {
  it('renders the reviewed script for iptables, port 22, window 60', () => {
    expect(render('ipv4')).toBe(EXPECTED_IPV4_22_60);
  });

  it('renders ip6tables as the same script with the IPv6 tool, ICMPv6 match, list and u32 offsets', () => {
    const v6 = render('ipv6');
    const v4AsV6 = EXPECTED_IPV4_22_60.replaceAll('iptables', 'ip6tables')
      .replace('in ICMP echo', 'in ICMPv6 echo')
      .replace('ping -c1', 'ping -6 -c1')
      .replaceAll('-p icmp --icmp-type echo-request', '-p ipv6-icmp --icmpv6-type echo-request')
      .replaceAll('list "knocked"', 'list "knocked6"')
      .replaceAll('--name knocked ', '--name knocked6 ')
      .replaceAll(u32Expression(HEX, PING_LAYOUTS.iputils, 'ipv4'), '60=0x0&&64=0x41424344&&68=0x45464748&&72=0x494a4b4c&&76=0x4d4e4f50')
      .replaceAll(u32Expression(HEX, PING_LAYOUTS.bsd, 'ipv4'), '56=0x41424344&&60=0x45464748&&64=0x494a4b4c&&68=0x4d4e4f50');
    expect(v6).toBe(v4AsV6);
  });

  it('makes ip6tables match ipv6-icmp echo requests, never IPv4 ICMP, at fixed offsets', () => {
    const v6 = render('ipv6');
    expect(v6).toContain('ipt=${IPTABLES:-ip6tables}');
    const knocks = restoreBody(v6).filter((line) => line.includes('--u32'));
    expect(knocks).toHaveLength(4);
    for (const line of knocks) {
      expect(line).toMatch(/^-A knock -p ipv6-icmp --icmpv6-type echo-request -m u32 --u32 "/);
    }
    expect(v6).not.toContain('--icmp-type');
    expect(v6).not.toContain('-p icmp ');
    expect(v6).not.toContain('0>>22');
    expect(knocks[0]).toContain('"60=0x0&&64=0x41424344&&68=0x45464748&&72=0x494a4b4c&&76=0x4d4e4f50"');
    expect(knocks[2]).toContain('"56=0x41424344&&60=0x45464748&&64=0x494a4b4c&&68=0x4d4e4f50"');
    const lists = restoreBody(v6).flatMap((line) => [...line.matchAll(/--name (\S+)/g)].map((match) => match[1]));
    expect(lists).toEqual(['knocked6', 'knocked6', 'knocked6']);
  });

  it.each<Family>(['ipv4', 'ipv6'])('puts the port and the window everywhere they belong (%s)', (family) => {
    const script = render(family, 2222, 90);
    const body = restoreBody(script);
    const ports = body.flatMap((line) => [...line.matchAll(/--dport (\S+)/g)].map((match) => match[1]));
    expect(ports).toEqual(['2222', '2222', '2222', '2222']);
    const windows = body.flatMap((line) => [...line.matchAll(/--seconds (\S+)/g)].map((match) => match[1]));
    expect(windows).toEqual(['90']);
    expect(script).toContain('TCP port 2222 opens');
    expect(script).toContain('remembers the sender for 90 s');
    expect(script).toContain('# Port 2222: established');
    expect(script).not.toMatch(/port 22\b|--dport 22\b|\b60 s\b|--seconds 60\b/i);
  });

  it('keeps the chain names knock and knock-ok', () => {
    expect(XT_CHAINS).toEqual({ knock: 'knock', knockOk: 'knock-ok' });
  });

  it.each<Family>(['ipv4', 'ipv6'])('renders a script that sh -n accepts (%s)', (family) => {
    expect(shSyntax(render(family))).toEqual({ status: 0, stderr: '' });
    expect(shSyntax(render(family, 65535, 86_400))).toEqual({ status: 0, stderr: '' });
  });

  it('has a removal fragment that sh -n accepts and that touches only the jump and both chains', () => {
    expect(shSyntax(IPTABLES_REMOVAL)).toEqual({ status: 0, stderr: '' });
    expect(IPTABLES_REMOVAL).toContain('-D INPUT -j knock');
    expect(IPTABLES_REMOVAL).toContain('for chain in knock knock-ok; do');
    expect(IPTABLES_REMOVAL).not.toMatch(/-F\s*$|-F INPUT|-X\s*$/m);
  });

  it('the sh -n check itself catches a broken script', () => {
    expect(shSyntax(render('ipv4').replace('esac', '')).status).not.toBe(0);
  });
});

describe('renderIptables, run against a fake iptables', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  /** A fake `$tool` and `$tool-restore` that log argv and stdin; `-C` succeeds when the file `jumped` exists. */
  function sandbox(tool: string): { dir: string; run: (script: string, ...args: string[]) => ReturnType<typeof spawnSync> } {
    const base = mkdtempSync(join(tmpdir(), 'pingknock-ipt-'));
    dir = base;
    const log = join(base, 'log');
    writeFileSync(
      join(base, tool),
      `#!/bin/sh
echo "${tool} $*" >>'${log}'
case "$*" in
*" -C INPUT -j knock") [ -f '${base}/jumped' ];;
*" -D INPUT -j knock") n=$(cat '${base}/jumps' 2>/dev/null || echo 0); [ "$n" -gt 0 ] || exit 1; echo $((n - 1)) >'${base}/jumps';;
esac
`,
    );
    writeFileSync(join(base, `${tool}-restore`), `#!/bin/sh\necho "${tool}-restore $*" >>'${log}'\ncat >'${base}/restore-input'\n`);
    chmodSync(join(base, tool), 0o755);
    chmodSync(join(base, `${tool}-restore`), 0o755);
    return {
      dir: base,
      run: (script, ...args) =>
        spawnSync('sh', ['-s', ...args], { input: script, encoding: 'utf8', env: { ...process.env, PATH: `${base}:${process.env.PATH ?? ''}` } }),
    };
  }

  it.each<[Family, string]>([
    ['ipv4', 'iptables'],
    ['ipv6', 'ip6tables'],
  ])('loads (%s) through one %s-restore --noflush, with the jump inserted once', (family, tool) => {
    const script = render(family);
    const box = sandbox(tool);
    const first = box.run(script);
    expect(first.status).toBe(0);
    expect(readFileSync(join(box.dir, 'log'), 'utf8')).toBe(`${tool} -w -C INPUT -j knock\n${tool}-restore -w --noflush\n`);
    const expected = restoreBody(script).join('\n').replace('$jump', '-I INPUT 1 -j knock');
    expect(readFileSync(join(box.dir, 'restore-input'), 'utf8')).toBe(`${expected}\n`);

    // Loading again, with the jump already there, adds no second jump.
    writeFileSync(join(box.dir, 'jumped'), '');
    expect(box.run(script).status).toBe(0);
    expect(readFileSync(join(box.dir, 'restore-input'), 'utf8')).toBe(`${restoreBody(script).join('\n').replace('$jump', '')}\n`);
  });

  it('honours IPTABLES for the variant', () => {
    const box = sandbox('iptables-legacy');
    const result = spawnSync('sh', ['-s'], {
      input: render('ipv4'),
      encoding: 'utf8',
      env: { ...process.env, PATH: `${box.dir}:${process.env.PATH ?? ''}`, IPTABLES: 'iptables-legacy' },
    });
    expect(result.status).toBe(0);
    expect(readFileSync(join(box.dir, 'log'), 'utf8')).toBe('iptables-legacy -w -C INPUT -j knock\niptables-legacy-restore -w --noflush\n');
  });

  it('removes every jump, then flushes and deletes both chains, and nothing else', () => {
    const box = sandbox('iptables');
    writeFileSync(join(box.dir, 'jumps'), '2');
    const result = box.run(render('ipv4'), 'remove');
    expect(result.status).toBe(0);
    expect(readFileSync(join(box.dir, 'log'), 'utf8').split('\n')).toEqual([
      'iptables -w -D INPUT -j knock',
      'iptables -w -D INPUT -j knock',
      'iptables -w -D INPUT -j knock',
      'iptables -w -n -L knock',
      'iptables -w -F knock',
      'iptables -w -X knock',
      'iptables -w -n -L knock-ok',
      'iptables -w -F knock-ok',
      'iptables -w -X knock-ok',
      '',
    ]);
  });

  it('refuses an unknown action with exit 2 and runs nothing', () => {
    const box = sandbox('iptables');
    const result = box.run(render('ipv4'), 'bogus');
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('usage: sh');
    expect(() => readFileSync(join(box.dir, 'log'), 'utf8')).toThrow();
  });
});
