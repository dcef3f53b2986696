// What the bench leaves behind (its files, its servers) goes at exit, also on Ctrl-C.

const cleanups: (() => void)[] = [];

/** Runs `cleanup` at exit, after those registered later. */
export function atExit(cleanup: () => void): void {
  cleanups.push(cleanup);
}

/** Once, before anything is made: exiting runs the 'exit' listeners, ours and the Lab's (the namespaces). */
export function cleanUpAtExit(): void {
  process.on('exit', () => {
    for (const cleanup of cleanups.reverse()) {
      try {
        cleanup();
      } catch {
        // Best effort at exit.
      }
    }
  });
  process.once('SIGINT', () => process.exit(130));
  process.once('SIGTERM', () => process.exit(143));
  process.once('SIGHUP', () => process.exit(129));
}
