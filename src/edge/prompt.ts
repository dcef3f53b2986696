import { createInterface } from 'node:readline/promises';

/** Asks a yes/no question on stderr and reads the answer from stdin; Enter means yes. */
export async function confirm(question: string): Promise<boolean> {
  // Not readline's terminal mode: that makes the terminal raw and swallows Ctrl-C, which must
  // stay a signal (the CLI exits 130 on it, having written nothing).
  const prompt = createInterface({ input: process.stdin, output: process.stderr, terminal: false });
  try {
    const answer = await new Promise<string | undefined>((resolveAnswer) => {
      // End of input (Ctrl-D) is a no, said as one, not a silent exit.
      prompt.once('close', () => resolveAnswer(undefined));
      prompt.question(`pingknock: ${question} [Y/n] `).then(resolveAnswer, () => resolveAnswer(undefined));
    });
    return answer !== undefined && /^(y|yes)?$/i.test(answer.trim());
  } finally {
    prompt.close();
  }
}
