import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAlias } from '../core/ssh-config/names.js';
import { readPingknockProxy, type PingknockProxy } from '../core/ssh-config/proxy-command.js';

/**
 * ssh's own answer to "what would you use for this host", from `ssh -G`: option names in lower
 * case, first value each.
 */
export type EffectiveSshConfig = ReadonlyMap<string, string>;

export type SshConfigAnswer =
  | { readonly kind: 'ok'; readonly config: EffectiveSshConfig }
  | { readonly kind: 'unavailable'; readonly reason: string }
  | { readonly kind: 'failed'; readonly message: string };

/** Which config ssh reads: its default files, a file (`-F`), or text that is not written anywhere yet. */
export type SshConfigSource =
  | { readonly kind: 'default' }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'text'; readonly text: Uint8Array; readonly shownAs: string };

/** What `ssh` not starting at all means, for a user. */
export function sshStartFailure(error: NodeJS.ErrnoException): string {
  return error.code === 'ENOENT'
    ? 'ssh not found (Debian/Ubuntu: apt-get install openssh-client)'
    : `ssh could not be started (${error.code ?? error.message})`;
}

/** What ssh makes of an alias: the host it connects to, and the ProxyCommand it runs. */
export interface AliasView {
  /** ssh -G's HostName (the alias itself when the config gives none). */
  readonly hostName: string | undefined;
  readonly proxyCommand: string | undefined;
  /** That ProxyCommand read as pingknock's line for this alias; undefined when it is none. */
  readonly pingknock: PingknockProxy | undefined;
}

export type AliasViewAnswer =
  { readonly kind: 'ok'; readonly view: AliasView } | { readonly kind: 'unanswered'; readonly why: string };

/** An alias as ssh -G reads it from `configFile` (ssh -F), or from ssh's own files when undefined. */
export async function sshAliasView(alias: string, configFile: string | undefined): Promise<AliasViewAnswer> {
  const answer = await effectiveSshConfig(
    alias,
    configFile === undefined ? { kind: 'default' } : { kind: 'file', path: configFile },
  );
  if (answer.kind !== 'ok')
    return { kind: 'unanswered', why: answer.kind === 'failed' ? answer.message : answer.reason };
  const proxyCommand = answer.config.get('proxycommand');
  return {
    kind: 'ok',
    view: {
      hostName: answer.config.get('hostname'),
      proxyCommand,
      pingknock: proxyCommand === undefined ? undefined : readPingknockProxy(proxyCommand, alias),
    },
  };
}

/** `Match exec` runs commands of the user's; one that hangs must not hang pingknock. */
const SSH_G_TIMEOUT_MS = 15_000;

/**
 * Runs `ssh -G` for an alias: ssh evaluates Include, Match (exec too) and first-match-wins
 * exactly as it will when connecting. Text that is not written anywhere yet goes to ssh as a
 * private temporary file (Node's stdio are sockets, which ssh cannot open as `/dev/stdin`);
 * relative Includes still resolve as for the real file, since ssh takes them from ~/.ssh. ssh is
 * spawned with an argument array and the alias after `--`, and the alias is validated as well:
 * it can never become an option.
 */
export async function effectiveSshConfig(alias: string, source: SshConfigSource): Promise<SshConfigAnswer> {
  const host = parseAlias(alias);
  if (source.kind !== 'text') {
    return runSshG(host, source.kind === 'file' ? ['-F', source.path] : [], undefined);
  }
  const folder = await fs.mkdtemp(join(tmpdir(), 'pingknock-ssh-G-'));
  try {
    const file = join(folder, 'config');
    await fs.writeFile(file, source.text, { mode: 0o600 });
    return await runSshG(host, ['-F', file], { file, shownAs: source.shownAs });
  } finally {
    await fs.rm(folder, { recursive: true, force: true });
  }
}

function runSshG(
  host: string,
  fileArgs: readonly string[],
  rename: { file: string; shownAs: string } | undefined,
): Promise<SshConfigAnswer> {
  return new Promise((resolve) => {
    const child = spawn('ssh', ['-G', ...fileArgs, '--', host], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, SSH_G_TIMEOUT_MS);
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({
        kind: 'unavailable',
        reason: sshStartFailure(error),
      });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (timedOut) {
        resolve({
          kind: 'failed',
          message:
            `ssh -G ${host} did not finish within ${SSH_G_TIMEOUT_MS / 1000} s ` + '(a Match exec command that hangs?)',
        });
      } else if (code !== 0) {
        resolve({ kind: 'failed', message: sshComplaint(stderr, rename) || `ssh -G ${host} exited with ${code}` });
      } else {
        resolve({ kind: 'ok', config: parseSshG(stdout) });
      }
    });
  });
}

/** What `ssh -V` says about the local ssh (on stderr, in OpenSSH's case); undefined when no ssh runs. */
export function sshVersion(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn('ssh', ['-V'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (text: string): void => {
      output += text;
    };
    child.stdout.setEncoding('utf8').on('data', collect);
    child.stderr.setEncoding('utf8').on('data', collect);
    const timer = setTimeout(() => child.kill('SIGKILL'), SSH_G_TIMEOUT_MS);
    child.on('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code === 0 ? output.trim() : undefined);
    });
  });
}

/** `ssh -G` prints one `option value` line each; repeated options (identityfile) keep their first value. */
export function parseSshG(output: string): EffectiveSshConfig {
  const config = new Map<string, string>();
  for (const line of output.split('\n')) {
    const match = /^(\S+)\s?(.*)$/.exec(line.trimEnd());
    if (match === null) continue;
    const key = (match[1] ?? '').toLowerCase();
    if (!config.has(key)) config.set(key, match[2] ?? '');
  }
  return config;
}

function sshComplaint(stderr: string, rename: { file: string; shownAs: string } | undefined): string {
  return stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('Pseudo-terminal'))
    .map((line) => (rename === undefined ? line : line.replaceAll(rename.file, rename.shownAs)))
    .join('; ');
}
