import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB_HOSTS, type Lab } from '../../src/lab/lab.js';
import { ExitCode } from '../../src/core/errors.js';
import { run } from '../../src/edge/exec.js';
import { newSecret, protectedLab } from './fixture.js';

const PINGKNOCK = join(import.meta.dirname, '..', '..', 'bin', 'pingknock');

/** What is left of the lab a pingknock process with this pid built (its ids start with the pid). */
async function leftovers(pid: number): Promise<string> {
  const prefix = `pk-${pid.toString(36)}`;
  const netns = (await run('ip', ['netns', 'list'])).stdout.toString();
  const processes = (await run('pgrep', ['-af', `pingknock-lab-${pid.toString(36)}`])).stdout.toString();
  return [
    ...netns.split('\n').filter((line) => line.startsWith(prefix)),
    ...processes.split('\n').filter(Boolean),
  ].join('\n');
}

describe('pingknock knock and proxy in a lab', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await protectedLab('bare', newSecret());
  });
  afterAll(() => lab?.destroy());

  it('knock exits 0 once the echo reply came', async () => {
    const result = await lab.onClient('pingknock', ['knock', '--name', LAB_HOSTS.knocked, lab.server.ipv4], {
      timeoutMs: 10_000,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.length).toBe(0);
  });

  it('knock gives up with its own exit code when no reply comes, within the deadline', async () => {
    const silent = '10.201.0.99';
    // Node's own start is measured alongside, so a loaded machine does not pass for a slow give-up.
    const nodeStart = await lab.onClient('node', ['-e', '0']);
    const result = await lab.onClient('pingknock', ['knock', '--deadline', '1', '--name', LAB_HOSTS.knocked, silent], {
      timeoutMs: 10_000,
    });
    expect(result.code).toBe(ExitCode.noReply);
    expect(result.stderr).toMatch(/^pingknock: no echo reply from 10\.201\.0\.99 within 1 s/);
    // The 1 s deadline and 1.5 s for the CLI's own start beyond node's: a 3 s deadline would not pass.
    expect(result.ms - nodeStart.ms).toBeLessThan(1_000 + 1_500);
  });

  it('proxy shows a spinner on an interactive stderr, clears it, and keeps stdout clean', async () => {
    const stdoutFile = join(lab.dir, 'proxy-stdout.bin');
    const typescript = join(lab.dir, 'typescript.log');
    const env = { ...lab.env };
    delete env.CI;
    // script(1) gives the proxy a terminal for stderr; stdout goes to a file, as it goes to ssh.
    const inner =
      `stty cols 80 rows 24; ` +
      `exec pingknock proxy --name ${LAB_HOSTS.knocked} ${lab.server.ipv4} 22 </dev/null >${stdoutFile}`;
    const result = await lab.onClient('script', ['-qec', inner, typescript], { env, timeoutMs: 20_000 });
    expect(result.code, result.stderr).toBe(0);
    const terminal = readFileSync(typescript, 'latin1');
    expect(terminal).toContain('knocking');
    // ora clears its line (ESC[2K or ESC[G...ESC[0K) when it stops.
    expect(terminal).toMatch(/\u001b\[(2K|0K|G)/);
    const stdout = readFileSync(stdoutFile, 'latin1');
    expect(stdout).toMatch(/^SSH-2\.0-/);
    expect(stdout).not.toContain('\u001b');
    expect(stdout).not.toContain('knocking');
  });
});

describe('pingknock demo', () => {
  it('shows no knock refused, a knocked login and an scp, then removes the lab', async () => {
    const child = spawn(PINGKNOCK, ['demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/\[1\/3\] ssh without a knock[^\n]*\n\s+refused after [\d.]+ s: .*timed out/);
    expect(stdout).toMatch(/\[2\/3\] ssh through pingknock proxy\n\s+logged in as root/);
    expect(stdout).toMatch(/\[3\/3\] scp [^\n]*\n\s+copied in .* matches on both sides/);
    expect(stdout).toMatch(/lab removed/);
    expect(await leftovers(child.pid ?? 0)).toBe('');
  });

  it('removes the lab when interrupted with Ctrl-C', async () => {
    const child = spawn(PINGKNOCK, ['demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      // Interrupt while the lab is fully up and a step (ssh without a knock) is running.
      if (stdout.includes('[1/3]')) child.kill('SIGINT');
    });
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(stdout).toContain('[1/3]');
    expect(code).toBe(130);
    expect(await leftovers(child.pid ?? 0)).toBe('');
  });
});
