import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { runChecked } from '../../src/edge/exec.js';
import type { Lab, ServerFeature } from '../../src/lab/lab.js';

/** What suites add to the lab's server beyond the demo's (ufw, sshd's stock limits), and what they read of it. */

/** ufw in the server: a private copy of /etc/ufw (the host's stays untouched), enabled, deny incoming. */
export const labUfw: ServerFeature = {
  programs: ['ufw'],
  async prepare(lab) {
    const etcUfw = join(lab.dir, 'etc-ufw');
    cpSync('/etc/ufw', etcUfw, { recursive: true });
    lab.bindOnServer(etcUfw, '/etc/ufw');
    // ufw's first start leaves out a few rules that every later reload has: reload once, so the
    // server is in the state it keeps from then on.
    for (const args of [['--force', 'enable'], ['reload']]) {
      const result = await lab.onServer('ufw', args);
      if (result.code !== 0) throw new Error(`ufw ${args.join(' ')} failed: ${result.stderr.trim()}`);
    }
  },
};

/**
 * sshd with its stock connection limits, as servers run it, instead of the lab's raised ones, and
 * logging every connection it drops: for tests of what a dropped connection looks like.
 */
export const stockSshdLimits: ServerFeature = {
  sshdConfig: ['MaxStartups 10:30:100', 'MaxSessions 10', 'LogLevel VERBOSE'],
};

/**
 * Every firewall rule in the server, nftables and legacy iptables alike, without what changes
 * as traffic flows (counters, set elements, timestamps): equal listings mean equal rulesets.
 */
export function listServerRules(lab: Lab): string {
  const inServer = (file: string, args: readonly string[]): string =>
    runChecked('ip', ['netns', 'exec', lab.server.netns, file, ...args]);
  const listings = [
    inServer('nft', ['-s', 'list', 'ruleset']),
    inServer('iptables-legacy-save', []),
    inServer('ip6tables-legacy-save', []),
  ];
  // A set's elements run over several lines when there are many (one-time knocks' patterns).
  let inElements = false;
  return listings
    .join('\n')
    .split('\n')
    .filter((line) => {
      if (/^\s*elements = /.test(line)) inElements = true;
      const element = inElements;
      if (inElements && line.trimEnd().endsWith('}')) inElements = false;
      return !line.startsWith('#') && !element;
    })
    .map((line) => line.replace(/\[\d+:\d+\]/g, '[]').replace(/counter packets \d+ bytes \d+/g, 'counter'))
    .join('\n');
}
