import type { Socket } from 'node:net';
import { PingknockError } from '../core/errors.js';
import type { ProxyRequest } from '../core/proxy-arguments.js';
import type { Progress } from '../edge/progress.js';
import { connectTcp, PortSilentError, Pump } from '../edge/tcp.js';
import { knockWith, type KnockTarget } from './knock.js';

/**
 * The knock and the connection at once, so that the knock costs no round trip: a SYN leaves right
 * behind each echo request ping sends (edge/echo-requests.ts tells when one left). Packets leave
 * in order and normally arrive in order, so the server has recorded the knock when the SYN comes,
 * and the connection is up one round trip after the knock left, with its echo reply. When the SYN
 * came first all the same (reordered, the knock lost, another sender's request taken for ping's),
 * the firewall drops it and TCP would resend it only after a second; so once the reply is in and
 * no connection is up, a fresh attempt goes at once: the worst case is the old order, knock then
 * connect. A SYN behind each resent request keeps a lost knock from costing more than the resend.
 */

/** A connection to the server, and the pump that carries what it sends. */
export interface Connection {
  readonly socket: Socket;
  readonly downstream: Pump;
}

/** What the knocks and the connection need: the checked request, the host, how to report. */
export interface Race {
  readonly request: ProxyRequest;
  readonly target: KnockTarget;
  readonly progress: Progress;
  /** Connect without reading a byte, for the socket to be handed to ssh untouched. */
  readonly paused: boolean;
}

/**
 * Knocks with `patterns.first` and connects behind it; with one-time knocks (`patterns.next`),
 * knocks again with the next slot's pattern when the port stays closed. Every knock still
 * running and every attempt but the one returned are ended when it settles.
 */
export async function knockAndConnect(
  race: Race,
  patterns: { readonly first: string; readonly next: string | undefined },
): Promise<Connection> {
  const attempts = new Attempts(race);
  const stop = new AbortController();
  const began = performance.now();
  try {
    const first = await knockRound(race, attempts, patterns.first, stop.signal);
    const connection = isConnection(first)
      ? first
      : patterns.next === undefined
        ? await attempts.until(first.decisive)
        : await connectOrKnockAgain({ race, attempts, first, nextPattern: patterns.next, signal: stop.signal });
    const ms = Math.round(performance.now() - began);
    race.progress.step(`connected to port ${race.request.port}, ${ms} ms after the knock began`);
    return connection;
  } finally {
    stop.abort(new Error('the connection is decided'));
    attempts.giveUp();
  }
}

/**
 * How long after the reply an attempt that left behind the answered request may take before a
 * fresh one goes, on top of how long it trailed its request (that much later than the reply its
 * SYN-ACK is due, over the same path): what the event loop may take to see it.
 */
const REPLY_SLACK_MS = 5;

/** A knock whose reply came while no connection was up: the attempt started then, and how long the knock took. */
interface Round {
  readonly decisive: Promise<Outcome>;
  /** From starting ping to its echo reply. */
  readonly knockMs: number;
}

/**
 * One knock, with an attempt behind each echo request; ends with the first connection, or with
 * the reply and the fresh attempt when none is up by then. Rejects with the knock's failure.
 */
async function knockRound(
  race: Race,
  attempts: Attempts,
  pattern: string,
  signal: AbortSignal,
): Promise<Connection | Round> {
  const { request, target, progress } = race;
  let trailMs: number | undefined;
  const started = performance.now();
  const knocked = knockWith(target, pattern, request.deadlineMs, progress, {
    signal,
    onSent: (trail) => {
      if (trailMs === undefined) progress.step(`connecting to port ${request.port}`);
      trailMs = Math.max(trailMs ?? 0, trail);
      void attempts.start();
    },
  });
  const early = await Promise.race([knocked, attempts.connected]);
  if (early !== undefined) return early;
  const knockMs = performance.now() - started;
  // On a short path the reply can come before the request was seen leaving: then no SYN went yet.
  if (trailMs === undefined) {
    progress.step(`connecting to port ${request.port}`);
    return { decisive: attempts.start(), knockMs };
  }
  const settled = await within(attempts.connected, trailMs + REPLY_SLACK_MS);
  return settled ?? { decisive: attempts.start(), knockMs };
}

/**
 * How long the port may take to answer after an answered knock before the next pattern is tried.
 * The knock opened the port before its echo reply left the server, so a SYN behind it gets through
 * unless lost; a port that lets the knocker in answers within one round trip, which the knock
 * itself measured (ping's start included, so a loaded machine waits longer too). Linux resends
 * an unanswered SYN after 1 s: the bound covers one lost SYN as well.
 */
const RETRY_AFTER_MS = 1000;
const RETRY_AFTER_KNOCKS = 3;

interface SecondChance {
  readonly race: Race;
  readonly attempts: Attempts;
  readonly first: Round;
  readonly nextPattern: string;
  readonly signal: AbortSignal;
}

/**
 * A one-time knock that was answered while the port stays closed was spent from another address
 * before this one: another client with the same secret in the same slot, or someone replaying it.
 * Then knock once with the next slot's pattern and connect again. The first knock's attempts stay
 * in flight meanwhile (a resent SYN may still get through): whichever connects first is used.
 */
async function connectOrKnockAgain(chance: SecondChance): Promise<Connection> {
  const { race, attempts, first } = chance;
  const { request, progress } = race;
  const firstConnection = attempts.until(first.decisive);
  const waited = await within(outcomeOf(firstConnection), Math.max(RETRY_AFTER_MS, RETRY_AFTER_KNOCKS * first.knockMs));
  if (waited?.ok === true) return waited.connection;
  if (waited !== undefined && !(waited.error instanceof PortSilentError)) throw waited.error;

  progress.step(`port ${request.port} stayed closed after the knock: knocking with the next pattern`);
  const second = knockRound(race, attempts, chance.nextPattern, chance.signal).then((round) =>
    isConnection(round) ? round : attempts.until(round.decisive),
  );
  const pending = waited === undefined ? [firstConnection, second] : [second];
  try {
    return await Promise.any(pending);
  } catch (error) {
    const failures = error instanceof AggregateError ? (error.errors as unknown[]) : [error];
    // A refused port or a second knock with no reply says more than silence does.
    throw (
      failures.find((failure): failure is Error => failure instanceof Error && !(failure instanceof PortSilentError)) ??
      stayedClosed(race)
    );
  }
}

type Outcome = { readonly ok: true; readonly connection: Connection } | { readonly ok: false; readonly error: unknown };

/**
 * Every connection attempt of one run, each with its own pump (only the one kept is ever read):
 * the first to connect is kept, any other that connects is closed at once, and giveUp() ends the
 * rest. An attempt's failure is its own; the run fails on the failure of the attempt that decides.
 */
class Attempts {
  /** Resolves with the connection kept; never rejects. */
  readonly connected: Promise<Connection>;
  private keep: (connection: Connection) => void = () => undefined;
  private kept: Connection | undefined;
  private over = false;
  private readonly controllers: AbortController[] = [];

  constructor(private readonly race: Race) {
    this.connected = new Promise((resolve) => {
      this.keep = resolve;
    });
  }

  start(): Promise<Outcome> {
    // A request seen leaving as the run ends: nothing to connect for.
    if (this.over) return Promise.resolve({ ok: false, error: new Error('the connection is decided') });
    const { request, target, paused } = this.race;
    const controller = new AbortController();
    this.controllers.push(controller);
    const downstream = new Pump();
    return connectTcp(target.address, request.port, request.connectTimeoutMs, {
      downstream,
      signal: controller.signal,
      paused,
    }).then(
      (socket): Outcome => {
        if (this.kept === undefined && !this.over) {
          this.kept = { socket, downstream };
          this.keep(this.kept);
        } else {
          socket.destroy();
        }
        return this.kept === undefined
          ? { ok: false, error: new Error('the connection was given up') }
          : { ok: true, connection: this.kept };
      },
      (error: unknown): Outcome => ({ ok: false, error }),
    );
  }

  /** The connection kept, as soon as there is one; fails when `decisive` fails first. */
  until(decisive: Promise<Outcome>): Promise<Connection> {
    return Promise.race([this.connected, decisive.then(connectionOf)]);
  }

  /** Ends every attempt still connecting; one that connects after this is closed. */
  giveUp(): void {
    this.over = true;
    for (const controller of this.controllers) controller.abort();
  }
}

function isConnection(value: Connection | Round): value is Connection {
  return 'socket' in value;
}

function connectionOf(outcome: Outcome): Connection {
  if (outcome.ok) return outcome.connection;
  throw outcome.error;
}

function outcomeOf(connection: Promise<Connection>): Promise<Outcome> {
  return connection.then(
    (value): Outcome => ({ ok: true, connection: value }),
    (error: unknown): Outcome => ({ ok: false, error }),
  );
}

/** What `promise` gives if it comes within `ms`, else undefined; the promise keeps going. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const elapsed = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, ms, undefined);
  });
  return Promise.race([promise, elapsed]).finally(() => clearTimeout(timer));
}

function stayedClosed(race: Race): PingknockError {
  const { request, target } = race;
  const { address, family } = target.address;
  const where = `${family === 6 ? `[${address}]` : address}:${request.port}`;
  return new PingknockError(
    'connectFailed',
    `the knock was answered but ${where} stayed closed, also after a second knock with the next pattern: ` +
      'someone may be replaying your knocks (a pattern seen on its way and sent first from elsewhere is spent), ' +
      "or the server's rules do not match this client (no one-time patterns for this secret, another port, " +
      `or they ended; see pingknock doctor ${request.name ?? request.host})`,
  );
}
