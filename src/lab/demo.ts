import { spawnSync } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { PingknockError } from '../core/errors.js';
import { SECRET_RANDOM_BYTES, secretFromRandomBytes } from '../core/secret.js';
import { buildRuleModel, DEFAULT_WINDOW_SECONDS } from '../core/rules/model.js';
import { renderNftables } from '../core/rules/nftables.js';
import { proxyCommandFor } from '../core/ssh-config/proxy-command.js';
import { formatSeconds } from '../core/duration.js';
import { findCommand } from '../edge/exec.js';
import { Lab, LAB_HOSTS, type ServerFirewall } from './lab.js';

const say = (text: string): void => {
  process.stdout.write(`${text}\n`);
};

/** `pingknock demo`: build the lab, show ssh refused without a knock and working with one, remove the lab. */
export async function runDemo(firewall: ServerFirewall): Promise<void> {
  if (process.getuid?.() !== 0) {
    runAgainAsRoot();
    return;
  }
  const secret = secretFromRandomBytes(randomBytes(SECRET_RANDOM_BYTES));
  say('pingknock demo: building a lab of two network namespaces joined by a veth pair');
  const lab = await Lab.create({ secret, serverFirewall: firewall });
  try {
    lab.loadServerRules(
      renderNftables(buildRuleModel({ secret, port: lab.port, windowSeconds: DEFAULT_WINDOW_SECONDS })),
    );
    say(
      `  server ${lab.server.netns}: ${lab.server.ipv4}, real sshd on port ${lab.port}, ` +
        'rules from `pingknock rules` loaded with nft',
    );
    say(
      `  client ${lab.client.netns}: ${lab.client.ipv4}, secret in ~/.ssh/pingknock/${LAB_HOSTS.knocked}, ssh config:`,
    );
    say(
      [
        `      Host ${LAB_HOSTS.knocked}`,
        `        HostName ${lab.server.ipv4}`,
        `        ProxyCommand ${proxyCommandFor(LAB_HOSTS.knocked)}`,
      ].join('\n'),
    );

    say('[1/3] ssh without a knock (ConnectTimeout 3)');
    const refused = await lab.ssh([LAB_HOSTS.direct, 'true'], { timeoutMs: 15_000 });
    if (refused.code === 0) {
      throw new PingknockError('lab', 'ssh without a knock got in: the rules are not protecting the port');
    }
    say(`      refused after ${formatSeconds(refused.ms)}: ${refused.stderr.trim()}`);

    say('[2/3] ssh through pingknock proxy');
    const login = await lab.ssh([LAB_HOSTS.knocked, 'echo "logged in as $(id -un); SSH_CONNECTION=$SSH_CONNECTION"'], {
      timeoutMs: 15_000,
    });
    if (login.code !== 0) {
      throw new PingknockError('lab', `ssh through the knock failed (exit ${login.code}): ${login.stderr.trim()}`);
    }
    say(`      ${login.stdout.toString().trim()} (${formatSeconds(login.ms)})`);

    say('[3/3] scp a 1 MiB file through pingknock proxy');
    const source = join(lab.dir, 'demo-source.bin');
    const target = join(lab.dir, 'demo-copied.bin');
    writeFileSync(source, randomBytes(1024 * 1024));
    const copy = await lab.onClient('scp', ['-q', '-F', lab.sshConfig, source, `${LAB_HOSTS.knocked}:${target}`], {
      timeoutMs: 30_000,
    });
    const [sent, arrived] = [source, target].map((file) => sha256(file));
    if (copy.code !== 0 || sent !== arrived) {
      throw new PingknockError('lab', `scp through the knock failed (exit ${copy.code}): ${copy.stderr.trim()}`);
    }
    say(`      copied in ${formatSeconds(copy.ms)}, sha256 ${sent?.slice(0, 16)}… matches on both sides`);
  } finally {
    lab.destroy();
    say('lab removed: namespaces, sshd and files are gone');
  }
}

const NEEDS_ROOT = 'the demo needs root (network namespaces, nft, sshd)';

/**
 * The same command again through sudo, which may ask for a password on the terminal. The wait is
 * synchronous: a Ctrl-C reaches sudo and the demo, which removes its lab, and this process, whose
 * signal handlers run only once they are done, so it never returns to the shell ahead of them.
 */
function runAgainAsRoot(): void {
  const sudo = findCommand('sudo');
  if (sudo === undefined)
    throw new PingknockError('privilege', `${NEEDS_ROOT} and sudo is not installed: run it as root`);
  process.stderr.write(`pingknock: ${NEEDS_ROOT}: running it again through sudo\n`);
  const again = spawnSync(sudo, ['--', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
  });
  if (again.error !== undefined)
    throw new PingknockError(
      'privilege',
      `${NEEDS_ROOT}, and ${sudo} could not be started (${again.error.message}): run it as root`,
    );
  process.exitCode = again.status ?? 128 + (again.signal === null ? 0 : constants.signals[again.signal]);
}

function sha256(file: string): string | undefined {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return undefined;
  }
}
