import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { runChecked } from '../../src/edge/exec.js';
import { LAB_HOSTS, type Lab } from '../../src/lab/lab.js';
import { newSecret, protectedLab } from './fixture.js';

/**
 * A knock the network answers instead of the host: ping stops at once, on a missing route or on
 * the ICMP error a router sends back, and pingknock says what ping said, not that no echo reply
 * came within the deadline.
 */
describe('a knock to an address that cannot be reached', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await protectedLab('bare', newSecret());
  });
  afterAll(() => lab?.destroy());

  const knock = (address: string) =>
    lab.onClient('pingknock', ['knock', '--name', LAB_HOSTS.knocked, address], { timeoutMs: 10_000 });

  /** Exit 14 with ping's own words, long before the 3 s deadline (node's start measured alongside). */
  async function expectUnreachable(address: string, said: string): Promise<void> {
    const nodeStart = await lab.onClient('node', ['-e', '0']);
    const result = await knock(address);
    expect(result.code, result.stderr).toBe(ExitCode.unreachable);
    // Which request the error answers varies (the first may wait for the neighbour lookup).
    expect(result.stderr.replace(/icmp_seq=\d+/, 'icmp_seq=N')).toBe(
      `pingknock: ${address} is unreachable from here (${said})\n`,
    );
    expect(result.stdout.length).toBe(0);
    // Waiting out the deadline would take 3 s beyond the CLI's start; a loaded machine gets 2 s.
    expect(result.ms - nodeStart.ms).toBeLessThan(2_000);
  }

  it('no route from the client: ping fails before sending, and so does the knock', async () => {
    await expectUnreachable('10.9.9.9', 'ping: connect: Network is unreachable');
    await expectUnreachable('fd99::9', 'ping: connect: Network is unreachable');
  });

  it(
    'an address on the link that nobody answers for: ' +
      'ping stops when the neighbour lookup fails, before the deadline',
    async () => {
      const result = await lab.onClient(
        'pingknock',
        ['knock', '--deadline', '6', '--name', LAB_HOSTS.knocked, '10.201.0.77'],
        { timeoutMs: 10_000 },
      );
      expect(result.code, result.stderr).toBe(ExitCode.unreachable);
      expect(result.stderr).toBe(
        `pingknock: 10.201.0.77 is unreachable from here ` +
          `(ping: From ${lab.client.ipv4} icmp_seq=1 Destination Host Unreachable)\n`,
      );
      // The kernel gives up on the neighbour after 3 s (3 probes, 1 s apart).
      expect(result.ms).toBeLessThan(5_000);
    },
  );

  it('a router without a route answers with an ICMP error: the knock ends on it and names the router', async () => {
    // The server becomes the client's router for these prefixes, with nowhere to send them on.
    runChecked('ip', [
      'netns',
      'exec',
      lab.server.netns,
      'sysctl',
      '-qw',
      'net.ipv4.ip_forward=1',
      'net.ipv6.conf.all.forwarding=1',
    ]);
    runChecked('ip', ['-n', lab.client.netns, 'route', 'add', '10.9.0.0/16', 'via', lab.server.ipv4]);
    runChecked('ip', ['-n', lab.client.netns, '-6', 'route', 'add', 'fd99::/64', 'via', lab.server.ipv6]);
    await expectUnreachable('10.9.9.9', `ping: From ${lab.server.ipv4} icmp_seq=N Destination Net Unreachable`);
    await expectUnreachable('fd99::9', `ping: From ${lab.server.ipv6} icmp_seq=N Destination unreachable: No route`);
  });

  it('through ssh, the ProxyCommand says the same, once', async () => {
    const result = await lab.ssh(['-o', 'HostName=10.8.8.8', LAB_HOSTS.knocked, 'true'], { timeoutMs: 15_000 });
    expect(result.code).toBe(255);
    expect(result.stderr).toMatch(
      /^pingknock: 10\.8\.8\.8 is unreachable from here \(ping: connect: Network is unreachable\)\n/,
    );
    expect(result.stderr.match(/pingknock:/g)).toHaveLength(1);
  });
});
