import { spawn } from 'node:child_process';
import { formatSeconds } from '../core/duration.js';
import { ExitCode, PingknockError } from '../core/errors.js';
import type { KnockingPing, PingFlavour } from '../core/layout.js';
import {
  identifyPing,
  isKnockingPing,
  KNOCK_INTERVAL_SECONDS,
  knockCommand,
  knockProblem,
  platformPing,
  unreachableReason,
} from '../core/ping-command.js';
import { watchEchoRequests } from './echo-requests.js';
import type { ResolvedHost } from './resolve.js';

export interface DetectedPing {
  readonly flavour: PingFlavour;
  /** What the ping said about itself, for `doctor`. */
  readonly description: string;
}

const PING_MISSING = 'ping not found; install iputils ping (Debian/Ubuntu: apt-get install iputils-ping)';

/** Asks the local `ping` what it is. Only iputils answers -V; the others reveal themselves by error text. */
export function detectPing(): Promise<DetectedPing> {
  return new Promise((resolve, reject) => {
    const child = spawn('ping', ['-V'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        new PingknockError(
          'pingUnavailable',
          error.code === 'ENOENT' ? PING_MISSING : `ping could not be started (${error.code ?? error.message})`,
        ),
      );
    });
    child.on('close', () => {
      const description =
        output
          .split('\n')
          .find((line) => line.trim() !== '')
          ?.trim() ?? 'ping';
      resolve({ flavour: identifyPing(output, process.platform), description });
    });
  });
}

/** Why this ping cannot knock, as what to install; undefined when it can. */
export function knockLayoutProblem(ping: DetectedPing): string | undefined {
  return isKnockingPing(ping.flavour) ? undefined : knockProblem(ping.flavour);
}

export interface KnockRequest {
  readonly target: ResolvedHost;
  readonly patternHex: string;
  readonly deadlineMs: number;
  /**
   * Called as soon after each echo request leaves as can be seen, for a SYN to follow it (see
   * echo-requests.ts; `trailMs` bounds how long ago it left). Where the kernel's count cannot be
   * read, once, right after ping started: its first request usually leaves a little later.
   */
  readonly onSent?: ((trailMs: number) => void) | undefined;
  /** Aborting it stops the knock: ping is ended and the knock rejects with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Knocks with the system ping until the first echo reply or the deadline; success costs one
 * round trip, there is no fixed sleep. The platform says which ping to expect (BSD ping on the
 * BSDs and macOS, iputils on Linux); only when a knock fails is the local ping asked what it is,
 * so a BusyBox or other ping gets a clear message without a `ping -V` before every connection.
 */
export async function sendKnock(request: KnockRequest): Promise<void> {
  try {
    await knockWith(platformPing(process.platform), request);
  } catch (error) {
    if (error instanceof PingknockError && error.exitCode === ExitCode.noReply) {
      const detected = await detectPing();
      if (!isKnockingPing(detected.flavour)) {
        throw new PingknockError('pingUnavailable', knockProblem(detected.flavour));
      }
    }
    throw error;
  }
}

/**
 * ping's output is read only for what went wrong: it also prints the pattern, which is the secret,
 * so only the line naming the failure is ever shown.
 */
function knockWith(ping: KnockingPing, request: KnockRequest): Promise<void> {
  const { target, patternHex, deadlineMs, onSent, signal } = request;
  const { file, args } = knockCommand({
    ping,
    family: target.family === 6 ? 'ipv6' : 'ipv4',
    address: target.address,
    patternHex,
    deadlineMs,
    privileged: process.getuid?.() === 0,
  });
  return new Promise<void>((resolve, reject) => {
    signal?.throwIfAborted();
    // Read before ping starts, so that its first request is not counted as one before it.
    const sends = onSent === undefined ? undefined : watchEchoRequests(target.family === 6 ? 6 : 4);
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    if (onSent !== undefined) {
      if (sends === undefined) onSent(0);
      else sends.start(KNOCK_INTERVAL_SECONDS * 1000, onSent);
    }
    // Kept as bytes, decoded only when there is an error to report.
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    const timer = setTimeout(() => child.kill('SIGTERM'), deadlineMs);
    // Exiting for any reason (a signal included: the CLI turns those into exit) must not leave ping behind.
    const stopChild = (): void => {
      child.kill('SIGTERM');
    };
    process.once('exit', stopChild);
    let settled = false;
    const settle = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sends?.stop();
      signal?.removeEventListener('abort', abort);
      process.removeListener('exit', stopChild);
      if (error === undefined) resolve();
      else reject(error);
    };
    const abort = (): void => {
      child.kill('SIGTERM');
      const reason: unknown = signal?.reason;
      settle(reason instanceof Error ? reason : new Error('the knock was stopped'));
    };
    signal?.addEventListener('abort', abort, { once: true });
    child.on('error', (error: NodeJS.ErrnoException) => {
      settle(
        new PingknockError(
          'pingUnavailable',
          error.code === 'ENOENT' ? PING_MISSING : `${file} could not be started (${error.code ?? error.message})`,
        ),
      );
    });
    // The reply is in when ping exits 0: its output, read only on failure, need not be awaited.
    child.on('exit', (code) => {
      if (code === 0) settle();
    });
    child.on('close', (code) => {
      if (code === 0) {
        settle();
        return;
      }
      const said = (chunks: Buffer[]): string =>
        Buffer.concat(chunks).toString('utf8').replaceAll(patternHex, '<pattern>');
      // An ICMP error or a missing route ends ping at once, well before the deadline: say so, in ping's words.
      const unreachable = unreachableReason(said(stdout), said(stderr));
      if (unreachable !== undefined) {
        settle(new PingknockError('unreachable', `${target.address} is unreachable from here (${unreachable})`));
        return;
      }
      const detail = firstLine(said(stderr));
      settle(
        new PingknockError(
          'noReply',
          code === 2 && detail !== ''
            ? `knock to ${target.address} failed: ${detail}`
            : `no echo reply from ${target.address} within ${formatSeconds(deadlineMs)}: ` +
                "host down, ICMP blocked on the way, or the server's rules drop the knock " +
                '(as they do while others flood it with knocks)',
        ),
      );
    });
  });
}

function firstLine(text: string): string {
  return (text.split('\n').find((line) => line.trim() !== '') ?? '').trim();
}
