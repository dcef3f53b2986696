import { expect } from 'vitest';
import type { Family } from '../../src/core/layout.js';
import { LAB_HOSTS, type Lab } from '../../src/lab/lab.js';

/**
 * Both ways into the lab's server, each proven the way a stranger and a knocker meet it: a
 * connection straight to the family's address, without pingknock proxy.
 */

export const FAMILIES: readonly Family[] = ['ipv4', 'ipv6'];

/** An empty filter table, as a server that runs iptables has it: creating it is not pingknock's doing. */
export const EMPTY_FILTER = '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n';

export function serverAddress(lab: Lab, family: Family): string {
  return family === 'ipv6' ? lab.server.ipv6 : lab.server.ipv4;
}

function sshDirect(lab: Lab, family: Family, command: string, connectTimeout: number) {
  const host = family === 'ipv6' ? LAB_HOSTS.direct6 : LAB_HOSTS.direct;
  return lab.ssh(['-o', `ConnectTimeout=${connectTimeout}`, host, command], { timeoutMs: 20_000 });
}

/** With every knock forgotten, a new connection over `family` times out. */
export async function expectClosed(lab: Lab, family: Family): Promise<void> {
  lab.forgetKnocks();
  const result = await sshDirect(lab, family, 'true', 2);
  expect(result.code, `${family}: ${result.stderr}`).toBe(255);
  expect(result.stderr, family).toMatch(/timed out/);
}

/** A new connection over `family` logs in. */
export async function expectOpen(lab: Lab, family: Family): Promise<void> {
  const result = await sshDirect(lab, family, 'echo open', 3);
  expect(result.code, `${family}: ${result.stderr}`).toBe(0);
  expect(result.stdout.toString(), family).toBe('open\n');
}

/**
 * `pingknock knock` to the server's address in `family`, with the secret of `name`; then the port is open to this
 * client.
 */
export async function expectOpenAfterKnock(lab: Lab, family: Family, name: string): Promise<void> {
  lab.forgetKnocks();
  const knock = await lab.onClient('pingknock', ['knock', '--name', name, serverAddress(lab, family)], {
    timeoutMs: 20_000,
  });
  expect(knock.code, `${family}: ${knock.stderr}`).toBe(0);
  await expectOpen(lab, family);
}

/** Both families closed without a knock, and each open after its own knock. */
export async function expectEachFamilyGuarded(lab: Lab, name: string): Promise<void> {
  await expectAllClosed(lab);
  for (const family of FAMILIES) await expectOpenAfterKnock(lab, family, name);
}

/** Closed over both families at once: each check waits for its connection to time out. */
export async function expectAllClosed(lab: Lab): Promise<void> {
  await Promise.all(FAMILIES.map((family) => expectClosed(lab, family)));
}

export async function expectAllOpen(lab: Lab): Promise<void> {
  for (const family of FAMILIES) await expectOpen(lab, family);
}
