/** Reports what pingknock is doing, on stderr only, and never after `stop()`. */
export interface Progress {
  step(text: string): void;
  stop(): void;
}

export interface ProgressOptions {
  readonly stderr: NodeJS.WriteStream;
  readonly env: NodeJS.ProcessEnv;
  readonly verbose: boolean;
}

/**
 * A spinner only on an interactive stderr. ora spins at 100 % CPU on a terminal that reports
 * 0 columns, and prints plain lines (not nothing) when it disables itself, so the decision is
 * made here and ora is imported only when it will really spin: it costs ~50 ms to load.
 */
export async function createProgress(options: ProgressOptions): Promise<Progress> {
  const { stderr, env, verbose } = options;
  const interactive = stderr.isTTY && (stderr.columns ?? 0) > 0 && !('CI' in env) && env.TERM !== 'dumb';
  if (interactive) {
    const { default: ora } = await import('ora');
    const spinner = ora({ stream: stderr, discardStdin: false, hideCursor: false });
    return {
      step(text) {
        if (spinner.isSpinning) spinner.text = text;
        else spinner.start(text);
      },
      stop() {
        spinner.stop();
      },
    };
  }
  let stopped = false;
  return {
    step(text) {
      if (verbose && !stopped) stderr.write(`pingknock: ${text}\n`);
    },
    stop() {
      stopped = true;
    },
  };
}
