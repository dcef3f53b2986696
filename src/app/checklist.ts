import { ExitCode, PingknockError, type ExitCodeName } from '../core/errors.js';

/**
 * One of doctor's lines. WARN: the check ran and nothing failed, yet what it is there to prove is
 * not proven, so doctor must not exit 0 on it.
 */
export type CheckLine =
  | { readonly status: 'ok' | 'skip'; readonly name: string; readonly detail: string }
  | { readonly status: 'FAIL' | 'WARN'; readonly name: string; readonly detail: string; readonly kind: ExitCodeName };

/** A step that failed: its message, and the exit class of the command that would have failed. */
export interface Failure {
  readonly message: string;
  readonly kind: ExitCodeName;
}

/** One check, one line on stdout: ok, or what is wrong and what to do. */
export class Checklist {
  private readonly problems: Extract<CheckLine, { kind: ExitCodeName }>[] = [];
  private count = 0;

  ok(name: string, detail: string): void {
    this.add({ status: 'ok', name, detail });
  }

  fail(name: string, detail: string, kind: ExitCodeName): void {
    this.add({ status: 'FAIL', name, detail, kind });
  }

  failWith(name: string, error: unknown, fallback: ExitCodeName): void {
    const { message, kind } = failureOf(error, fallback);
    this.fail(name, message, kind);
  }

  skip(name: string, detail: string): void {
    this.add({ status: 'skip', name, detail });
  }

  add(line: CheckLine): void {
    if (line.status === 'FAIL' || line.status === 'WARN') this.problems.push(line);
    this.count += line.status === 'skip' ? 0 : 1;
    process.stdout.write(`${line.status.padEnd(4)}  ${line.name}: ${line.detail}\n`);
  }

  finish(): void {
    const [first] = this.problems;
    if (first === undefined) return;
    const failed = this.problems.filter((line) => line.status === 'FAIL').length;
    const unproven = this.problems.length - failed;
    const also = unproven > 0 ? `, ${unproven} not proven` : '';
    const said =
      failed > 0 ? `${failed} of ${this.count} checks failed${also}` : `${unproven} of ${this.count} checks not proven`;
    throw new PingknockError(first.kind, said);
  }
}

/** An error's message and failure class, so doctor exits like the command that would have failed. */
export function failureOf(error: unknown, fallback: ExitCodeName): Failure {
  if (!(error instanceof PingknockError))
    return { message: error instanceof Error ? error.message : String(error), kind: fallback };
  const kind = (Object.keys(ExitCode) as ExitCodeName[]).find((name) => ExitCode[name] === error.exitCode);
  return { message: error.message, kind: kind ?? fallback };
}
