import { copyFileSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { secretFromRandomBytes, SECRET_RANDOM_BYTES, type Secret } from '../../src/core/secret.js';
import { buildRuleModel } from '../../src/core/rules/model.js';
import { NFT_SETS, NFT_TABLE, renderNftables } from '../../src/core/rules/nftables.js';
import { findCommand, runChecked, type RunOptions, type RunResult } from '../../src/edge/exec.js';
import { Lab, type ServerFeature } from '../../src/lab/lab.js';

/**
 * client -> bastion -> inner: the first lab's server is the bastion (a real sshd), the second
 * lab's server the inner server (a real sshd behind the rules a test loads), joined to the
 * bastion by a link of its own. The client has no route to the inner server: it is reached from
 * the bastion's side alone, as behind a real jump host (which forwards no packets). What the
 * bastion runs records every ping it starts, and sees an empty folder where the client's home
 * is, so what it holds of the client's is what reached it over ssh.
 */

/** The bastion-inner link: a network the client has no route to. */
const INNER_NET = { bastion: '10.203.0.1', inner: '10.203.0.2' } as const;

export interface BastionLabOptions {
  /** The secret the bastion's own knock takes; undefined: the bastion is not protected. */
  readonly bastionSecret?: Secret | undefined;
}

export interface BastionPing {
  /** The client address of the ssh session that ran it (SSH_CONNECTION). */
  readonly from: string;
  /** Its arguments, joined by spaces. */
  readonly args: string;
}

export class BastionLab {
  /** The bastion's address on the inner server's link: the knock and the session come from it. */
  readonly bastionInner = INNER_NET.bastion;
  /** The inner server's address, which only the bastion reaches. */
  readonly innerAddress = INNER_NET.inner;

  private constructor(
    /** Its client is the client; its server the bastion. */
    readonly front: Lab,
    /** Its server is the inner server; its client is not used. */
    readonly inner: Lab,
    /** Every ping the bastion ran: see pings(). */
    readonly pingLog: string,
  ) {}

  static async create(options: BastionLabOptions = {}): Promise<BastionLab> {
    const labs: Lab[] = [];
    try {
      const pingLog = { path: '' };
      const front = await Lab.create({
        secret: options.bastionSecret ?? unused(),
        serverFirewall: 'bare',
        features: [hideClientHome, noInstalledPingknock, recordPings(pingLog)],
      });
      labs.push(front);
      const inner = await Lab.create({ secret: unused(), serverFirewall: 'bare' });
      labs.push(inner);
      joinInner(front, inner);
      if (options.bastionSecret !== undefined) {
        // The bastion knock-protected too, its alias knocking with its own secret.
        front.loadServerRules(
          renderNftables(buildRuleModel({ secret: options.bastionSecret, port: 22, windowSeconds: 60 })),
        );
        writeFileSync(join(front.home, '.ssh', 'pingknock', 'bastion'), `${options.bastionSecret}\n`, { mode: 0o600 });
      }
      return new BastionLab(front, inner, pingLog.path);
    } catch (error) {
      for (const lab of labs) lab.destroy();
      throw error;
    }
  }

  /** The client's home: its ~/.ssh/pingknock holds the secrets setup makes. */
  get home(): string {
    return this.front.home;
  }

  /** The client's ssh config: `bastion` and `inner` (through `ProxyJump bastion`), each with its lab's keys. */
  configFor(bastion: { readonly knocked: boolean }, innerLines: readonly string[] = ['ProxyJump bastion']): string {
    const indent = (lines: readonly string[]): string[] => lines.map((line) => `    ${line}`);
    return [
      '# reaching the inner network',
      'Host bastion',
      `    HostName ${this.front.server.ipv4}`,
      ...(bastion.knocked ? ['    ProxyCommand pingknock proxy --name bastion %h %p'] : []),
      ...indent(this.front.sshClientOptions()),
      '',
      'Host inner',
      `    HostName ${this.innerAddress}`,
      ...indent(innerLines),
      ...indent(this.inner.sshClientOptions()),
      '',
    ].join('\n');
  }

  /** A program in the client's namespace, with its HOME and PATH (pingknock on it). */
  onClient(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return this.front.onClient(file, args, options);
  }

  /** A program on the bastion, as its sshd's sessions see the files. */
  onBastion(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return this.front.onServer(file, args, options);
  }

  /** The pings the bastion ran so far: the address its ssh session came from, and ping's arguments. */
  pings(): BastionPing[] {
    let log: string;
    try {
      log = readFileSync(this.pingLog, 'utf8');
    } catch {
      return [];
    }
    return log
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [from = '', args = ''] = line.split(' | ');
        return { from, args };
      });
  }

  /** The IPv4 addresses in the inner server's set of knocked addresses. */
  knockedOnInner(): string {
    return runChecked('ip', [
      'netns',
      'exec',
      this.inner.server.netns,
      'nft',
      'list',
      'set',
      'inet',
      NFT_TABLE,
      NFT_SETS.ipv4,
    ]);
  }

  destroy(): void {
    this.inner.destroy();
    this.front.destroy();
  }
}

/** A secret for the lab's own aliases, which this lab does not use. */
function unused(): Secret {
  return secretFromRandomBytes(randomBytes(SECRET_RANDOM_BYTES));
}

/** The bastion sees an empty folder where the client's home is: the lab shares one filesystem, a real bastion not. */
const hideClientHome: ServerFeature = {
  prepare(lab) {
    const empty = join(lab.dir, 'bastion-sees-no-client-home');
    mkdirSync(empty, { mode: 0o700 });
    lab.bindOnServer(empty, lab.home);
  },
};

/**
 * The bastion's sessions search only the system's own folders: a pingknock installed on the test
 * machine (install.sh links one into /usr/local/bin) would otherwise be on the bastion's PATH too,
 * as the lab shares one filesystem, and a real bastion has none.
 */
const noInstalledPingknock: ServerFeature = { sshdConfig: ['SetEnv PATH=/usr/sbin:/usr/bin:/sbin:/bin'] };

/**
 * The bastion's ping, wrapped: each run appends its arguments to a log, then runs the real ping.
 * The wrapper stands where the bastion's ping is, for its sshd's sessions alone.
 */
function recordPings(log: { path: string }): ServerFeature {
  return {
    prepare(lab) {
      const ping = findCommand('ping');
      if (ping === undefined) throw new Error('the bastion lab needs ping');
      const real = join(lab.dir, 'real-ping');
      copyFileSync(realpathSync(ping), real);
      runChecked('chmod', ['755', real]);
      log.path = join(lab.dir, 'bastion-pings.log');
      const wrapper = join(lab.dir, 'ping-wrapper');
      const record = `printf '%s | %s\\n' "\${SSH_CONNECTION%% *}" "$*" >>'${log.path}'`;
      writeFileSync(wrapper, `#!/bin/sh\n${record}\nexec '${real}' "$@"\n`, { mode: 0o755 });
      lab.bindOnServer(wrapper, realpathSync(ping));
    },
  };
}

/**
 * A link from the bastion (the first lab's server) to the inner server (the second's), which
 * loses its own lab's link: it has no other address, and no other way in.
 */
function joinInner(front: Lab, inner: Lab): void {
  runChecked('ip', ['-n', inner.server.netns, 'link', 'delete', `pk${inner.id}s`]);
  const ends = { bastion: `pk${front.id}jb`, inner: `pk${front.id}ji` };
  runChecked('ip', [
    'link',
    'add',
    ends.bastion,
    'netns',
    front.server.netns,
    'type',
    'veth',
    'peer',
    'name',
    ends.inner,
    'netns',
    inner.server.netns,
  ]);
  for (const [netns, link, address] of [
    [front.server.netns, ends.bastion, INNER_NET.bastion],
    [inner.server.netns, ends.inner, INNER_NET.inner],
  ] as const) {
    runChecked('ip', ['-n', netns, 'addr', 'add', `${address}/24`, 'dev', link]);
    runChecked('ip', ['-n', netns, 'link', 'set', link, 'up']);
  }
}
