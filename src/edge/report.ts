import { ExitCode, PingknockError } from '../core/errors.js';

/**
 * Turns any failure into one `pingknock:` line on stderr and the exit code for its kind. The exit
 * code is set, not forced with process.exit(), so output still being written is not cut off.
 */
export function reportFailure(error: unknown): void {
  let message: string;
  if (error instanceof PingknockError) {
    message = error.message;
    process.exitCode = error.exitCode;
  } else if (error instanceof Error && error.name === 'YError') {
    message = `${error.message} (see: pingknock --help)`;
    process.exitCode = ExitCode.usage;
  } else {
    message = `unexpected error: ${error instanceof Error ? error.message : String(error)}`;
    process.exitCode = ExitCode.internal;
  }
  process.stderr.write(`pingknock: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
}

const SIGNAL_NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;

/** Exiting on a signal runs the 'exit' listeners, which stop a running ping and remove a lab. */
export function exitOnSignals(): void {
  for (const [signal, number] of Object.entries(SIGNAL_NUMBERS)) {
    process.once(signal, () => process.exit(128 + number));
  }
}
