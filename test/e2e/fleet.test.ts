import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSecret, type Secret } from '../../src/core/secret.js';
import { Fleet, type FleetServer, type PlaybookRun } from '../support/fleet-lab.js';
import { newSecret } from './fixture.js';

/**
 * The Ansible role on three lab servers, one per firewall, through Debian's ansible: protected
 * servers drop connections without a knock and admit knocked ones; a second run changes nothing
 * and knocks once per host; a server whose knock breaks rolls back alone; rotation leaves every
 * server on its new secret and none on the old one.
 */

const EXAMPLES = join(import.meta.dirname, '..', '..', 'ansible', 'examples');
const playbook = (name: string): string => join(EXAMPLES, `${name}.yml`);

describe('the Ansible role protects a fleet', () => {
  let fleet: Fleet;
  let servers: FleetServer[];
  /** The secret each server's alias knocks with now. */
  const current = new Map<string, Secret>();

  const secretOf = (server: FleetServer): Secret =>
    parseSecret(readFileSync(fleet.secretFile(server), 'utf8').trim(), 'secret');
  const expectRan = (run: PlaybookRun, failed: readonly string[]): void => {
    for (const server of servers) {
      const recap = run.recap[server.name];
      expect(recap, run.output).toBeDefined();
      expect({ host: server.name, failed: recap?.failed }, run.output).toEqual({
        host: server.name,
        failed: failed.includes(server.name) ? 1 : 0,
      });
      expect(recap?.unreachable, run.output).toBe(0);
    }
  };
  /** Every server admits its alias's knock and drops everyone who did not knock. */
  const expectProtected = async (among: readonly FleetServer[] = servers): Promise<void> => {
    await Promise.all(
      among.map(async (server) => {
        const unknocked = await fleet.unknocked(server);
        expect(unknocked.code, `${server.name} answered without a knock`).toBe(255);
        expect(unknocked.stderr).toMatch(/timed out/);
        const knocked = await fleet.ssh(server, []);
        expect(knocked.code, `${server.name}: ${knocked.stderr}`).toBe(0);
      }),
    );
  };
  /** `secret`'s knock is answered, and opens nothing. */
  const expectRefused = async (server: FleetServer, secret: Secret): Promise<void> => {
    const after = await fleet.afterKnockWith(server, secret);
    expect(after.code, `${server.name} let the old secret in`).toBe(255);
    expect(after.stderr).toMatch(/timed out/);
  };

  beforeAll(async () => {
    fleet = await Fleet.create(
      [
        { name: 'fleet-nft', backend: 'nftables' },
        { name: 'fleet-ipt', backend: 'iptables' },
        { name: 'fleet-ufw', backend: 'ufw' },
      ],
      newSecret(),
    );
    servers = [...fleet.servers];
    for (const server of servers) {
      const secret = newSecret();
      fleet.writeSecret(fleet.secretFile(server), secret);
      current.set(server.name, secret);
    }
  }, 120_000);

  afterAll(() => fleet?.destroy());

  it('the example playbooks pass ansible-playbook --syntax-check', async () => {
    for (const name of ['protect', 'rotate', 'revoke']) {
      const run = await fleet.playbook(playbook(name), ['--syntax-check', '-e', 'revoked=/dev/null']);
      expect(run.result.code, run.output + run.result.stderr).toBe(0);
    }
  });

  it('protect.yml protects each server: dropped without a knock, admitted after one', async () => {
    const run = await fleet.playbook(playbook('protect'));
    expect(run.result.code, run.output + run.result.stderr).toBe(0);
    expectRan(run, []);
    for (const server of servers) expect(run.recap[server.name]?.changed, run.output).toBeGreaterThan(0);
    await expectProtected();
    // Kept across reboots, each its own way, in the server's own /etc.
    const etc = (server: FleetServer, file: string): string => join(server.lab.dir, 'etc', file);
    expect(readFileSync(etc(servers[0] as FleetServer, 'nftables.conf'), 'utf8')).toMatch(/include ".*pingknock\.nft"/);
    expect(readFileSync(join((servers[2] as FleetServer).lab.dir, 'etc-ufw', 'before.rules'), 'utf8')).toContain(
      '# BEGIN pingknock',
    );
    for (const server of servers) {
      fleet.knocksSeen(server);
      fleet.loginsSeen(server);
    }
  }, 240_000);

  it('a second run changes nothing, and knocks once per host', async () => {
    const run = await fleet.playbook(playbook('protect'));
    expect(run.result.code, run.output + run.result.stderr).toBe(0);
    expectRan(run, []);
    for (const server of servers) {
      expect({ host: server.name, changed: run.recap[server.name]?.changed }, run.output).toEqual({
        host: server.name,
        changed: 0,
      });
      // One connection, knocked: every task rode on it. A knock whose reply is slow is resent once.
      const seen = { host: server.name, logins: fleet.loginsSeen(server), knocked: fleet.knocksSeen(server) > 0 };
      expect(seen).toEqual({ host: server.name, logins: 1, knocked: true });
    }
  }, 240_000);

  it('a server whose new knock is broken rolls back alone; the others rotate', async () => {
    const [nft, ipt, ufw] = servers as [FleetServer, FleetServer, FleetServer];
    // The secret rotate.yml will give it, left waiting as after an unfinished rotation.
    const waiting = newSecret();
    fleet.writeSecret(`${fleet.secretFile(ipt)}.next`, waiting);
    fleet.dropKnocksOf(ipt, waiting);
    const run = await fleet.playbook(playbook('rotate'));
    await fleet.undoDropKnocks(ipt);
    expect(run.result.code, run.output).not.toBe(0);
    expectRan(run, [ipt.name]);
    expect(run.output).toMatch(/fleet-ipt: .*; its previous rules are back;/);
    // The broken one: its old rules and secret, the new one waiting for the next try.
    expect(secretOf(ipt)).toBe(current.get(ipt.name));
    expect(existsSync(`${fleet.secretFile(ipt)}.next`)).toBe(true);
    await expectRefused(ipt, waiting);
    // The others: the new secret, and the old one opens nothing.
    for (const server of [nft, ufw]) {
      expect(secretOf(server)).not.toBe(current.get(server.name));
      await expectRefused(server, current.get(server.name) as Secret);
      current.set(server.name, secretOf(server));
    }
    await expectProtected();
  }, 240_000);

  it('rotate.yml leaves all three on their new secret, and none on the old', async () => {
    const run = await fleet.playbook(playbook('rotate'));
    expect(run.result.code, run.output + run.result.stderr).toBe(0);
    expectRan(run, []);
    await expectProtected();
    await Promise.all(
      servers.map(async (server) => {
        const old = current.get(server.name) as Secret;
        expect(secretOf(server)).not.toBe(old);
        expect(existsSync(`${fleet.secretFile(server)}.next`)).toBe(false);
        await expectRefused(server, old);
      }),
    );
  }, 240_000);

  it('takes the secret from a variable, as ansible-vault gives it, and then knocks with it', async () => {
    const [nft] = servers as [FleetServer];
    const old = secretOf(nft);
    const vaulted = newSecret();
    const run = await fleet.playbook(playbook('protect'), ['--limit', nft.name, '-e', `pingknock_secret=${vaulted}`]);
    expect(run.result.code, run.output + run.result.stderr).toBe(0);
    expect(secretOf(nft)).toBe(vaulted);
    await expectProtected([nft]);
    await expectRefused(nft, old);
  }, 120_000);
});
