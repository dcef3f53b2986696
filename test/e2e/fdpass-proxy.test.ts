import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { STATIC_MODE } from '../../src/core/rolling.js';
import { proxyCommandFor } from '../../src/core/ssh-config/proxy-command.js';
import { run } from '../../src/edge/exec.js';
import { LAB_HOSTS, type Lab } from '../../src/lab/lab.js';
import { argvOf, descendantsOf, killStarted, processInfo, start, waitFor, type Started } from '../support/spawned.js';
import { newSecret, protectedLab, sha256File, startOnTerminal } from './fixture.js';

/**
 * `pingknock proxy --fdpass` as `pingknock setup` writes it (ProxyUseFdpass yes): ssh takes the
 * connected socket, the proxy exits, and no pingknock process is left while the session runs,
 * for ssh, scp, rsync, a ControlMaster that persists, `ssh -f`, and on a terminal; the stream
 * arrives intact. The same line relays when ssh gives pipes (ProxyUseFdpass no). Each session
 * checks the client's whole namespace for a proxy, once the session has shown it runs.
 */

const ALIAS = 'passed';
const PAYLOAD = randomBytes(2 * 1024 * 1024 + 5);
/** The remote command: a line once the session runs, then every byte of its input back. */
const ECHO = 'echo ready; exec cat';

afterEach(killStarted);

describe('ssh through pingknock proxy --fdpass (ProxyUseFdpass yes, as setup writes it)', () => {
  let lab: Lab;
  let config: string;

  beforeAll(async () => {
    lab = await protectedLab('bare', newSecret());
    config = join(lab.dir, 'fdpass_config');
    // The user's defaults in a catch-all; setup puts the host's block above it, with the lab's secret.
    writeFileSync(config, ['Host *', ...lab.sshClientOptions().map((line) => `    ${line}`), ''].join('\n'), {
      mode: 0o600,
    });
    const labSecret = join(lab.home, '.ssh', 'pingknock', LAB_HOSTS.knocked);
    const setup = await lab.onClient(
      'pingknock',
      ['setup', ALIAS, '--hostname', lab.server.ipv4, '--config', config, '--secret-file', labSecret, '--yes'],
      { timeoutMs: 30_000 },
    );
    if (setup.code !== 0) throw new Error(`pingknock setup failed (${setup.code}): ${setup.stderr}`);
  });
  afterEach(() => {
    if (lab !== undefined) endClientProcesses(lab);
  });
  afterAll(() => lab?.destroy());

  /** ssh (or scp, rsync) with the config setup wrote, in the client namespace, watched. */
  const client = (program: string, args: readonly string[]): Started =>
    start('ip', ['netns', 'exec', lab.client.netns, program, ...args], lab.env);

  /** Every pingknock proxy alive in the client's namespace, whoever started it. */
  const proxiesInClient = async (): Promise<number[]> => {
    const pids = (await run('ip', ['netns', 'pids', lab.client.netns])).stdout.toString().split(/\s+/);
    return pids.filter(Boolean).map(Number).filter(isProxy);
  };

  it('setup wrote ProxyUseFdpass yes and --fdpass, and ssh -G reads them', async () => {
    const passing = proxyCommandFor(ALIAS, STATIC_MODE, { fdpass: true });
    expect(readFileSync(config, 'utf8')).toContain(
      `Host ${ALIAS}\n    HostName ${lab.server.ipv4}\n    ProxyCommand ${passing}\n    ProxyUseFdpass yes\n`,
    );
    const effective = (await lab.onClient('ssh', ['-G', '-F', config, ALIAS])).stdout.toString();
    expect(effective).toMatch(new RegExp(`^proxycommand ${passing}$`, 'm'));
    expect(effective).toMatch(/^proxyusefdpass yes$/m);
  });

  it('ssh: the session runs with no pingknock process left, and carries every byte both ways', async () => {
    lab.forgetKnocks();
    const ssh = client('ssh', ['-F', config, ALIAS, ECHO]);
    await ssh.line('stdout', /^ready$/, 20_000);
    expect(descendantsOf(ssh.child.pid ?? 0)).toEqual([]);
    expect(await proxiesInClient()).toEqual([]);
    ssh.child.stdin.end(PAYLOAD);
    const result = await ssh.finish(30_000);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    expect(Buffer.from(result.stdout, 'latin1').equals(Buffer.concat([Buffer.from('ready\n'), PAYLOAD]))).toBe(true);
  });

  it.each([
    {
      name: 'scp',
      command: (source: string, target: string) =>
        ['scp', '-q', '-F', config, '-l', '8000', source, `${ALIAS}:${target}`] as const,
    },
    {
      name: 'rsync',
      command: (source: string, target: string) =>
        ['rsync', '-a', '--bwlimit=1000', '-e', `ssh -F ${config}`, source, `${ALIAS}:${target}`] as const,
    },
  ])('$name: byte-exact, with no pingknock process while the transfer runs', async ({ name, command }) => {
    lab.forgetKnocks();
    const source = join(lab.dir, `${name}-source.bin`);
    const target = join(lab.dir, `${name}-target.bin`);
    writeFileSync(source, PAYLOAD);
    const [program = '', ...args] = command(source, target);
    const transfer = client(program, args);
    // Limited to about 1 MB/s, so the transfer runs for a while once its first bytes landed.
    await waitFor(`${name}'s first bytes on the server`, () => landed(target, name), 20_000);
    expect(await proxiesInClient()).toEqual([]);
    const result = await transfer.finish(30_000);
    expect(result.code, result.stderr).toBe(0);
    expect(await sha256File(target)).toBe(await sha256File(source));
  });

  it('ControlMaster with ControlPersist: the master holds the passed socket, later sessions reuse it', async () => {
    lab.forgetKnocks();
    const control = ['-o', 'ControlMaster=auto', '-o', `ControlPath=${join(lab.dir, 'cm-%C')}`];
    const first = await client('ssh', [
      '-F',
      config,
      ...control,
      '-o',
      'ControlPersist=60',
      ALIAS,
      'echo first',
    ]).finish(20_000);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe('first\n');
    // The master persists in the background, on the socket the proxy handed over.
    const check = await lab.onClient('ssh', ['-F', config, ...control, '-O', 'check', ALIAS]);
    expect(check.code, check.stderr.toString()).toBe(0);
    expect(await proxiesInClient()).toEqual([]);
    // Knocks forgotten: a new connection would find the port closed, the master's goes on.
    lab.forgetKnocks();
    const second = client('ssh', ['-F', config, ...control, ALIAS, ECHO]);
    await second.line('stdout', /^ready$/, 20_000);
    expect(await proxiesInClient()).toEqual([]);
    second.child.stdin.end(PAYLOAD);
    const reused = await second.finish(30_000);
    expect(reused.code, reused.stderr).toBe(0);
    expect(Buffer.from(reused.stdout, 'latin1').subarray('ready\n'.length).equals(PAYLOAD)).toBe(true);
    const exit = await lab.onClient('ssh', ['-F', config, ...control, '-O', 'exit', ALIAS]);
    expect(exit.code, exit.stderr.toString()).toBe(0);
  });

  it('ssh -f: in the background after the login, with no pingknock process beside it', async () => {
    lab.forgetKnocks();
    const marker = join(lab.dir, 'background-started');
    const foreground = client('ssh', ['-F', config, '-f', ALIAS, `echo "$SSH_CONNECTION" > ${marker}; sleep 30`]);
    // Only its exit: the background ssh keeps the output pipes.
    await waitFor('ssh -f to go to the background', () => foreground.exitedAt() !== undefined, 20_000);
    expect(foreground.child.exitCode, foreground.stderr()).toBe(0);
    await waitFor('the background session', () => existsSync(marker) && statSync(marker).size > 0, 20_000);
    expect(readFileSync(marker, 'utf8')).toMatch(new RegExp(`^${lab.client.ipv4.replaceAll('.', '\\.')} \\d+ `));
    const background = await waitFor('the background ssh', () => sshInClient(lab), 5_000);
    expect(processInfo(background)).toBeDefined();
    expect(await proxiesInClient()).toEqual([]);
  });

  it('on a terminal: the spinner is shown and cleared, then the session runs with no pingknock process', async () => {
    lab.forgetKnocks();
    const marker = join(lab.dir, 'terminal-session');
    const session = startOnTerminal(
      lab,
      `ssh -F ${config} -tt ${ALIAS} 'echo "$SSH_CONNECTION" > ${marker}; sleep 2; echo session-over'`,
    );
    await waitFor('the session on the terminal', () => existsSync(marker) && statSync(marker).size > 0, 20_000);
    expect(await proxiesInClient()).toEqual([]);
    const result = await session.finish(30_000);
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toContain('session-over');
    expect(result.stdout).toMatch(/knocking 10\.201\.0\.1/);
    const cleared = result.stdout.lastIndexOf('\u001b[1G\u001b[0K');
    expect(cleared).toBeGreaterThan(result.stdout.search(/knocking 10\.201\.0\.1/));
    expect(result.stdout.slice(cleared)).not.toMatch(/knocking|connecting to port/);
    expect(result.stdout).not.toContain('pingknock:');
  });

  it('ProxyUseFdpass no: the same line gets pipes and relays, alive below ssh for the session', async () => {
    lab.forgetKnocks();
    const ssh = client('ssh', ['-F', config, '-o', 'ProxyUseFdpass=no', ALIAS, ECHO]);
    await ssh.line('stdout', /^ready$/, 20_000);
    const below = descendantsOf(ssh.child.pid ?? 0).map((info) => info.pid);
    expect(below.filter(isProxy)).toHaveLength(1);
    ssh.child.stdin.end(PAYLOAD);
    const result = await ssh.finish(30_000);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    expect(Buffer.from(result.stdout, 'latin1').subarray('ready\n'.length).equals(PAYLOAD)).toBe(true);
  });

  it('doctor reads the line, says ssh takes the socket, and its knock opens the port', async () => {
    lab.forgetKnocks();
    const result = await lab.onClient('pingknock', ['doctor', ALIAS, '--config', config], { timeoutMs: 30_000 });
    const stdout = result.stdout.toString();
    expect(result.code, stdout).toBe(0);
    expect(stdout).toMatch(
      new RegExp(
        `^ok {4}ssh config: ssh -F ${config} ${ALIAS} goes to ${lab.server.ipv4.replaceAll('.', '\\.')} port 22 ` +
          `through ProxyCommand .* --fdpass %h %p; ssh takes the connected socket from it \\(ProxyUseFdpass yes\\)`,
        'm',
      ),
    );
    for (const check of ['secret', 'name', 'knock', 'port'])
      expect(stdout).toMatch(new RegExp(`^ok {4}${check}: `, 'm'));
  });
});

/** node running the built pingknock's proxy, not a zombie. */
function isProxy(pid: number): boolean {
  const argv = argvOf(pid);
  return processInfo(pid)?.state !== 'Z' && argv[1]?.endsWith('/bin/pingknock') === true && argv[2] === 'proxy';
}

/** Whether a transfer's target holds bytes yet: scp writes it in place, rsync into a temporary file beside it. */
function landed(target: string, name: string): boolean {
  if (name === 'scp') return existsSync(target) && statSync(target).size > 0;
  const folder = join(target, '..');
  return readdirNames(folder).some((entry) => entry.startsWith(`.${name}-target.bin.`));
}

function readdirNames(folder: string): string[] {
  try {
    return readdirSync(folder);
  } catch {
    return [];
  }
}

/** An ssh client process in the lab's client namespace (the one `ssh -f` left in the background). */
function sshInClient(lab: Lab): number | undefined {
  const listing = spawnSync('ip', ['netns', 'pids', lab.client.netns], { encoding: 'utf8' }).stdout;
  return listing
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .find((pid) => processInfo(pid)?.comm === 'ssh');
}

/** Kills, by process id, what still runs in the lab's client namespace: ssh -f's and ControlPersist's leftovers. */
function endClientProcesses(lab: Lab): void {
  const listing = spawnSync('ip', ['netns', 'pids', lab.client.netns], { encoding: 'utf8' }).stdout;
  for (const pid of listing.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
}
