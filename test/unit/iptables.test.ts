import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Family } from '../../src/core/layout.js';
import { PING_LAYOUTS } from '../../src/core/layout.js';
import { buildRuleModel } from '../../src/core/rules/model.js';
import {
  renderIptables,
  XT_CHAINS,
  xtRemoval,
  xtRestoreOwn,
  xtSaveOwn,
  xtTool,
} from '../../src/core/rules/iptables.js';
import { u32Expression } from '../../src/core/rules/xtables.js';
import { parseSecret } from '../../src/core/secret.js';

const secret = parseSecret('ABCDEFGHIJKLMNOP', 'test');
const HEX = '4142434445464748494a4b4c4d4e4f50';

function render(family: Family, port = 22, windowSeconds = 60): string {
  return renderIptables(buildRuleModel({ secret, port, windowSeconds, families: [family] }));
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
# IPv6 knockers are remembered by their /64. Flood bounds: one source may knock 50 times a
# second, and at most 90 knocks a minute (new or repeated) are put on a \`recent\` list, which
# holds 100 by default and forgets its oldest: beyond that a knocker still on the list is
# answered, others get no reply and knock again. For more people knocking at once, raise
# xt_recent's ip_list_tot (see the README).
# Where the secret is looked for: Linux iputils ping: payload byte 16; BSD/macOS ping: payload byte 8.
# Keys: default (static).
# Port 22: established connections are kept, new ones from a knocked address go to chain
# \`knock-ok\`, which accepts them, and all others are dropped.
#
# Load:    sh FILE          (IPTABLES=iptables-legacy sh FILE or IPTABLES=iptables-nft sh FILE picks the variant)
#          Both chains are replaced in one iptables-restore: loading again changes nothing.
# Remove:  sh FILE remove
# Knock by hand, without pingknock:
#   default: ping -c1 -p 4142434445464748494a4b4c4d4e4f50 HOST
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
-A knock -p icmp --icmp-type echo-request -m u32 \
--u32 "0>>22&0x3C@20=0x0&&0>>22&0x3C@24=0x41424344&&0>>22&0x3C@28=0x45464748&&0>>22&0x3C@32=0x494a4b4c&&\
0>>22&0x3C@36=0x4d4e4f50" -m hashlimit --hashlimit-above 50/sec --hashlimit-burst 100 --hashlimit-mode srcip \
--hashlimit-name pk-knocked -j DROP
-A knock -p icmp --icmp-type echo-request -m u32 \
--u32 "0>>22&0x3C@20=0x0&&0>>22&0x3C@24=0x41424344&&0>>22&0x3C@28=0x45464748&&0>>22&0x3C@32=0x494a4b4c&&\
0>>22&0x3C@36=0x4d4e4f50" -m recent --rcheck --seconds 30 --name knocked --rsource -j ACCEPT
-A knock -p icmp --icmp-type echo-request -m u32 \
--u32 "0>>22&0x3C@20=0x0&&0>>22&0x3C@24=0x41424344&&0>>22&0x3C@28=0x45464748&&0>>22&0x3C@32=0x494a4b4c&&\
0>>22&0x3C@36=0x4d4e4f50" -m limit --limit 45/min --limit-burst 5 -m recent --set --name knocked --rsource -j LOG \
--log-prefix "KNOCK-OK: " --log-level 5
-A knock -p icmp --icmp-type echo-request -m u32 \
--u32 "0>>22&0x3C@20=0x0&&0>>22&0x3C@24=0x41424344&&0>>22&0x3C@28=0x45464748&&0>>22&0x3C@32=0x494a4b4c&&\
0>>22&0x3C@36=0x4d4e4f50" -m recent --rcheck --seconds 60 --name knocked --rsource -j ACCEPT
-A knock -p icmp --icmp-type echo-request -m u32 \
--u32 "0>>22&0x3C@20=0x0&&0>>22&0x3C@24=0x41424344&&0>>22&0x3C@28=0x45464748&&0>>22&0x3C@32=0x494a4b4c&&\
0>>22&0x3C@36=0x4d4e4f50" -j DROP
-A knock -p icmp --icmp-type echo-request -m u32 \
--u32 "0>>22&0x3C@16=0x41424344&&0>>22&0x3C@20=0x45464748&&0>>22&0x3C@24=0x494a4b4c&&0>>22&0x3C@28=0x4d4e4f50" \
-m hashlimit --hashlimit-above 50/sec --hashlimit-burst 100 --hashlimit-mode srcip --hashlimit-name pk-knocked -j DROP
-A knock -p icmp --icmp-type echo-request -m u32 \
--u32 "0>>22&0x3C@16=0x41424344&&0>>22&0x3C@20=0x45464748&&0>>22&0x3C@24=0x494a4b4c&&0>>22&0x3C@28=0x4d4e4f50" \
-m recent --rcheck --seconds 30 --name knocked --rsource -j ACCEPT
-A knock -p icmp --icmp-type echo-request -m u32 \
--u32 "0>>22&0x3C@16=0x41424344&&0>>22&0x3C@20=0x45464748&&0>>22&0x3C@24=0x494a4b4c&&0>>22&0x3C@28=0x4d4e4f50" \
-m limit --limit 45/min --limit-burst 5 -m recent --set --name knocked --rsource -j LOG --log-prefix "KNOCK-OK: " \
--log-level 5
-A knock -p icmp --icmp-type echo-request -m u32 \
--u32 "0>>22&0x3C@16=0x41424344&&0>>22&0x3C@20=0x45464748&&0>>22&0x3C@24=0x494a4b4c&&0>>22&0x3C@28=0x4d4e4f50" \
-m recent --rcheck --seconds 60 --name knocked --rsource -j ACCEPT
-A knock -p icmp --icmp-type echo-request -m u32 \
--u32 "0>>22&0x3C@16=0x41424344&&0>>22&0x3C@20=0x45464748&&0>>22&0x3C@24=0x494a4b4c&&0>>22&0x3C@28=0x4d4e4f50" -j DROP
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
      .replaceAll('IPTABLES', 'IP6TABLES')
      .replaceAll('"$ipt', '"$ip6t')
      .replace('\nipt=', '\nip6t=')
      .replace('in ICMP echo', 'in ICMPv6 echo')
      .replace('ping -c1', 'ping -6 -c1')
      .replaceAll('-p icmp --icmp-type echo-request', '-p ipv6-icmp --icmpv6-type echo-request')
      .replaceAll('list "knocked"', 'list "knocked6"')
      .replaceAll('--name knocked --rsource', '--name knocked6 --mask ffff:ffff:ffff:ffff:: --rsource')
      .replaceAll('--hashlimit-name pk-knocked ', '--hashlimit-srcmask 64 --hashlimit-name pk-knocked6 ')
      .replaceAll(
        u32Expression(HEX, PING_LAYOUTS.iputils, 'ipv4'),
        '60=0x0&&64=0x41424344&&68=0x45464748&&72=0x494a4b4c&&76=0x4d4e4f50',
      )
      .replaceAll(
        u32Expression(HEX, PING_LAYOUTS.bsd, 'ipv4'),
        '56=0x41424344&&60=0x45464748&&64=0x494a4b4c&&68=0x4d4e4f50',
      );
    expect(v6).toBe(v4AsV6);
  });

  it('makes ip6tables match ipv6-icmp echo requests, never IPv4 ICMP, at fixed offsets', () => {
    const v6 = render('ipv6');
    expect(v6).toContain('\nip6t=${IP6TABLES:-ip6tables}\n');
    expect(v6).not.toContain('$ipt"');
    const knocks = restoreBody(v6).filter((line) => line.includes('--u32'));
    expect(knocks).toHaveLength(10);
    for (const line of knocks) {
      expect(line).toMatch(/^-A knock -p ipv6-icmp --icmpv6-type echo-request -m u32 --u32 "/);
    }
    expect(v6).not.toContain('--icmp-type');
    expect(v6).not.toContain('-p icmp ');
    expect(v6).not.toContain('0>>22');
    expect(knocks[0]).toContain('"60=0x0&&64=0x41424344&&68=0x45464748&&72=0x494a4b4c&&76=0x4d4e4f50"');
    expect(knocks[5]).toContain('"56=0x41424344&&60=0x45464748&&64=0x494a4b4c&&68=0x4d4e4f50"');
    const lists = restoreBody(v6).flatMap((line) => [...line.matchAll(/--name (\S+)/g)].map((match) => match[1]));
    // Per layout: the fresh test, the paced remember, the known test; then the port's test.
    expect(lists).toEqual(Array<string>(7).fill('knocked6'));
  });

  it.each<Family>(['ipv4', 'ipv6'])('puts the port and the window everywhere they belong (%s)', (family) => {
    const script = render(family, 2222, 90);
    const body = restoreBody(script);
    const ports = body.flatMap((line) => [...line.matchAll(/--dport (\S+)/g)].map((match) => match[1]));
    expect(ports).toEqual(['2222', '2222', '2222', '2222']);
    const windows = body.flatMap((line) => [...line.matchAll(/--seconds (\S+)/g)].map((match) => match[1]));
    // Per layout: remembered in the last half window (refreshAfterSeconds), then within the window; then the port.
    expect(windows).toEqual(['45', '90', '45', '90', '90']);
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

  it.each<[Family, string]>([
    ['ipv4', '"$ipt"'],
    ['ipv6', '"$ip6t"'],
  ])(
    'has a removal fragment (%s) that sh -n accepts ' +
      'and that touches only the jump and both chains, with its own program',
    (family, program) => {
      const removal = xtRemoval(family);
      expect(shSyntax(removal)).toEqual({ status: 0, stderr: '' });
      expect(removal).toContain(`${program} -w -D INPUT -j knock`);
      expect(removal).toContain('for chain in knock knock-ok; do');
      expect(removal).not.toMatch(/-F\s*$|-F INPUT|-X\s*$/m);
      expect(removal.match(/"\$\w+"/g)?.every((word) => word === program || word === '"$chain"')).toBe(true);
    },
  );

  it('renders both families in one script: iptables and ip6tables, each with its own program, list and restore', () => {
    const both = renderIptables(buildRuleModel({ secret, port: 22, windowSeconds: 60 }));
    expect(shSyntax(both)).toEqual({ status: 0, stderr: '' });
    expect(both).toContain('# pingknock rules for iptables and ip6tables: TCP port 22 opens');
    expect(both).toContain('\nipt=${IPTABLES:-iptables}\nip6t=${IP6TABLES:-ip6tables}\n');
    expect(both).toContain('IPTABLES=iptables-legacy IP6TABLES=ip6tables-legacy sh FILE');
    expect(both).toContain('`recent` lists "knocked" and "knocked6"');
    expect(both).toContain(`ping -c1 -p ${HEX} HOST  or  ping -6 -c1 -p ${HEX} HOST`);
    // The same loads and removals as the single-family scripts, in order.
    const section = (text: string, from: string, to: string): string =>
      text.slice(text.indexOf(from), text.indexOf(to));
    const load = (text: string): string => section(text, 'load)\n', '\t;;\nremove)');
    const remove = (text: string): string => section(text, 'remove)\n', '\t;;\n*)').replace('remove)\n', '');
    expect(load(both)).toBe(`${load(render('ipv4'))}${load(render('ipv6')).replace('load)\n', '')}`);
    expect(remove(both)).toBe(`${remove(render('ipv4'))}${remove(render('ipv6'))}`);
  });

  it("names each family's program in the variant asked for", () => {
    expect(
      ['iptables', 'iptables-legacy', 'iptables-nft', 'ip6tables-nft', undefined].map((tool) => [
        xtTool('ipv4', tool),
        xtTool('ipv6', tool),
      ]),
    ).toEqual([
      ['iptables', 'ip6tables'],
      ['iptables-legacy', 'ip6tables-legacy'],
      ['iptables-nft', 'ip6tables-nft'],
      ['iptables-nft', 'ip6tables-nft'],
      ['iptables', 'ip6tables'],
    ]);
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

  /**
   * A fake `$tool`, `$tool-restore` and `$tool-save` for each tool, that log argv (a restore's
   * stdin goes to restore-input, and is added to restore-log); `-C` succeeds when the file `jumped`
   * exists, `-D` as many times as the file `jumps` says, `-L` when `chains` exists; -save prints
   * the file `saved`.
   */
  function sandbox(...tools: string[]): {
    dir: string;
    run: (script: string, ...args: string[]) => ReturnType<typeof spawnSync>;
  } {
    const base = mkdtempSync(join(tmpdir(), 'pingknock-ipt-'));
    dir = base;
    const log = join(base, 'log');
    for (const tool of tools) {
      writeFileSync(
        join(base, tool),
        `#!/bin/sh
echo "${tool} $*" >>'${log}'
case "$*" in
*" -C INPUT -j knock") [ -f '${base}/jumped' ];;
*" -D INPUT -j knock") n=$(cat '${base}/jumps' 2>/dev/null || echo 0); [ "$n" -gt 0 ] || exit 1; \
echo $((n - 1)) >'${base}/jumps';;
*" -L "*) [ -f '${base}/chains' ];;
esac
`,
      );
      writeFileSync(
        join(base, `${tool}-restore`),
        `#!/bin/sh\necho "${tool}-restore $*" >>'${log}'\ntee '${base}/restore-input' >>'${base}/restore-log'\n`,
      );
      writeFileSync(
        join(base, `${tool}-save`),
        `#!/bin/sh\necho "${tool}-save $*" >>'${log}'\ncat '${base}/saved' 2>/dev/null\nexit 0\n`,
      );
      for (const step of ['', '-restore', '-save']) chmodSync(join(base, `${tool}${step}`), 0o755);
    }
    return {
      dir: base,
      run: (script, ...args) =>
        spawnSync('sh', ['-s', ...args], {
          input: script,
          encoding: 'utf8',
          env: { ...process.env, PATH: `${base}:${process.env.PATH ?? ''}` },
        }),
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
    expect(readFileSync(join(box.dir, 'log'), 'utf8')).toBe(
      `${tool} -w -C INPUT -j knock\n${tool}-restore -w --noflush\n`,
    );
    const expected = restoreBody(script).join('\n').replace('$jump', '-I INPUT 1 -j knock');
    expect(readFileSync(join(box.dir, 'restore-input'), 'utf8')).toBe(`${expected}\n`);

    // Loading again, with the jump already there, adds no second jump.
    writeFileSync(join(box.dir, 'jumped'), '');
    expect(box.run(script).status).toBe(0);
    expect(readFileSync(join(box.dir, 'restore-input'), 'utf8')).toBe(
      `${restoreBody(script).join('\n').replace('$jump', '')}\n`,
    );
  });

  it('honours IPTABLES for the variant', () => {
    const box = sandbox('iptables-legacy');
    const result = spawnSync('sh', ['-s'], {
      input: render('ipv4'),
      encoding: 'utf8',
      env: { ...process.env, PATH: `${box.dir}:${process.env.PATH ?? ''}`, IPTABLES: 'iptables-legacy' },
    });
    expect(result.status).toBe(0);
    expect(readFileSync(join(box.dir, 'log'), 'utf8')).toBe(
      'iptables-legacy -w -C INPUT -j knock\niptables-legacy-restore -w --noflush\n',
    );
  });

  it('removes every jump, then flushes and deletes both chains, and nothing else', () => {
    const box = sandbox('iptables');
    writeFileSync(join(box.dir, 'jumps'), '2');
    writeFileSync(join(box.dir, 'chains'), '');
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

  it('loads and removes both families with their own programs, IPTABLES and IP6TABLES picking the variants', () => {
    const both = renderIptables(buildRuleModel({ secret, port: 22, windowSeconds: 60 }));
    const box = sandbox('iptables-legacy', 'ip6tables-legacy');
    const env = {
      ...process.env,
      PATH: `${box.dir}:${process.env.PATH ?? ''}`,
      IPTABLES: 'iptables-legacy',
      IP6TABLES: 'ip6tables-legacy',
    };
    expect(spawnSync('sh', ['-s'], { input: both, encoding: 'utf8', env }).status).toBe(0);
    writeFileSync(join(box.dir, 'jumps'), '1');
    expect(spawnSync('sh', ['-s', 'remove'], { input: both, encoding: 'utf8', env }).status).toBe(0);
    expect(readFileSync(join(box.dir, 'log'), 'utf8').split('\n')).toEqual([
      'iptables-legacy -w -C INPUT -j knock',
      'iptables-legacy-restore -w --noflush',
      'ip6tables-legacy -w -C INPUT -j knock',
      'ip6tables-legacy-restore -w --noflush',
      'iptables-legacy -w -D INPUT -j knock',
      'iptables-legacy -w -D INPUT -j knock',
      'iptables-legacy -w -n -L knock',
      'iptables-legacy -w -n -L knock-ok',
      'ip6tables-legacy -w -D INPUT -j knock',
      'ip6tables-legacy -w -n -L knock',
      'ip6tables-legacy -w -n -L knock-ok',
      '',
    ]);
    const loads = readFileSync(join(box.dir, 'restore-log'), 'utf8');
    const filterBlocks = [...both.matchAll(/^\*filter\n[^]*?^COMMIT$/gm)].map((block) =>
      block[0].replace('$jump', '-I INPUT 1 -j knock'),
    );
    expect(loads).toBe(`${filterBlocks.join('\n')}\n`);
    expect(loads.match(/--icmpv6-type/g)).toHaveLength(loads.match(/--icmp-type/g)?.length ?? -1);
  });

  /** What iptables-save prints of a filter table with an earlier pingknock ruleset and a rule of someone else's. */
  const SAVED = `# Generated by iptables-save
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:knock - [0:0]
:knock-ok - [0:0]
:knocker - [0:0]
-A INPUT -s 10.0.0.9/32 -j DROP
-A INPUT -j knock
-A INPUT -j knocker
-A knock -p icmp -m icmp --icmp-type 8 -m u32 --u32 "0x0>>0x16&0x3c@0x14=0x0" -j ACCEPT
-A knock -p tcp -m tcp --dport 22 -j DROP
-A knock-ok -p tcp -m tcp --dport 22 -j ACCEPT
-A knocker -j RETURN
COMMIT
# Completed
`;
  const OWN = [
    ':knock - [0:0]',
    ':knock-ok - [0:0]',
    '-A INPUT -j knock',
    ...SAVED.split('\n').filter((line) => /^-A knock(-ok)? /.test(line)),
  ];

  /** Runs xtSaveOwn then xtRestoreOwn for IPv4, with `saved` as what -save prints; returns what the restore did. */
  function saveThenRestore(
    saved: string | undefined,
    setUp: (dir: string) => void = () => {},
  ): { own: string; log: string[]; input: string } {
    const box = sandbox('iptables');
    if (saved !== undefined) writeFileSync(join(box.dir, 'saved'), saved);
    const file = join(box.dir, 'own');
    expect(box.run(`set -eu\nipt=iptables\n${xtSaveOwn('ipv4', `'${file}'`)}\n`).status).toBe(0);
    const own = readFileSync(file, 'utf8');
    rmSync(join(box.dir, 'log'));
    setUp(box.dir);
    const restored = box.run(`set -eu\nipt=iptables\n${xtRestoreOwn('ipv4', `'${file}'`)}\n`);
    expect(restored.stderr).toBe('');
    expect(restored.status).toBe(0);
    const input = join(box.dir, 'restore-input');
    return {
      own,
      log: readFileSync(join(box.dir, 'log'), 'utf8')
        .split('\n')
        .filter((line) => line !== ''),
      input: existsSync(input) ? readFileSync(input, 'utf8') : '',
    };
  }

  it(
    "saves only pingknock's own lines: its two chains, their rules and its jump, " +
      "not a chain named like it nor anyone else's rule",
    () => {
      const { own } = saveThenRestore(SAVED);
      expect(own).toBe(`${OWN.join('\n')}\n`);
    },
  );

  it("puts an earlier ruleset's chains back in one restore --noflush and leaves the jump that was there alone", () => {
    const { log, input } = saveThenRestore(SAVED);
    expect(log).toEqual(['iptables-restore -w --noflush']);
    expect(input).toBe(`*filter\n${OWN.filter((line) => line !== '-A INPUT -j knock').join('\n')}\nCOMMIT\n`);
  });

  it('takes away the jump the apply added when the earlier chains had none, and puts the chains back', () => {
    const { log, input } = saveThenRestore(SAVED.replace('-A INPUT -j knock\n', ''), (dir) =>
      writeFileSync(join(dir, 'jumps'), '1'),
    );
    expect(log).toEqual([
      'iptables -w -D INPUT -j knock',
      'iptables -w -D INPUT -j knock',
      'iptables-restore -w --noflush',
    ]);
    expect(input).toContain(':knock - [0:0]\n');
  });

  it.each([
    [
      'with no pingknock chains in it',
      SAVED.split('\n')
        .filter((line) => !/knock(-ok)? |-j knock$/.test(line))
        .join('\n'),
    ],
    ['that is empty (no filter table yet)', undefined],
  ])('takes the jump and both chains away when the table was saved %s', (_, saved) => {
    const { own, log, input } = saveThenRestore(saved, (dir) => {
      writeFileSync(join(dir, 'jumps'), '1');
      writeFileSync(join(dir, 'chains'), '');
    });
    expect(own).toBe('');
    expect(log).toEqual([
      'iptables -w -D INPUT -j knock',
      'iptables -w -D INPUT -j knock',
      'iptables -w -n -L knock',
      'iptables -w -F knock',
      'iptables -w -X knock',
      'iptables -w -n -L knock-ok',
      'iptables -w -F knock-ok',
      'iptables -w -X knock-ok',
    ]);
    expect(input).toBe('');
  });

  it('stops when -save fails, before anything is written', () => {
    const box = sandbox('iptables');
    writeFileSync(join(box.dir, 'iptables-save'), '#!/bin/sh\nexit 3\n');
    const result = box.run(`set -eu\nipt=iptables\n${xtSaveOwn('ipv4', `'${join(box.dir, 'own')}'`)}\necho went on\n`);
    expect(result.status).toBe(3);
    expect(result.stdout).toBe('');
  });

  it('refuses an unknown action with exit 2 and runs nothing', () => {
    const box = sandbox('iptables');
    const result = box.run(render('ipv4'), 'bogus');
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('usage: sh');
    expect(() => readFileSync(join(box.dir, 'log'), 'utf8')).toThrow();
  });
});
