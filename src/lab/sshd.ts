import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { proxyCommandFor } from '../core/ssh-config/proxy-command.js';
import { runChecked } from '../edge/exec.js';

/** The lab's ssh: keys, sshd's config, the client's config, and sshd itself. */

/** Host aliases in the lab's ssh config. */
export const LAB_HOSTS = {
  knocked: 'knocked',
  knocked6: 'knocked6',
  direct: 'direct',
  direct6: 'direct6',
} as const;

/** Where the lab keeps its keys, under its folder. */
export interface LabKeys {
  readonly host: string;
  /** The client's private key; `.pub` beside it. */
  readonly user: string;
  /** root's authorized_keys: the user key. */
  readonly authorized: string;
}

export function makeKeys(dir: string): LabKeys {
  const keys = { host: join(dir, 'host_key'), user: join(dir, 'user_key'), authorized: join(dir, 'authorized_keys') };
  for (const [path, comment] of [
    [keys.host, 'pingknock-lab-host'],
    [keys.user, 'pingknock-lab-user'],
  ] as const) {
    runChecked('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
  }
  writeFileSync(keys.authorized, readFileSync(`${keys.user}.pub`), { mode: 0o600 });
  return keys;
}

/**
 * sshd's config, with `extra` lines in place of the lab's lines of the same keywords (sshd keeps
 * the first value of some keywords and the last of others, so the lab's are left out).
 */
export function sshdConfig(port: number, keys: LabKeys, extra: readonly string[]): string {
  const replaced = new Set(extra.map(keywordOf));
  const own = [
    `Port ${port}`,
    'ListenAddress 0.0.0.0',
    'ListenAddress ::',
    `HostKey ${keys.host}`,
    // root's keys sit in the lab's private folder, which other logins cannot read: theirs are their own.
    `AuthorizedKeysFile ${keys.authorized} .ssh/authorized_keys`,
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'PidFile none',
    // Raised above sshd's defaults, so the tests' bursts of sessions are not turned away.
    'MaxStartups 100:30:200',
    'MaxSessions 100',
    'LogLevel INFO',
    'Subsystem sftp internal-sftp',
  ];
  return [...own.filter((line) => !replaced.has(keywordOf(line))), ...extra, ''].join('\n');
}

const keywordOf = (line: string): string => (line.trim().split(/\s+/)[0] ?? '').toLowerCase();

/** The client's ssh config: each of LAB_HOSTS, with `common` (see Lab.sshClientOptions). */
export function clientConfig(
  server: { readonly ipv4: string; readonly ipv6: string },
  common: readonly string[],
): string {
  const indented = common.map((line) => `  ${line}`);
  return [
    `Host ${LAB_HOSTS.knocked}`,
    `  HostName ${server.ipv4}`,
    `  ProxyCommand ${proxyCommandFor(LAB_HOSTS.knocked)}`,
    ...indented,
    `Host ${LAB_HOSTS.knocked6}`,
    `  HostName ${server.ipv6}`,
    `  ProxyCommand ${proxyCommandFor(LAB_HOSTS.knocked6)}`,
    ...indented,
    `Host ${LAB_HOSTS.direct}`,
    `  HostName ${server.ipv4}`,
    '  ConnectTimeout 3',
    ...indented,
    `Host ${LAB_HOSTS.direct6}`,
    `  HostName ${server.ipv6}`,
    '  ConnectTimeout 3',
    ...indented,
    '',
  ].join('\n');
}

export interface Sshd {
  readonly process: ChildProcess;
  /** What it logged so far. */
  log(): string;
}

/** Starts sshd with `ipArgs` (`ip` arguments that run it where it belongs); resolves once it listens. */
export function startSshd(ipArgs: readonly string[]): Promise<Sshd> {
  // Its privilege separation folder, which a host without a running sshd may lack.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const child = spawn('ip', ipArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const sshd: Sshd = { process: child, log: () => log };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sshd did not start: ${log.trim()}`)), 10_000);
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      log += text;
      // One line per ListenAddress: both must be up before anyone connects.
      if ((log.match(/Server listening on/g) ?? []).length >= 2) {
        clearTimeout(timer);
        resolve(sshd);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sshd exited (${code}): ${log.trim()}`));
    });
  });
}
