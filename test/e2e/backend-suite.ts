import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, LAB_HOSTS } from '../../src/lab/lab.js';
import { labUfw, listServerRules } from '../support/lab-server.js';
import { run } from '../../src/edge/exec.js';
import { secretToHex, type Secret } from '../../src/core/secret.js';
import type { Backend } from '../../src/core/rules/render.js';
import type { Family } from '../../src/core/layout.js';
import { newSecret, rotated } from './fixture.js';

export interface BackendCase {
  readonly name: string;
  readonly backend: Backend;
  readonly family: Family;
  /** The iptables program, for the iptables backends. */
  readonly tool?: string;
}

const BSD_KNOCK = join(import.meta.dirname, 'bsd-knock.py');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The same proof for every backend: applied rules keep the port closed without a knock, for a
 * wrong secret and for rotations (as iputils and as BSD ping would send them), and open it for
 * the right knock in either layout and through the proxy; re-applying changes nothing; --remove
 * restores the ruleset exactly; --rollback restores it unless confirmed.
 */
export function backendSuite(testCase: BackendCase): void {
  describe(`rules --backend ${testCase.backend}: ${testCase.name}`, () => {
    const secret = newSecret();
    const v6 = testCase.family === 'ipv6';
    let lab: Lab;
    let secretFile: string;
    let pristine: string;

    const address = (): string => (v6 ? lab.server.ipv6 : lab.server.ipv4);
    const rules = (...extra: string[]) =>
      lab.onServer(
        'pingknock',
        [
          'rules',
          '--backend',
          testCase.backend,
          ...(testCase.tool === undefined ? [] : ['--tool', testCase.tool]),
          ...(testCase.backend === 'ip6tables' ? [] : ['--family', testCase.family]),
          '--state-dir',
          join(lab.dir, 'state'),
          ...extra,
        ],
        { timeoutMs: 30_000 },
      );
    const apply = async (...extra: string[]): Promise<void> => {
      const result = await rules('--secret-file', secretFile, '--apply', ...extra);
      expect(result.code, result.stderr).toBe(0);
    };
    const ping = (pattern: Secret) =>
      lab.onClient('ping', [v6 ? '-6' : '-4', '-c1', '-W2', '-p', secretToHex(pattern), address()], {
        timeoutMs: 10_000,
      });
    const bsdKnock = (pattern: Secret) =>
      lab.onClient('python3', [BSD_KNOCK, v6 ? '6' : '4', address(), secretToHex(pattern)], { timeoutMs: 10_000 });
    const sshDirect = (command: string) =>
      lab.ssh(['-o', 'ConnectTimeout=1', v6 ? LAB_HOSTS.direct6 : LAB_HOSTS.direct, command], { timeoutMs: 20_000 });
    const expectClosed = async (): Promise<void> => {
      const result = await sshDirect('true');
      expect(result.code, result.stderr).toBe(255);
      expect(result.stderr).toMatch(/timed out/);
    };
    const expectOpen = async (): Promise<void> => {
      const result = await sshDirect('echo open');
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.toString()).toBe('open\n');
    };
    /** The server's rules once they stop changing: ufw goes on adjusting them briefly after a reload returns. */
    const settledRules = async (): Promise<string> => {
      let previous = listServerRules(lab);
      for (let tries = 0; tries < 20; tries += 1) {
        await sleep(300);
        const current = listServerRules(lab);
        if (current === previous) return current;
        previous = current;
      }
      throw new Error('the server rules never settled');
    };
    const rollbackSleepers = async (seconds: number): Promise<string> =>
      (await run('pgrep', ['-f', `pingknock-rollback ${seconds} ${join(lab.dir, 'state')}`])).stdout.toString();
    /** Waits for an armed rollback to have fired and finished restoring (ufw's reload takes a while). */
    const waitForRollback = async (seconds: number): Promise<void> => {
      expect(await rollbackSleepers(seconds)).not.toBe('');
      for (let waited = 0; waited < 30_000 && (await rollbackSleepers(seconds)) !== ''; waited += 200) await sleep(200);
      expect(await rollbackSleepers(seconds)).toBe('');
    };

    beforeAll(async () => {
      lab = await Lab.create({ secret, serverFirewall: 'bare', features: testCase.backend === 'ufw' ? [labUfw] : [] });
      secretFile = join(lab.dir, 'server-secret');
      writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
      if (testCase.tool !== undefined) {
        // A server that runs iptables has its (empty) filter table: creating it is not pingknock's doing.
        const loaded = await lab.onServer(`${testCase.tool}-restore`, ['-w'], {
          input: '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n',
        });
        expect(loaded.code, loaded.stderr).toBe(0);
      }
      pristine = await settledRules();
    });
    afterAll(() => lab?.destroy());

    it('applies, and without a knock the port stays closed', async () => {
      await apply();
      expect(await settledRules()).not.toBe(pristine);
      lab.forgetKnocks();
      await expectClosed();
    });

    it('stays closed for a wrong secret and for rotations, in the iputils and the BSD layout', async () => {
      lab.forgetKnocks();
      const wrong = await ping(newSecret());
      expect(wrong.code, 'the server still answers pings').toBe(0);
      for (const by of [1, 8]) {
        expect((await ping(rotated(secret, by))).code).toBe(0);
        expect((await bsdKnock(rotated(secret, by))).code).toBe(0);
      }
      await expectClosed();
    });

    it('opens for the secret sent with iputils ping -p', async () => {
      lab.forgetKnocks();
      const knock = await ping(secret);
      expect(knock.code, knock.stderr).toBe(0);
      await expectOpen();
    });

    it('opens for a knock shaped like BSD/macOS ping', async () => {
      lab.forgetKnocks();
      const knock = await bsdKnock(secret);
      expect(knock.code, knock.stderr).toBe(0);
      await expectOpen();
    });

    it('logs in through pingknock proxy', async () => {
      lab.forgetKnocks();
      const result = await lab.ssh([v6 ? LAB_HOSTS.knocked6 : LAB_HOSTS.knocked, 'echo in'], { timeoutMs: 20_000 });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.toString()).toBe('in\n');
    });

    it('changes nothing when applied again', async () => {
      const once = await settledRules();
      await apply();
      expect(await settledRules()).toBe(once);
    });

    it('--remove leaves the ruleset exactly as it was before', async () => {
      const result = await rules('--remove');
      expect(result.code, result.stderr).toBe(0);
      expect(await settledRules()).toBe(pristine);
    });

    it('--rollback restores the previous ruleset unless confirmed in time', async () => {
      await apply('--rollback', '15');
      const applied = await settledRules();
      expect(applied).not.toBe(pristine);
      await waitForRollback(15);
      expect(await settledRules()).toBe(pristine);

      await apply('--rollback', '60');
      const confirm = await rules('--confirm');
      expect(confirm.code, confirm.stderr).toBe(0);
      // Confirmed: the armed sleeper is gone, so nothing can restore the old rules any more.
      expect(await rollbackSleepers(60)).toBe('');
      expect(await settledRules()).toBe(applied);
      expect((await rules('--remove')).code).toBe(0);
      expect(await settledRules()).toBe(pristine);
    }, 120_000);
  });
}
