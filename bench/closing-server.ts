// Starts bench/closing-server.cjs, the loopback server the proxy's start is timed against.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { NODE, ROOT } from './config.js';

export interface ClosingServer {
  readonly port: number;
  readonly stop: () => void;
}

/** `atExit` is given the way to stop it before its port is known, so an interrupted wait leaves nothing behind. */
export async function startClosingServer(atExit: (stop: () => void) => void): Promise<ClosingServer> {
  const server = spawn(NODE, [join(ROOT, 'bench', 'closing-server.cjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = (): void => void server.kill('SIGKILL');
  atExit(stop);
  const port = await new Promise<number>((resolve, reject) => {
    server.stdout.setEncoding('utf8').once('data', (text: string) => resolve(Number(text.trim())));
    server.once('exit', (code) => reject(new Error(`local TCP server exited (${code})`)));
  });
  return { port, stop };
}
