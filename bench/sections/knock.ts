// Row 3: the knock on the wire, from the packets bench/sniff.py saw during the connect runs.
import { Samples } from '../stats.js';

export interface KnockPhases {
  readonly total: Samples;
  readonly rtt: Samples;
  readonly react: Samples;
  readonly toReq: Samples;
  readonly toSyn: Samples;
  readonly synToExit: Samples;
  /** Echo requests beyond the first, in all runs. */
  resends: number;
}

export interface KnockResult {
  readonly pk: KnockPhases;
  readonly recipe: KnockPhases;
  readonly direct: KnockPhases;
}

/** One timed connect: which variant, when it started and ended on the wall clock. */
export interface Window {
  readonly key: string;
  readonly fromNs: bigint;
  readonly toNs: bigint;
}

interface Packet {
  readonly ns: bigint;
  readonly kind: string;
}

const phases = (who: string): KnockPhases => ({
  total: new Samples(`${who}: echo request -> SYN`),
  rtt: new Samples(`${who}: request -> reply`),
  react: new Samples(`${who}: reply -> SYN`),
  toReq: new Samples(`${who}: ssh started -> echo request`),
  toSyn: new Samples(`${who}: ssh started -> SYN`),
  synToExit: new Samples(`${who}: SYN -> ssh exited`),
  resends: 0,
});

/** sniff.py's lines: `<ns since epoch> req|rep|syn`. */
function packets(sniffed: string): Packet[] {
  return sniffed
    .split('\n')
    .map((line) => line.split(' '))
    .flatMap(([ns, kind, ...rest]) =>
      ns !== undefined && kind !== undefined && rest.length === 0 && /^\d+$/.test(ns) ? [{ ns: BigInt(ns), kind }] : [],
    );
}

const ms = (from: bigint, to: bigint): number => Number(to - from) / 1e6;

/** Each packet belongs to the run whose [start, end] holds its kernel timestamp. */
export function knockPhases(sniffed: string, windows: readonly Window[]): KnockResult {
  const events = packets(sniffed);
  const knock: KnockResult = { pk: phases('pingknock'), recipe: phases('recipe'), direct: phases('direct') };
  for (const w of windows) {
    // The minimal proxy's runs count for row 1 only.
    if (w.key !== 'pk' && w.key !== 'recipe' && w.key !== 'direct') continue;
    const target = knock[w.key];
    const inside = events.filter((e) => e.ns >= w.fromNs && e.ns <= w.toNs);
    const first = (kind: string): bigint | undefined => inside.find((e) => e.kind === kind)?.ns;
    const req = first('req');
    const rep = first('rep');
    const syn = first('syn');
    // Where a connect's time goes: before the first SYN (start-up and knock), after it (ssh's session).
    if (syn !== undefined) {
      target.toSyn.add(ms(w.fromNs, syn));
      target.synToExit.add(ms(syn, w.toNs));
    }
    if (w.key === 'direct') continue; // its knock came before the timed run
    if (req === undefined || rep === undefined || syn === undefined) {
      target.total.fail(
        `run without a complete req/rep/syn sequence (${inside.map((e) => e.kind).join(',') || 'no packets'})`,
      );
      continue;
    }
    target.resends += inside.filter((e) => e.kind === 'req').length - 1;
    target.total.add(ms(req, syn));
    target.rtt.add(ms(req, rep));
    target.react.add(ms(rep, syn));
    target.toReq.add(ms(w.fromNs, req));
  }
  return knock;
}
