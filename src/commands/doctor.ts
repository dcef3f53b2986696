import { promises as fs } from 'node:fs';
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { ExitCode, PingknockError, type ExitCodeName } from '../core/errors.js';
import { secretToHex, type Secret } from '../core/secret.js';
import { parseHost } from '../core/target.js';
import { detectPing, formatSeconds, knockLayoutProblem, sendKnock } from '../edge/ping.js';
import { resolveHost, type ResolvedHost } from '../edge/resolve.js';
import { loadSecret, SECRET_ENV, secretPathFor } from '../edge/secret-source.js';
import { connectTcp } from '../edge/tcp.js';
import { secondsOption } from './options.js';
import { loadSshConfigModules } from './setup.js';

export const command = 'doctor [alias]';
export const describe = 'Check what a knock needs: the local ping, the secret, the ssh config, the name, and a live knock';

export function builder(yargs: Argv) {
  return yargs
    .positional('alias', { type: 'string', describe: 'the ssh host alias to check end to end (knocks it)' })
    .option('config', { type: 'string', describe: 'ssh config file (as ssh -F); default: what ssh reads', requiresArg: true })
    .option('deadline', { type: 'number', default: 3, describe: 'seconds to keep knocking until an echo reply comes', requiresArg: true })
    .option('connect-timeout', { type: 'number', default: 5, describe: 'seconds to wait for the port after the knock', requiresArg: true })
    .example('$0 doctor', 'is the local ping one that can knock?')
    .example('$0 doctor myserver', 'everything `ssh myserver` needs, ending with a real knock and a connection to the port');
}

type Args = ArgumentsCamelCase<Awaited<ReturnType<typeof builder>['argv']>>;

/** One check, one line on stdout: ok, or what is wrong and what to do. */
class Checklist {
  private readonly failures: ExitCodeName[] = [];
  private count = 0;

  ok(name: string, detail: string): void {
    this.line('ok', name, detail);
  }

  fail(name: string, detail: string, kind: ExitCodeName): void {
    this.failures.push(kind);
    this.line('FAIL', name, detail);
  }

  failWith(name: string, error: unknown, fallback: ExitCodeName): void {
    if (error instanceof PingknockError) {
      this.fail(name, error.message, kindOf(error) ?? fallback);
    } else {
      this.fail(name, error instanceof Error ? error.message : String(error), fallback);
    }
  }

  skip(name: string, detail: string): void {
    this.line('skip', name, detail);
  }

  finish(): void {
    const [first] = this.failures;
    if (first !== undefined) {
      throw new PingknockError(first, `${this.failures.length} of ${this.count} checks failed`);
    }
  }

  private line(status: string, name: string, detail: string): void {
    this.count += status === 'skip' ? 0 : 1;
    process.stdout.write(`${status.padEnd(4)}  ${name}: ${detail}\n`);
  }
}

export async function handler(argv: Args): Promise<void> {
  const { effectiveMismatches, effectiveSshConfig, parseAlias, pingknockProxyForm } = await loadSshConfigModules();
  const alias = argv.alias === undefined ? undefined : parseAlias(argv.alias);
  const deadlineMs = secondsOption('deadline', argv.deadline);
  const connectTimeoutMs = secondsOption('connect-timeout', argv.connectTimeout);
  const checks = new Checklist();

  let pingReady = false;
  try {
    const ping = await detectPing();
    const problem = knockLayoutProblem(ping);
    if (problem === undefined) {
      checks.ok('ping', `${ping.description} (${ping.flavour}): puts the -p pattern where the rules look for it`);
      pingReady = true;
    } else {
      checks.fail('ping', `${ping.description}: ${problem}`, 'pingUnavailable');
    }
  } catch (error) {
    checks.failWith('ping', error, 'pingUnavailable');
  }

  const { findCommand } = await import('../lab/exec.js');
  const program = findCommand('pingknock');
  if (program === undefined) {
    checks.fail('pingknock', 'not on PATH, where ssh looks for the ProxyCommand; run ./install.sh (or link bin/pingknock into a PATH folder)', 'usage');
  } else {
    checks.ok('pingknock', `${program} is on PATH for ssh's ProxyCommand`);
  }

  if (alias === undefined) {
    checks.finish();
    return;
  }

  let secret: Secret | undefined;
  try {
    secret = await loadSecret({ name: alias, env: process.env });
    checks.ok('secret', await describeSecretSource(alias));
  } catch (error) {
    checks.failWith('secret', error, 'secret');
  }

  let host = alias;
  let port = 22;
  const answer = await effectiveSshConfig(alias, argv.config === undefined ? { kind: 'default' } : { kind: 'file', path: argv.config });
  const sshCommand = `ssh${argv.config === undefined ? '' : ` -F ${argv.config}`} ${alias}`;
  if (answer.kind === 'ok') {
    host = answer.config.get('hostname') ?? alias;
    port = Number(answer.config.get('port') ?? 22);
    const mismatches = effectiveMismatches(answer.config, alias);
    const setup = `pingknock setup ${alias}${argv.config === undefined ? '' : ` --config ${argv.config}`}`;
    if (mismatches.length === 0) {
      const proxy = answer.config.get('proxycommand') ?? '';
      const legacy = pingknockProxyForm(proxy, alias) === 'legacy' ? `; only OpenSSH expands its %n, so Fabric and paramiko cannot use it: ${setup} writes the alias instead` : '';
      checks.ok('ssh config', `${sshCommand} goes to ${host} port ${port} through ProxyCommand ${proxy}${legacy}`);
    } else {
      checks.fail('ssh config', `${sshCommand} uses ${mismatches.join(' and ')}, so it does not knock; run: ${setup}`, 'usage');
    }
  } else {
    checks.fail('ssh config', answer.kind === 'failed' ? `ssh -G: ${answer.message}` : answer.reason, 'usage');
  }

  let target: ResolvedHost | undefined;
  try {
    target = await resolveHost(parseHost(host));
    checks.ok('name', target.address === host ? `${host} is an address` : `${host} resolves to ${target.address}`);
  } catch (error) {
    checks.failWith('name', error, 'resolve');
  }

  if (!pingReady || secret === undefined || target === undefined) {
    checks.skip('knock', 'needs a ping that can knock, the secret and the address: fix the lines above first');
    checks.finish();
    return;
  }
  const started = performance.now();
  try {
    await sendKnock({ target, patternHex: secretToHex(secret), deadlineMs });
    checks.ok('knock', `${target.address} answered the knock in ${formatSeconds(performance.now() - started)}`);
  } catch (error) {
    checks.failWith('knock', error, 'noReply');
    checks.skip('port', 'needs an answered knock');
    checks.finish();
    return;
  }
  try {
    const socket = await connectTcp(target, port, connectTimeoutMs);
    socket.destroy();
    checks.ok('port', `${target.family === 6 ? `[${target.address}]` : target.address}:${port} accepted a connection after the knock`);
  } catch (error) {
    checks.failWith('port', error, 'connectFailed');
  }
  checks.finish();
}

/** Where the secret came from, the way `proxy --name ALIAS` looks for it. */
async function describeSecretSource(alias: string): Promise<string> {
  const fromEnv = process.env[SECRET_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return `from ${SECRET_ENV} (it takes precedence over the file)`;
  const path = secretPathFor(alias);
  const mode = (await fs.stat(path)).mode & 0o777;
  return `${path}, mode ${mode.toString(8).padStart(4, '0')}, well-formed`;
}

/** The failure class of an error, so doctor exits like the command that would have failed. */
function kindOf(error: PingknockError): ExitCodeName | undefined {
  return (Object.keys(ExitCode) as ExitCodeName[]).find((name) => ExitCode[name] === error.exitCode);
}
