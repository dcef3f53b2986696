import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { isoDate, slotAt } from '../../src/core/rolling.js';
import { buildRuleModel, rollingKey, type RuleKey } from '../../src/core/rules/model.js';
import { NFT_PERSIST_FILE } from '../../src/core/rules/persist.js';
import { parseRegistry, serializeRegistry, withKey } from '../../src/core/rules/registry.js';
import { renderRules } from '../../src/core/rules/render.js';
import { knockModeEdit } from '../../src/core/ssh-config/knock-mode.js';
import { readSecretFile } from '../../src/edge/secret-source.js';
import { Lab } from '../../src/lab/lab.js';
import { EnrollLab } from '../support/enroll-lab.js';
import { newSecret } from './fixture.js';

/**
 * The end of a one-time horizon, for real: a server enrolled for two aliases, each with its own
 * key; one key's horizon is made to have ended yesterday (no waiting for days: the server's rules,
 * key list and boot file are written as they would be then, by the product's own renderers, and
 * the alias's ProxyCommand and record carry that last day). Then `ssh ALIAS` fails at once with
 * exit 16 and names the command to run, a knock with the pattern of the moment opens nothing, and
 * that very command, through the other alias's knock, gives the key a fresh horizon and ssh gets
 * in again.
 */

const today = (): number => slotAt(Date.now() / 1000).day;

/** How many days each enroll loads, and renew after them: enough for a real horizon, short enough to load fast. */
const HORIZON_DAYS = 3;

interface EnrollRecord {
  configAddition: { added: string[] } | null;
  server: { key: { until: string } };
}

/**
 * The server and `client`'s alias as they are once `client`'s key, loaded HORIZON_DAYS days ago,
 * has run out: the rules for every key of the list (the others' as they are), applied and kept for
 * boot; the key list; the ProxyCommand's last day, rewritten as renew writes it, and enroll's
 * record of it.
 */
function endHorizon(client: EnrollLab, keyName: string): number {
  const lastDay = today() - 1;
  const registry = parseRegistry(readFileSync(client.registryFile(), 'utf8'), 'the key list');
  const secret = readSecretFile(client.secretFile());
  const keys: RuleKey[] = withKey(registry.keys, rollingKey(keyName, secret, lastDay - HORIZON_DAYS + 1, HORIZON_DAYS));
  const { port, windowSeconds } = registry;
  const rules = renderRules(registry.backend, buildRuleModel({ keys, port, windowSeconds }));
  client.lab.loadServerRules(rules);
  writeFileSync(join(client.persistDir, NFT_PERSIST_FILE), rules);
  writeFileSync(client.registryFile(), serializeRegistry({ ...registry, keys }));

  const edit = knockModeEdit(readFileSync(client.config, 'latin1'), client.alias, { kind: 'rolling', lastDay });
  if (edit.kind !== 'changed') throw new Error(`cannot move ${client.alias}'s last day: ${JSON.stringify(edit)}`);
  writeFileSync(client.config, edit.text, 'latin1');
  const record = JSON.parse(readFileSync(client.recordFile(), 'utf8')) as EnrollRecord;
  const rewritten = (line: string): string => edit.lines.find(({ before }) => before === line)?.after ?? line;
  if (record.configAddition !== null) record.configAddition.added = record.configAddition.added.map(rewritten);
  record.server.key.until = isoDate(lastDay);
  writeFileSync(client.recordFile(), `${JSON.stringify(record, null, 2)}\n`);
  return lastDay;
}

/** The alias's ProxyCommand, run as ssh runs it (%h and %p filled in), with nothing on its input. */
function runProxyCommand(client: EnrollLab) {
  const line = client.proxyCommand().replace(/^ProxyCommand /, '');
  const command = line.replaceAll('%h', client.lab.server.ipv4).replaceAll('%p', String(client.lab.port));
  return client.lab.onClient('sh', ['-c', command], { input: '', timeoutMs: 20_000 });
}

/**
 * A knock by hand, as the README gives it, with the pattern of the moment (`pingknock pattern`),
 * then a new connection around the ProxyCommand: whether the knock opened the port.
 */
async function knockByHandOpens(client: EnrollLab): Promise<boolean> {
  client.lab.forgetKnocks();
  const pattern = await client.lab.onClient('pingknock', ['pattern', client.alias], { timeoutMs: 20_000 });
  expect(pattern.code, pattern.stderr).toBe(0);
  const hex = pattern.stdout.toString().trim();
  expect(hex).toMatch(/^[0-9a-f]{32}$/);
  await client.lab.onClient('ping', ['-c1', '-W2', '-p', hex, client.lab.server.ipv4], { timeoutMs: 20_000 });
  const ssh = await client.lab.onClient(
    'ssh',
    ['-F', client.config, '-o', 'ProxyCommand=none', '-o', 'ConnectTimeout=2', client.alias, 'true'],
    { timeoutMs: 20_000 },
  );
  if (ssh.code !== 0) expect(ssh.stderr).toMatch(/timed out/);
  return ssh.code === 0;
}

describe('the end of a one-time horizon, and renew through another alias', () => {
  let lab: Lab;
  let alpha: EnrollLab;
  let beta: EnrollLab;
  let lastDay: number;

  beforeAll(async () => {
    lab = await Lab.create({ secret: newSecret(), serverFirewall: 'bare' });
    alpha = new EnrollLab(lab, undefined, '', 'alpha');
    beta = alpha.as('beta');
    const first = await alpha.enroll('--key-name', 'alice@a', '--horizon', String(HORIZON_DAYS));
    expect(first.code, first.stderr).toBe(0);
    const second = await beta.enroll('--key-name', 'bob@b', '--horizon', String(HORIZON_DAYS), '--via', 'alpha');
    expect(second.code, second.stderr).toBe(0);
    lastDay = endHorizon(alpha, 'alice@a');
  }, 120_000);
  afterAll(() => lab?.destroy());

  it('fails with exit 16 and names the command to run; the knock of the moment opens nothing', async () => {
    const proxy = await runProxyCommand(alpha);
    expect(proxy.code, proxy.stderr).toBe(ExitCode.horizonEnded);
    expect(proxy.stdout.length).toBe(0);
    expect(proxy.stderr).toContain(`pingknock: one-time knocks for alpha ended on ${isoDate(lastDay)}: `);
    expect(proxy.stderr).toContain('Run pingknock renew alpha --via OTHER_ALIAS (another alias of this server');

    lab.forgetKnocks();
    const ssh = await alpha.ssh();
    expect(ssh.code, ssh.stderr).toBe(255);
    expect(ssh.stdout.length).toBe(0);
    expect(ssh.stderr).toContain(`pingknock: one-time knocks for alpha ended on ${isoDate(lastDay)}: `);
    expect(ssh.stderr).toContain('Run pingknock renew alpha --via OTHER_ALIAS');

    expect(await knockByHandOpens(alpha)).toBe(false);
    // Only alpha's key ran out: beta's knock still gets in, as the recovery below needs.
    await beta.expectKnockedLogin();
  }, 60_000);

  it('renews as the message says, through the other alias, and ssh gets in again until a new last day', async () => {
    // What the warnings before the last day said to run: without --via it cannot log in, and says so.
    const keyList = readFileSync(alpha.registryFile(), 'utf8');
    const proxyCommand = alpha.proxyCommand();
    const alone = await alpha.command('renew');
    expect(alone.code, alone.stderr).toBe(ExitCode.horizonEnded);
    expect(alone.stderr).toContain(`pingknock: one-time knocks for alpha ended on ${isoDate(lastDay)}, `);
    expect(alone.stderr).toContain('run pingknock renew alpha --via OTHER_ALIAS (another alias of this server');
    expect(readFileSync(alpha.registryFile(), 'utf8')).toBe(keyList);
    expect(alpha.proxyCommand()).toBe(proxyCommand);

    const said = (await runProxyCommand(alpha)).stderr;
    const command = /Run pingknock (renew alpha --via OTHER_ALIAS) /.exec(said)?.[1];
    expect(command, said).toBeDefined();
    const words = (command ?? '').replace('OTHER_ALIAS', beta.alias).split(' ');
    const renewed = await alpha.pingknock([...words, '--config', alpha.config]);
    expect(renewed.code, renewed.stderr).toBe(0);
    expect(renewed.stderr).toContain('logged in to alpha through the knock of beta');

    const until = isoDate(today() + HORIZON_DAYS - 1);
    expect(renewed.stderr).toContain(`renewed: one-time knocks for alpha now run through ${until}`);
    expect(alpha.proxyCommand()).toMatch(
      new RegExp(`^ProxyCommand pingknock proxy --name alpha --rolling-until ${until}( --fdpass)? %h %p$`),
    );
    const registry = parseRegistry(readFileSync(alpha.registryFile(), 'utf8'), 'the key list');
    expect(registry.keys.map((key) => [key.name, key.kind === 'rolling' ? isoDate(key.firstDay) : ''])).toEqual([
      ['alice@a', isoDate(today())],
      ['bob@b', expect.any(String)],
    ]);
    expect((JSON.parse(readFileSync(alpha.recordFile(), 'utf8')) as EnrollRecord).server.key.until).toBe(until);

    await alpha.expectKnockedLogin();
    expect(await knockByHandOpens(alpha)).toBe(true);
    await beta.expectKnockedLogin();
    await alpha.expectClosedWithoutKnock();
  }, 60_000);
});
