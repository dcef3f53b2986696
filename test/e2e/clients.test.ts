import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../src/lab/lab.js';
import { NFT_SETS, NFT_TABLE } from '../../src/core/rules/nftables.js';
import { parseSecret } from '../../src/core/secret.js';
import { newSecret, nftRules, sha256File } from './fixture.js';

/**
 * Third-party ssh clients people run, through the knock, with the ssh config `pingknock setup`
 * writes: Ansible (its ssh and its paramiko connection), Fabric, and plain paramiko. paramiko
 * expands only %h, %p, %r (and ~) in a ProxyCommand, so the config must name the alias itself,
 * not ssh's %n. The clients are Debian's packages (./install.sh --lab), run with Debian's
 * /usr/bin/python3: a python3 earlier on the PATH (pyenv, a venv) does not have them.
 */

const ANSIBLE = '/usr/bin/ansible';
const ANSIBLE_PLAYBOOK = '/usr/bin/ansible-playbook';
const PYTHON = '/usr/bin/python3';
const FABRIC_CLIENT = join(import.meta.dirname, 'fabric-client.py');
const PARAMIKO_CLIENT = join(import.meta.dirname, 'paramiko-client.py');

/** Each client gets this long; its process group is killed a little earlier, so its output shows. */
const TEST_MS = 30_000;
const CLIENT_MS = 25_000;

interface Ran {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

describe('third-party ssh clients through the knock, with the config pingknock setup wrote', () => {
  let lab: Lab;
  /** The user's HOME on the client: setup's secrets in .ssh/pingknock, its config in .ssh/config. */
  let home: string;
  let config: string;
  /** Short, for ssh's ControlPath (a unix socket path has at most 107 bytes). */
  let controlDir: string;
  let work: string;
  let env: NodeJS.ProcessEnv;
  /** alias -> the server address it was set up with; web1 and web2 share one. */
  let aliases: Record<string, string>;

  beforeAll(async () => {
    for (const program of [ANSIBLE, ANSIBLE_PLAYBOOK]) {
      if (!existsSync(program))
        throw new Error(`${program} is missing: install it with ./install.sh --lab (Debian's ansible-core)`);
    }
    const probe = spawnSync(PYTHON, ['-c', 'import fabric, paramiko'], { encoding: 'utf8' });
    if (probe.status !== 0)
      throw new Error(
        `${PYTHON} cannot import fabric and paramiko: ` +
          `install them with ./install.sh --lab (python3-fabric): ${probe.stderr}`,
      );

    controlDir = mkdtempSync('/tmp/pkcp-');
    // The lab's own secret is for its own hosts; setup makes the one for these aliases.
    lab = await Lab.create({ secret: newSecret(), serverFirewall: 'existing' });
    work = join(lab.dir, 'clients');
    home = join(work, 'home');
    mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
    for (const folder of ['ansible-local', 'ansible-remote', 'drop']) mkdirSync(join(work, folder));
    config = join(home, '.ssh', 'config');
    // The user's login defaults, as a catch-all at the end; setup puts each new Host block above it.
    writeFileSync(config, ['Host *', ...lab.sshClientOptions().map((line) => `    ${line}`), ''].join('\n'), {
      mode: 0o600,
    });
    writeFileSync(join(work, 'ansible.cfg'), '');
    env = {
      ...lab.env,
      HOME: home,
      PYTHONPATH: undefined,
      PYTHONHOME: undefined,
      ANSIBLE_CONFIG: join(work, 'ansible.cfg'),
      ANSIBLE_HOME: join(work, 'ansible-home'),
      ANSIBLE_LOCAL_TEMP: join(work, 'ansible-local'),
      ANSIBLE_REMOTE_TEMP: join(work, 'ansible-remote'),
      ANSIBLE_HOST_KEY_CHECKING: 'False',
      ANSIBLE_RETRY_FILES_ENABLED: 'False',
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_FORKS: '5',
      ANSIBLE_SSH_CONTROL_PATH_DIR: controlDir,
    };

    aliases = { web1: lab.server.ipv4, web2: lab.server.ipv4, web6: lab.server.ipv6 };
    const [first] = Object.keys(aliases);
    for (const [alias, address] of Object.entries(aliases)) {
      // The first alias gets a new secret from setup; the others, on the same server, reuse it.
      const reuse = alias === first ? [] : ['--secret-file', join(home, '.ssh', 'pingknock', first ?? '')];
      const setup = await inClient([
        'pingknock',
        'setup',
        alias,
        '--hostname',
        address,
        '--config',
        config,
        '--yes',
        ...reuse,
      ]);
      if (setup.code !== 0) throw new Error(`pingknock setup ${alias} failed (${setup.code}): ${setup.stderr}`);
    }
    // Ansible's inventory: the aliases themselves, as ssh knows them from the config.
    writeFileSync(
      join(work, 'hosts.ini'),
      [...Object.keys(aliases), '', '[all:vars]', 'ansible_python_interpreter=/usr/bin/python3', ''].join('\n'),
    );
    lab.loadServerRules(
      nftRules(parseSecret(readFileSync(join(home, '.ssh', 'pingknock', first ?? '')), 'the secret setup made')),
    );
  });

  afterEach(() => {
    // What a client left running (ssh ControlPersist masters, proxies): the next test must knock anew.
    if (lab !== undefined) endClientProcesses(lab);
  });

  afterAll(() => {
    lab?.destroy();
    if (controlDir !== undefined) rmSync(controlDir, { recursive: true, force: true });
  });

  /** Runs a program in the client namespace as the user: HOME, the clients' settings. */
  function inClient(command: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Ran> {
    return runGroup(['ip', 'netns', 'exec', lab.client.netns, ...command], { ...env, ...extraEnv }, work);
  }

  /**
   * Which families' knocked sets hold an entry (nftables): after forgetKnocks() only this lab's
   * client can have put one there. Entries are not compared with the client's address, as the
   * rules may remember a source by its prefix (an IPv6 knocker by its /64).
   */
  function knocked(): { ipv4: boolean; ipv6: boolean } {
    const holds = (set: string): boolean => {
      const listing = spawnSync(
        'ip',
        ['netns', 'exec', lab.server.netns, 'nft', 'list', 'set', 'inet', NFT_TABLE, set],
        { encoding: 'utf8' },
      );
      if (listing.status !== 0) throw new Error(`nft list set ${set} failed: ${listing.stderr}`);
      return /\belements = \{/.test(listing.stdout);
    };
    return { ipv4: holds(NFT_SETS.ipv4), ipv6: holds(NFT_SETS.ipv6) };
  }

  /** HostName and ProxyCommand as ssh resolves them for `alias` from the config (`ssh -G`, tokens left as written). */
  function sshResolves(alias: string): { hostname: string | undefined; proxycommand: string | undefined } {
    const effective = spawnSync('ssh', ['-G', '-F', config, alias], { encoding: 'utf8', env });
    if (effective.status !== 0) throw new Error(`ssh -G ${alias} failed: ${effective.stderr}`);
    const option = (name: string): string | undefined => new RegExp(`^${name} (.*)$`, 'm').exec(effective.stdout)?.[1];
    return { hostname: option('hostname'), proxycommand: option('proxycommand') };
  }

  /**
   * SSH_CONNECTION as the server's sshd set it for a session from `alias`: client address and port, server address
   * and port.
   */
  function sessionFrom(alias: string): RegExp {
    const server = aliases[alias] ?? '';
    const client = server === lab.server.ipv6 ? lab.client.ipv6 : lab.client.ipv4;
    return new RegExp(`^${escaped(client)} \\d+ ${escaped(server)} 22$`);
  }

  /** An ad-hoc `printenv SSH_CONNECTION` reached every alias, from the right client, through a knock. */
  function expectEveryAliasReached(result: Ran): void {
    const explain = `${result.stdout}\n${result.stderr}`;
    expect(result.code, explain).toBe(0);
    const lines = adHocLines(result.stdout);
    expect(Object.keys(lines).sort(), explain).toEqual(Object.keys(aliases).sort());
    for (const alias of Object.keys(aliases)) {
      expect(lines[alias]?.status, explain).toBe('CHANGED');
      expect(lines[alias]?.stdout, explain).toMatch(sessionFrom(alias));
    }
    expect(knocked()).toEqual({ ipv4: true, ipv6: true });
  }

  it('setup wrote a Host block per alias whose ProxyCommand names the alias itself, not %n', () => {
    const text = readFileSync(config, 'utf8');
    for (const [alias, address] of Object.entries(aliases)) {
      // OpenSSH takes the socket (ProxyUseFdpass yes); the clients below that give pipes get the relay.
      expect(sshResolves(alias)).toEqual({
        hostname: address,
        proxycommand: `pingknock proxy --name ${alias} --fdpass %h %p`,
      });
    }
    expect(text).not.toContain('%n');
    expect(text.match(/^ {4}ProxyUseFdpass yes$/gm)).toHaveLength(Object.keys(aliases).length);
  });

  it(
    'keeps the port closed to a client that does not knock',
    async () => {
      lab.forgetKnocks();
      const result = await inClient([
        'ssh',
        '-F',
        config,
        '-o',
        'ProxyCommand=none',
        '-o',
        'ConnectTimeout=2',
        'web1',
        'true',
      ]);
      expect(result.code, result.stderr).toBe(255);
      expect(result.stderr).toMatch(/timed out/);
      expect(knocked()).toEqual({ ipv4: false, ipv6: false });
    },
    TEST_MS,
  );

  it(
    'ansible ad-hoc, ssh connection reading the config (-F), forks 5: every host ok, after a knock',
    async () => {
      lab.forgetKnocks();
      // Ansible's own defaults (ControlMaster auto, ControlPersist 60 s), plus the config setup wrote.
      const sshArgs = `-F ${config} -C -o ControlMaster=auto -o ControlPersist=60s`;
      const result = await inClient(
        [
          ANSIBLE,
          'all',
          '-i',
          join(work, 'hosts.ini'),
          '-f',
          '5',
          '-o',
          '-m',
          'ansible.builtin.command',
          '-a',
          'printenv SSH_CONNECTION',
        ],
        { ANSIBLE_SSH_ARGS: sshArgs },
      );
      expectEveryAliasReached(result);
    },
    TEST_MS,
  );

  it(
    'ansible-playbook, copy then check on the server, forks 5: failed=0 everywhere and the file arrived',
    async () => {
      lab.forgetKnocks();
      const payload = join(work, 'playbook-payload.bin');
      writeFileSync(payload, randomBytes(512 * 1024 + 3));
      const expected = await sha256File(payload);
      const drop = join(work, 'drop');
      writeFileSync(
        join(work, 'playbook.yml'),
        [
          '- name: deploy through the knock',
          '  hosts: all',
          '  gather_facts: false',
          '  tasks:',
          '    - name: copy the payload',
          '      ansible.builtin.copy:',
          '        src: "{{ payload }}"',
          '        dest: "{{ drop }}/ansible-{{ inventory_hostname }}.bin"',
          '        mode: "0600"',
          '    - name: check it where it landed',
          '      ansible.builtin.command: sha256sum {{ drop }}/ansible-{{ inventory_hostname }}.bin',
          '      register: landed',
          '      changed_when: false',
          '      failed_when: landed.rc != 0 or landed.stdout.split()[0] != expected',
          '',
        ].join('\n'),
      );
      // Here without ControlPersist, so every connection knocks on its own and up to 5 proxies run at
      // once; pipelining keeps it to a few connections per task.
      const result = await inClient(
        [
          ANSIBLE_PLAYBOOK,
          '-i',
          join(work, 'hosts.ini'),
          '-f',
          '5',
          '-e',
          JSON.stringify({ payload, drop, expected }),
          join(work, 'playbook.yml'),
        ],
        { ANSIBLE_SSH_ARGS: `-F ${config} -o ControlMaster=no`, ANSIBLE_PIPELINING: 'True' },
      );
      const explain = `${result.stdout}\n${result.stderr}`;
      expect(result.code, explain).toBe(0);
      for (const alias of Object.keys(aliases)) {
        expect(result.stdout, explain).toMatch(
          new RegExp(`^${alias}\\s+: ok=2\\s+changed=1\\s+unreachable=0\\s+failed=0\\s`, 'm'),
        );
        expect(await sha256File(join(drop, `ansible-${alias}.bin`))).toBe(expected);
      }
      expect(knocked()).toEqual({ ipv4: true, ipv6: true });
    },
    TEST_MS,
  );

  it(
    'ansible with the paramiko connection, given the ProxyCommand setup wrote: every host ok',
    async () => {
      lab.forgetKnocks();
      // Ansible's paramiko plugin (2.14) never reads ~/.ssh/config: it connects to ansible_host and takes a
      // ProxyCommand only from ssh_args/ssh_common_args/ssh_extra_args or ANSIBLE_PARAMIKO_PROXY_COMMAND,
      // expanding %h, %p and %r. So each host gets its HostName and ProxyCommand as ssh resolves them.
      const hosts: Record<string, Record<string, string>> = {};
      for (const alias of Object.keys(aliases)) {
        const { hostname, proxycommand } = sshResolves(alias);
        hosts[alias] = {
          ansible_host: hostname ?? '',
          ansible_ssh_common_args: `-o ProxyCommand="${proxycommand ?? ''}"`,
        };
      }
      const inventory = join(work, 'paramiko-hosts.json');
      writeFileSync(
        inventory,
        JSON.stringify({
          all: {
            hosts,
            vars: {
              ansible_connection: 'paramiko',
              ansible_user: 'root',
              ansible_ssh_private_key_file: join(lab.dir, 'user_key'),
              ansible_python_interpreter: '/usr/bin/python3',
            },
          },
        }),
      );
      const result = await inClient(
        [
          ANSIBLE,
          'all',
          '-i',
          inventory,
          '-f',
          '5',
          '-o',
          '-m',
          'ansible.builtin.command',
          '-a',
          'printenv SSH_CONNECTION',
        ],
        {
          ANSIBLE_PARAMIKO_LOOK_FOR_KEYS: 'False',
          ANSIBLE_PARAMIKO_HOST_KEY_AUTO_ADD: 'True',
          ANSIBLE_PARAMIKO_RECORD_HOST_KEYS: 'False',
          ANSIBLE_PARAMIKO_BANNER_TIMEOUT: '15',
        },
      );
      expectEveryAliasReached(result);
    },
    TEST_MS,
  );

  it(
    "ansible's paramiko connection ignores ~/.ssh/config: without the ProxyCommand given, no knock and no way in",
    async () => {
      lab.forgetKnocks();
      const inventory = join(work, 'paramiko-bare.ini');
      writeFileSync(
        inventory,
        `web1 ansible_host=${lab.server.ipv4} ansible_connection=paramiko ansible_user=root ` +
          `ansible_ssh_private_key_file=${join(lab.dir, 'user_key')}\n`,
      );
      const result = await inClient(
        [ANSIBLE, 'web1', '-i', inventory, '-o', '-m', 'ansible.builtin.command', '-a', 'true'],
        {
          ANSIBLE_PARAMIKO_LOOK_FOR_KEYS: 'False',
          ANSIBLE_PARAMIKO_HOST_KEY_AUTO_ADD: 'True',
          ANSIBLE_TIMEOUT: '3',
        },
      );
      expect(result.code, result.stdout + result.stderr).not.toBe(0);
      expect(adHocLines(result.stdout).web1?.status, result.stdout + result.stderr).toBe('UNREACHABLE!');
      expect(result.stdout).toMatch(/timed out/);
      expect(knocked()).toEqual({ ipv4: false, ipv6: false });
    },
    TEST_MS,
  );

  it(
    'fabric: Connection per alias (run, put, run) and a ThreadingGroup, from the config setup wrote',
    async () => {
      lab.forgetKnocks();
      const payload = join(work, 'fabric-payload.bin');
      writeFileSync(payload, randomBytes(256 * 1024 + 7));
      const expected = await sha256File(payload);
      const drop = join(work, 'drop');
      const result = await inClient([PYTHON, FABRIC_CLIENT, config, payload, drop, ...Object.keys(aliases)]);
      const explain = `${result.stdout}\n${result.stderr}`;
      expect(result.code, explain).toBe(0);
      const report = JSON.parse(result.stdout) as {
        connections: Record<string, { proxycommand: string; ssh_connection: string; sha256: string }>;
      };
      for (const [alias, address] of Object.entries(aliases)) {
        // paramiko's own expansion of the line setup wrote: what Fabric really ran.
        // paramiko hands the proxy pipes: --fdpass relays there.
        expect(report.connections[alias]?.proxycommand).toBe(`pingknock proxy --name ${alias} --fdpass ${address} 22`);
        expect(report.connections[alias]?.ssh_connection).toMatch(sessionFrom(alias));
        expect(report.connections[alias]?.sha256).toBe(expected);
        expect(await sha256File(join(drop, `fabric-${alias}.bin`))).toBe(expected);
      }
      // The ThreadingGroup's sessions, one line each, all at once: two to the IPv4 address, one to the IPv6.
      const group = readFileSync(join(drop, 'fabric-group.log'), 'utf8').trim().split('\n').sort();
      expect(group).toHaveLength(3);
      expect(group.filter((line) => sessionFrom('web1').test(line))).toHaveLength(2);
      expect(group.filter((line) => sessionFrom('web6').test(line))).toHaveLength(1);
      expect(knocked()).toEqual({ ipv4: true, ipv6: true });
    },
    TEST_MS,
  );

  it(
    'plain paramiko: SSHConfig of ~/.ssh/config, paramiko.ProxyCommand, a command and an SFTP put',
    async () => {
      const payload = join(work, 'paramiko-payload.bin');
      writeFileSync(payload, randomBytes(128 * 1024 + 1));
      const expected = await sha256File(payload);
      for (const alias of ['web1', 'web6']) {
        lab.forgetKnocks();
        const remote = join(work, 'drop', `paramiko-${alias}.bin`);
        const result = await inClient([PYTHON, PARAMIKO_CLIENT, alias, payload, remote]);
        const explain = `${result.stdout}\n${result.stderr}`;
        expect(result.code, explain).toBe(0);
        const report = JSON.parse(result.stdout) as {
          proxycommand: string;
          ssh_connection: string;
          sha256: string;
          proxy_end: string;
          proxy_stderr: string;
        };
        expect(report.proxycommand).toBe(`pingknock proxy --name ${alias} --fdpass ${aliases[alias]} 22`);
        expect(report.ssh_connection).toMatch(sessionFrom(alias));
        expect(report.sha256).toBe(expected);
        expect(await sha256File(remote)).toBe(expected);
        // paramiko ends the proxy with SIGTERM when it closes: it ended, and said nothing on the way out.
        expect(report.proxy_end).toMatch(/^(signal 15|exit \d+)$/);
        expect(report.proxy_stderr).toBe('');
        expect(knocked()).toEqual({ ipv4: alias !== 'web6', ipv6: alias === 'web6' });
      }
    },
    TEST_MS,
  );
});

/**
 * `ansible -o` lines: `HOST | CHANGED | rc=N | (stdout) TEXT`, `HOST | FAILED! => {...}`,
 * `HOST | UNREACHABLE!: MESSAGE`.
 */
function adHocLines(stdout: string): Record<string, { status: string; stdout: string }> {
  const lines: Record<string, { status: string; stdout: string }> = {};
  for (const line of stdout.split('\n')) {
    const match = /^(\S+) \| ([A-Z]+!?)(.*)$/.exec(line.trimEnd());
    if (match?.[1] === undefined || match[2] === undefined) continue;
    const output = /^ \| rc=\d+ \| \(stdout\) (.*)$/.exec(match[3] ?? '');
    lines[match[1]] = { status: match[2], stdout: (output?.[1] ?? '').trim() };
  }
  return lines;
}

function escaped(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Runs a program in a process group of its own and collects its output. At the timeout the whole
 * group is killed, and so is what is left of it shortly after the program exits: a client's
 * helpers (Ansible's workers) could otherwise hold the pipes open and the test would hang.
 */
function runGroup(command: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Ran> {
  const [file, ...args] = command;
  return new Promise((resolve, reject) => {
    const child = spawn(file ?? 'false', args, { env, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // The group is gone already.
      }
    };
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
    });
    const timer = setTimeout(killGroup, CLIENT_MS);
    let leftovers: NodeJS.Timeout | undefined;
    child.on('exit', () => {
      leftovers = setTimeout(killGroup, 2_000);
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(leftovers);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Kills, by process id, whatever still runs in the lab's client namespace: only the tests start processes there. */
function endClientProcesses(lab: Lab): void {
  const pids = spawnSync('ip', ['netns', 'pids', lab.client.netns], { encoding: 'utf8' })
    .stdout.split(/\s+/)
    .filter(Boolean);
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}
