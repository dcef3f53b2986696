/** A note on what a command is doing or did, on stderr: stdout stays for what is asked for. */
export function info(text: string): void {
  process.stderr.write(`pingknock: ${text}\n`);
}
