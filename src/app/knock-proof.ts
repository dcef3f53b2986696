import { formatSeconds } from '../core/duration.js';
import { DEFAULT_WINDOW_SECONDS } from '../core/rules/model.js';
import type { ResolvedHost } from '../edge/resolve.js';
import { connectTcp } from '../edge/tcp.js';
import { failureOf, type CheckLine, type Failure } from './checklist.js';

/**
 * How long doctor waits, before knocking, to see whether the port is open already. A protected
 * port drops the SYN and a dropped SYN gets no answer at all, so on every protected server the
 * wait is spent in full (measured in the lab: 1.00 s of a 1 s wait, 3.01 s of 3 s). An open port
 * answers within one round trip: 3 ms in the lab, under 0.3 s across continents, about 0.6 s over
 * a geostationary satellite. Linux resends an unanswered SYN after 1 s, so this sends it once: a
 * lost SYN or a slower path makes an open port look closed, and the knock would then pass for
 * proven; waiting for the resend would make every run on a protected server pay for that rare case.
 */
export const OPEN_BEFORE_TIMEOUT_MS = 1000;

/** Connects and closes at once: why the port did not accept the connection, undefined when it did. */
export async function connectFailure(
  target: ResolvedHost,
  port: number,
  timeoutMs: number,
): Promise<Failure | undefined> {
  try {
    (await connectTcp(target, port, timeoutMs)).destroy();
    return undefined;
  } catch (error) {
    return failureOf(error, 'connectFailed');
  }
}

export interface KnockFacts {
  readonly address: string;
  /** The port as shown: `ADDRESS:PORT`, `[ADDRESS]:PORT`. */
  readonly where: string;
  /** The port accepted a connection before the knock was sent. */
  readonly openBefore: boolean;
  readonly knock:
    | { readonly answered: false; readonly failure: Failure }
    | { readonly answered: true; readonly ms: number; readonly after: 'open' | Failure };
}

/** The knock and port lines: ok only when the port was closed before the knock and open after it. */
export function knockVerdict(facts: KnockFacts): CheckLine[] {
  const { address, where, openBefore, knock } = facts;
  if (!knock.answered) {
    return [
      { status: 'FAIL', name: 'knock', detail: knock.failure.message, kind: knock.failure.kind },
      { status: 'skip', name: 'port', detail: 'needs an answered knock' },
    ];
  }
  const answered = `${address} answered the knock in ${formatSeconds(knock.ms)}`;
  const port: CheckLine =
    knock.after !== 'open'
      ? { status: 'FAIL', name: 'port', detail: knock.after.message, kind: knock.after.kind }
      : openBefore
        ? { status: 'ok', name: 'port', detail: `${where} accepts connections (it did before the knock too)` }
        : {
            status: 'ok',
            name: 'port',
            detail: `${where} did not accept a connection before the knock and did after it: the knock opened it`,
          };
  if (!openBefore) return [{ status: 'ok', name: 'knock', detail: answered }, port];
  const unproven =
    `${answered}, but ${where} already accepted connections before this knock ` +
    "(an earlier knock's window still open, or the port is not protected), " +
    `so this secret is not proven; wait for the window to close (${DEFAULT_WINDOW_SECONDS} s by default) ` +
    'and run doctor again';
  return [{ status: 'WARN', name: 'knock', detail: unproven, kind: 'unproven' }, port];
}
