import { spawn } from 'node:child_process';
import { PingknockError } from '../core/errors.js';
import type { ResolvedHost } from './resolve.js';

export interface KnockRequest {
  readonly target: ResolvedHost;
  readonly patternHex: string;
  readonly deadlineMs: number;
}

/** Between knocks while no reply has come; a lost knock costs this much, a lost reply too. */
export const KNOCK_INTERVAL_SECONDS = 0.2;

/**
 * Knocks with the system ping until the first echo reply or the deadline. `-c 1` with `-w` makes
 * iputils ping resend every interval and exit as soon as one reply came, so there is no fixed
 * sleep anywhere: success costs one round trip. ping's own output is discarded unread: it
 * prints the pattern, which is the secret.
 */
export function sendKnock(request: KnockRequest): Promise<void> {
  const { target, patternHex, deadlineMs } = request;
  const args = [
    target.family === 6 ? '-6' : '-4',
    '-n',
    '-q',
    '-c',
    '1',
    '-i',
    String(KNOCK_INTERVAL_SECONDS),
    '-w',
    String(Math.max(1, Math.ceil(deadlineMs / 1000))),
    '-p',
    patternHex,
    target.address,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('ping', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      stderr += text;
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), deadlineMs);
    const stopChild = (): void => {
      child.kill('SIGTERM');
    };
    // If we are told to go away while ping runs, ping must not outlive us.
    process.once('exit', stopChild);
    const settle = (error?: PingknockError): void => {
      clearTimeout(timer);
      process.removeListener('exit', stopChild);
      if (error === undefined) resolve();
      else reject(error);
    };
    child.on('error', (error: NodeJS.ErrnoException) => {
      settle(
        error.code === 'ENOENT'
          ? new PingknockError('pingUnavailable', 'ping not found; install iputils-ping (Debian/Ubuntu: apt-get install iputils-ping)')
          : new PingknockError('pingUnavailable', `ping could not be started (${error.code ?? error.message})`),
      );
    });
    child.on('close', (code) => {
      if (code === 0) {
        settle();
        return;
      }
      const detail = firstLine(stderr).replaceAll(patternHex, '<pattern>');
      if (code === 2 && detail !== '') {
        settle(new PingknockError('noReply', `knock to ${target.address} failed: ${detail}`));
        return;
      }
      settle(
        new PingknockError(
          'noReply',
          `no echo reply from ${target.address} within ${formatSeconds(deadlineMs)}: host down, ICMP blocked on the way, or the server's rules drop the knock`,
        ),
      );
    });
  });
}

function firstLine(text: string): string {
  return (text.split('\n').find((line) => line.trim() !== '') ?? '').trim();
}

export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}
