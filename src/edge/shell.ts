import { spawn } from 'node:child_process';

export interface ScriptResult {
  readonly code: number;
  readonly stderr: string;
}

/** Runs a generated POSIX sh script, fed on stdin so it never appears in the process list. */
export function runScript(script: string): Promise<ScriptResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-s'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stderr }));
    child.stdin.end(script);
  });
}
