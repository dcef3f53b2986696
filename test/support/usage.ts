import { ExitCode, PingknockError } from '../../src/core/errors.js';

/** The message of the usage error (exit 2) `run` throws; fails on any other outcome. */
export function usageMessage(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof PingknockError && error.exitCode === ExitCode.usage) return error.message;
    throw error;
  }
  throw new Error('expected a usage error, nothing was thrown');
}
