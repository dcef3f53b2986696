import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { LAB_HOSTS, type Lab } from '../../src/lab/lab.js';
import { newSecret, protectedLab } from './fixture.js';

/**
 * doctor against a server behind the rules: a knock counts as proven only when the port was
 * closed to this client before it and open after it. An earlier knock's window makes any secret
 * look right, which is how a wrong secret once passed for a working one.
 */
describe('pingknock doctor in a lab', () => {
  let lab: Lab;
  const wrong = newSecret();
  beforeAll(async () => {
    lab = await protectedLab('bare', newSecret());
  });
  afterAll(() => lab?.destroy());

  const doctor = async (secret?: string) => {
    const env = { ...lab.env };
    delete env.PINGKNOCK_SECRET;
    if (secret !== undefined) env.PINGKNOCK_SECRET = secret;
    const result = await lab.onClient(
      'pingknock',
      ['doctor', LAB_HOSTS.knocked, '--config', lab.sshConfig, '--connect-timeout', '2'],
      { env, timeoutMs: 30_000 },
    );
    return { ...result, lines: result.stdout.toString().trim().split('\n') };
  };

  it('the right secret with the port closed before: ok, and the port opened by the knock is the proof', async () => {
    lab.forgetKnocks();
    const nodeStart = await lab.onClient('node', ['-e', '0']);
    const result = await doctor();
    expect(result.code, result.stdout.toString() + result.stderr).toBe(0);
    expect(result.lines.slice(-2)).toEqual([
      expect.stringMatching(/^ok    knock: 10\.201\.0\.1 answered the knock in [\d.]+ m?s$/),
      'ok    port: 10.201.0.1:22 did not accept a connection before the knock and did after it: the knock opened it',
    ]);
    // The check before the knock waits 1 s for the dropped SYN, and no longer.
    console.log(`doctor, port closed before: ${Math.round(result.ms)} ms (node alone: ${Math.round(nodeStart.ms)} ms)`);
    expect(result.ms - nodeStart.ms).toBeGreaterThan(1_000);
    expect(result.ms - nodeStart.ms).toBeLessThan(1_000 + 2_000);
  });

  it('a wrong secret while a right knock still holds the port open: not proven, exit 15, never ok', async () => {
    lab.forgetKnocks();
    const knock = await lab.onClient('pingknock', ['knock', '--name', LAB_HOSTS.knocked, lab.server.ipv4], {
      timeoutMs: 10_000,
    });
    expect(knock.code, knock.stderr).toBe(0);
    const result = await doctor(wrong);
    expect(result.code, result.stdout.toString()).toBe(ExitCode.unproven);
    expect(result.lines.slice(-2)).toEqual([
      expect.stringMatching(
        new RegExp(
          /^WARN {2}knock: 10\.201\.0\.1 answered the knock in [\d.]+ m?s, but 10\.201\.0\.1:22 /.source +
            /already accepted connections before this knock \(an earlier knock's window still open, /.source +
            /or the port is not protected\), so this secret is not proven; /.source +
            /wait for the window to close \(60 s by default\) and run doctor again$/.source,
        ),
      ),
      'ok    port: 10.201.0.1:22 accepts connections (it did before the knock too)',
    ]);
    expect(result.stderr).toBe('pingknock: 1 of 7 checks not proven\n');
  });

  it(
    'the same wrong secret once the window is gone: ' + 'the port stays closed, and doctor says the rules do not match',
    async () => {
      lab.forgetKnocks();
      const result = await doctor(wrong);
      expect(result.code, result.stdout.toString()).toBe(ExitCode.connectFailed);
      expect(result.lines.slice(-2)).toEqual([
        expect.stringMatching(/^ok    knock: /),
        expect.stringMatching(/^FAIL {2}port: 10\.201\.0\.1:22 did not answer within 2 s; .*rules may not match/),
      ]);
    },
  );
});
