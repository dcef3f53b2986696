import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/edge/exec.js';
import { Lab, LAB_HOSTS } from '../../src/lab/lab.js';
import { applyByHand, cloudInitSchema } from '../support/cloud-init.js';
import { privateEtc } from '../support/fleet-lab.js';
import { newSecret } from './fixture.js';

/**
 * `pingknock rules --cloud-init`: the snippet passes cloud-init's own schema check for every
 * backend, and a lab server on which its files and commands are run by hand is protected, its
 * rules kept in its own /etc.
 */

describe('rules --cloud-init', () => {
  const secret = newSecret();
  let lab: Lab;
  let secretFile: string;

  const snippet = async (...args: string[]): Promise<string> => {
    const result = await run('pingknock', ['rules', '--secret-file', secretFile, '--cloud-init', ...args], {
      env: lab.env,
    });
    expect(result.code, result.stderr).toBe(0);
    return result.stdout.toString();
  };

  beforeAll(async () => {
    lab = await Lab.create({ secret, serverFirewall: 'bare', features: [privateEtc] });
    secretFile = join(lab.dir, 'secret');
    writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
  }, 60_000);

  afterAll(() => lab?.destroy());

  it.each([
    ['nftables', []],
    ['iptables', ['--rollback', '120']],
    ['ip6tables', []],
    ['ufw', ['--ufw-dir', '/etc/ufw']],
    ['nftables', ['--rolling', '--horizon', '1']],
  ])('passes cloud-init schema: %s %s', async (backend, extra) => {
    const file = join(lab.dir, `${backend}.yaml`);
    writeFileSync(file, await snippet('--backend', backend, ...extra));
    const checked = await cloudInitSchema(file);
    expect(checked.code, checked.stdout.toString() + checked.stderr).toBe(0);
    expect(checked.stdout.toString()).toContain('Valid cloud-config');
  });

  it('applied by hand on a new server, protects it and keeps the rules across reboots', async () => {
    const direct = () => lab.ssh(['-o', 'ConnectTimeout=3', LAB_HOSTS.direct, 'true']);
    expect((await direct()).code, 'the server answers before the snippet').toBe(0);
    const { commands, systemctl } = await applyByHand(lab, await snippet('--state-dir', join(lab.dir, 'state')));
    for (const command of commands) expect(command.code, command.stderr).toBe(0);
    const unknocked = await direct();
    expect(unknocked.code).toBe(255);
    expect(unknocked.stderr).toMatch(/timed out/);
    const knocked = await lab.ssh([LAB_HOSTS.knocked, 'true']);
    expect(knocked.code, knocked.stderr).toBe(0);
    expect(readFileSync(join(lab.dir, 'etc', 'nftables.conf'), 'utf8')).toContain('include "/etc/pingknock.nft"');
    expect(readFileSync(join(lab.dir, 'etc', 'pingknock.nft'), 'utf8')).toContain('table inet pingknock');
    expect(systemctl.split('\n')).toContain('enable nftables.service');
  }, 60_000);
});
