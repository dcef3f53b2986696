import { join } from 'node:path';
import type { Secret } from '../../src/core/secret.js';
import { Lab, type ServerFirewall } from '../../src/lab/lab.js';

/** A lab with real round trips: client and server joined through delay-bridge.py. */

const DELAY_BRIDGE = join(import.meta.dirname, 'delay-bridge.py');

export interface LatencyLabOptions {
  readonly secret: Secret;
  /** Each way: a ping's round trip takes twice this. */
  readonly oneWayMs: number;
  /** How many of the client's first echo requests the bridge drops (lost knocks); 0 by default. */
  readonly dropEchoRequests?: number;
  readonly serverFirewall?: ServerFirewall;
}

export function latencyLab(options: LatencyLabOptions): Promise<Lab> {
  return Lab.create({
    secret: options.secret,
    serverFirewall: options.serverFirewall ?? 'bare',
    forwarder: (middle) => [
      'python3',
      DELAY_BRIDGE,
      middle.client,
      middle.server,
      String(options.oneWayMs),
      String(options.dropEchoRequests ?? 0),
    ],
  });
}
