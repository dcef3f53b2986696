import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { secretToHex, type Secret } from '../../src/core/secret.js';
import { proxyCommandFor } from '../../src/core/ssh-config/proxy-command.js';
import { run, runChecked, type RunResult } from '../../src/edge/exec.js';
import { Lab, type ServerFeature } from '../../src/lab/lab.js';
import { labUfw } from './lab-server.js';

/**
 * Several lab servers, each its own machine as far as pingknock can tell (its own network
 * namespace, sshd, firewall and /etc), and one controller that reaches them all: the first lab's
 * client, joined to every other server by a link of its own.
 */

export type FleetBackend = 'nftables' | 'iptables' | 'ufw';

export interface FleetServer {
  /** The inventory name, the ssh alias and the name of its secret file. */
  readonly name: string;
  readonly backend: FleetBackend;
  readonly lab: Lab;
  /** Its IPv4 address as the controller reaches it. */
  readonly address: string;
}

/** The server's own copy of /etc, so what it keeps across reboots (nftables.conf, ufw's files) is its own. */
export const privateEtc: ServerFeature = {
  prepare(lab) {
    const etc = join(lab.dir, 'etc');
    runChecked('cp', ['-a', '/etc', etc]);
    lab.bindOnServer(etc, '/etc');
  },
};

/** ufw as a server runs it with ssh allowed: the knock then narrows who gets to the port. */
const ufwAllowingSsh: ServerFeature = {
  async prepare(lab) {
    const result = await lab.onServer('ufw', ['allow', '22/tcp']);
    if (result.code !== 0) throw new Error(`ufw allow failed: ${result.stderr.trim()}`);
  },
};

/** A table that counts the echo requests the server receives: one per knock from the lab's pinging clients. */
const KNOCK_COUNTER = `table inet fleetcount
delete table inet fleetcount
table inet fleetcount {
\tchain input {
\t\ttype filter hook input priority -400; policy accept;
\t\ticmp type echo-request counter
\t\ticmpv6 type echo-request counter
\t}
}
`;

export class Fleet {
  readonly dir: string;
  readonly sshConfig: string;
  readonly inventory: string;
  /** Empty: Ansible's defaults, whatever the machine's own configuration says. */
  private readonly ansibleConfig: string;
  private runs = 0;
  /** How much of each server's sshd log loginsSeen has read. */
  private readonly logRead = new Map<string, number>();

  private constructor(
    readonly servers: readonly FleetServer[],
    readonly controller: Lab,
  ) {
    this.dir = join(controller.dir, 'controller');
    mkdirSync(this.dir, { mode: 0o700 });
    this.sshConfig = join(this.dir, 'ssh_config');
    this.inventory = join(this.dir, 'inventory.yml');
    this.ansibleConfig = join(this.dir, 'ansible.cfg');
  }

  /** The servers named and built as given, the first one's client the controller. */
  static async create(
    specs: readonly { readonly name: string; readonly backend: FleetBackend }[],
    secret: Secret,
  ): Promise<Fleet> {
    const labs: Lab[] = [];
    try {
      for (const spec of specs) {
        const features = spec.backend === 'ufw' ? [privateEtc, labUfw, ufwAllowingSsh] : [privateEtc];
        labs.push(await Lab.create({ secret, serverFirewall: 'bare', features }));
      }
      const [controller] = labs;
      if (controller === undefined) throw new Error('a fleet needs a server');
      const servers = specs.map((spec, index) => {
        const lab = labs[index] as Lab;
        const address = index === 0 ? lab.server.ipv4 : joinToController(controller, lab, index);
        lab.loadServerRules(KNOCK_COUNTER);
        return { ...spec, lab, address };
      });
      const fleet = new Fleet(servers, controller);
      fleet.writeControllerFiles();
      return fleet;
    } catch (error) {
      for (const lab of labs) lab.destroy();
      throw error;
    }
  }

  /** The secret file the server's alias knocks with, on the controller. */
  secretFile(server: FleetServer): string {
    return join(this.controller.home, '.ssh', 'pingknock', server.name);
  }

  writeSecret(path: string, secret: Secret): void {
    writeFileSync(path, `${secret}\n`, { mode: 0o600 });
  }

  /**
   * ansible-playbook on the controller, with a control path folder of its own: each run opens
   * its own ControlMaster connections, as a new run on a controller would.
   */
  async playbook(playbook: string, args: readonly string[] = []): Promise<PlaybookRun> {
    this.runs += 1;
    const controlPaths = mkdtempSync(join(this.dir, `cp${this.runs}-`));
    const result = await this.controller.onClient('ansible-playbook', ['-i', this.inventory, playbook, ...args], {
      env: {
        ...this.controller.env,
        ANSIBLE_CONFIG: this.ansibleConfig,
        ANSIBLE_SSH_CONTROL_PATH_DIR: controlPaths,
        ANSIBLE_LOCAL_TEMP: join(this.dir, 'tmp'),
        ANSIBLE_NOCOLOR: '1',
        ANSIBLE_FORKS: String(this.servers.length),
      },
      timeoutMs: 240_000,
    });
    return { result, output: result.stdout.toString(), recap: parseRecap(result.stdout.toString()) };
  }

  /** ssh from the controller to the server's alias, through its ProxyCommand unless `args` say otherwise. */
  ssh(server: FleetServer, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
    return this.controller.onClient(
      'ssh',
      ['-F', this.sshConfig, '-o', 'ControlPath=none', ...args, server.name, 'true'],
      { env: { ...this.controller.env, ...env }, timeoutMs: 30_000 },
    );
  }

  /** A new connection without a knock, after the server forgot every knock: it must time out. */
  async unknocked(server: FleetServer, forget = true): Promise<RunResult> {
    if (forget) server.lab.forgetKnocks();
    return this.ssh(server, ['-o', 'ProxyCommand=none', '-o', 'ConnectTimeout=3']);
  }

  /** A knock with `secret` alone (pingknock knock), then a new connection without one. */
  async afterKnockWith(server: FleetServer, secret: Secret): Promise<RunResult> {
    server.lab.forgetKnocks();
    const knock = await this.controller.onClient('pingknock', ['knock', server.address], {
      env: { ...this.controller.env, PINGKNOCK_SECRET: secret },
      timeoutMs: 15_000,
    });
    if (knock.code !== 0) throw new Error(`the knock got no answer: ${knock.stderr}`);
    return this.unknocked(server, false);
  }

  /** Echo requests the server received since the last call. */
  knocksSeen(server: FleetServer): number {
    const listing = runChecked('ip', [
      'netns',
      'exec',
      server.lab.server.netns,
      'nft',
      'list',
      'table',
      'inet',
      'fleetcount',
    ]);
    server.lab.loadServerRules(KNOCK_COUNTER);
    return [...listing.matchAll(/counter packets (\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0);
  }

  /** Connections the server's sshd accepted since the last call. */
  loginsSeen(server: FleetServer): number {
    const log = server.lab.serverLog();
    const seen = (log.slice(this.logRead.get(server.name) ?? 0).match(/Accepted publickey/g) ?? []).length;
    this.logRead.set(server.name, log.length);
    return seen;
  }

  /** Breaks the knock of `secret` on the server: its echo requests are dropped before any rule sees them. */
  dropKnocksOf(server: FleetServer, secret: Secret): void {
    const hex = secretToHex(secret);
    server.lab.loadServerRules(`table inet sabotage {
\tchain input {
\t\ttype filter hook input priority -300; policy accept;
\t\ticmp type echo-request @th,192,128 0x${hex} drop
\t\ticmp type echo-request @th,128,128 0x${hex} drop
\t}
}
`);
  }

  async undoDropKnocks(server: FleetServer): Promise<void> {
    const result = await run('ip', [
      'netns',
      'exec',
      server.lab.server.netns,
      'nft',
      'delete',
      'table',
      'inet',
      'sabotage',
    ]);
    if (result.code !== 0) throw new Error(result.stderr);
  }

  destroy(): void {
    for (const server of this.servers) server.lab.destroy();
  }

  private writeControllerFiles(): void {
    writeFileSync(this.ansibleConfig, '[defaults]\n');
    const blocks = this.servers.map((server) =>
      [
        `Host ${server.name}`,
        `  HostName ${server.address}`,
        `  ProxyCommand ${proxyCommandFor(server.name)}`,
        ...server.lab.sshClientOptions().map((line) => `  ${line}`),
      ].join('\n'),
    );
    writeFileSync(this.sshConfig, `${blocks.join('\n')}\n`, { mode: 0o600 });
    const hosts = this.servers.map((server) =>
      [
        `    ${server.name}:`,
        `      pingknock_backend: ${server.backend}`,
        // Beside the lab's other files: the servers share the host's /run and /var/lib.
        `      pingknock_state_dir: ${join(server.lab.dir, 'state')}`,
        `      pingknock_kit_dir: ${join(server.lab.dir, 'kit')}`,
      ].join('\n'),
    );
    writeFileSync(
      this.inventory,
      [
        'all:',
        '  vars:',
        '    ansible_python_interpreter: /usr/bin/python3',
        `    ansible_ssh_common_args: -F ${this.sshConfig}`,
        '  hosts:',
        ...hosts,
        '',
      ].join('\n'),
    );
  }
}

/** The play recap, host -> counter -> number. */
export type Recap = Readonly<Record<string, Readonly<Record<string, number>>>>;

export interface PlaybookRun {
  readonly result: RunResult;
  readonly output: string;
  readonly recap: Recap;
}

function parseRecap(output: string): Recap {
  const recap: Record<string, Record<string, number>> = {};
  const at = output.lastIndexOf('PLAY RECAP');
  for (const line of output.slice(at < 0 ? output.length : at).split('\n')) {
    const match = /^(\S+)\s+:\s+(.*)$/.exec(line.trim());
    if (match === null) continue;
    const [, host, counters] = match as unknown as [string, string, string];
    recap[host] = Object.fromEntries(
      [...counters.matchAll(/(\w+)=(\d+)/g)].map((counter) => [counter[1] as string, Number(counter[2])]),
    );
  }
  return recap;
}

/** A link from the controller (the first lab's client) to another lab's server; returns the server's address on it. */
function joinToController(controller: Lab, lab: Lab, index: number): string {
  const ends = { controller: `pk${lab.id}f${index}c`, server: `pk${lab.id}f${index}s` };
  runChecked('ip', [
    'link',
    'add',
    ends.controller,
    'netns',
    controller.client.netns,
    'type',
    'veth',
    'peer',
    'name',
    ends.server,
    'netns',
    lab.server.netns,
  ]);
  const subnet = `10.202.${index}`;
  for (const [netns, link, host] of [
    [controller.client.netns, ends.controller, 2],
    [lab.server.netns, ends.server, 1],
  ] as const) {
    runChecked('ip', ['-n', netns, 'addr', 'add', `${subnet}.${host}/24`, 'dev', link]);
    runChecked('ip', ['-n', netns, 'link', 'set', link, 'up']);
  }
  return `${subnet}.1`;
}
