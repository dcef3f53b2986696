import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SshConfigEditRequest } from '../../src/core/ssh-config/add-plan.js';
import { additionOf, editSshConfig } from '../../src/core/ssh-config/add.js';
import { proxyCommandFor } from '../../src/core/ssh-config/proxy-command.js';
import { removeSetupAddition } from '../../src/core/ssh-config/remove.js';
import { REPLACED_MARK } from '../../src/core/ssh-config/text-edit.js';
import { parseRecord } from '../../src/edge/enroll-record.js';
import { ROOT } from '../support/cli.js';

/**
 * `pingknock unenroll` takes out of the ssh config exactly what enroll's setup added: setup's
 * edit followed by the removal gives back the original, byte for byte, on the fixture corpus
 * and on generated configs; what the user changed since is never taken out.
 */

const PROXY_LINE = `ProxyCommand ${proxyCommandFor('box')}`;

/** setup's edit, then unenroll's removal with setup's own record of it. */
function roundTrip(original: string, request: SshConfigEditRequest): { edited: string; restored: string } | undefined {
  const edit = editSshConfig(original, request);
  if (edit.kind !== 'changed') return undefined;
  const removal = removeSetupAddition(edit.text, request.alias, additionOf(edit));
  if (removal.kind !== 'changed')
    throw new Error(`expected a removal, got ${JSON.stringify(removal)} for ${JSON.stringify(edit.text)}`);
  return { edited: edit.text, restored: removal.text };
}

describe("removeSetupAddition with the record of setup's edit", () => {
  it.each([
    ['an empty file', ''],
    ['global lines only', 'ServerAliveInterval 30\n'],
    ['global lines without a final newline', 'ServerAliveInterval 30'],
    ['a host block below global lines', 'ForwardAgent no\nHost web\n  HostName w\n'],
    ['comments above the first block', 'Compression yes\n# my servers\nHost web\n  HostName w\n'],
    ['CRLF line endings', 'Compression yes\r\nHost web\r\n\tHostName w\r\n'],
    ['a blank line already above the first block', 'Compression yes\n\nHost web\n  HostName w\n'],
  ])('gives back %s after setup made a new block', (_name, original) => {
    const result = roundTrip(original, { alias: 'box', hostName: '10.0.0.9', port: 2222, user: 'root', force: false });
    expect(result?.edited).toContain('Host box');
    expect(result?.restored).toBe(original);
  });

  it.each([
    ['the block last, without a final newline', 'Host web\n  HostName w\nHost box\n  HostName b'],
    ['tabs, Key=Value and trailing spaces', 'Host box  \n\tHostName=b \t\nHost web\n\tUser x\n'],
    ['CRLF', 'Host box\r\n  User u\r\nHost *\r\n  Port 22\r\n'],
  ])('gives back %s after setup added lines to the existing block', (_name, original) => {
    const result = roundTrip(original, { alias: 'box', port: 2222, force: false });
    expect(result?.edited).toContain(PROXY_LINE);
    expect(result?.restored).toBe(original);
  });

  it('takes the replaced-by mark off the lines --force commented out', () => {
    const original =
      'Host box\n    HostName b\n    ProxyJump bastion # via the bastion\n    ProxyCommand nc %h %p\n' +
      'Host web\n    ProxyJump j\n';
    const edit = editSshConfig(original, { alias: 'box', force: true });
    if (edit.kind !== 'changed') throw new Error('expected a change');
    expect(edit.text).toContain(`    ${REPLACED_MARK}ProxyJump bastion # via the bastion\n`);
    const removal = removeSetupAddition(edit.text, 'box', additionOf(edit));
    expect(removal.kind === 'changed' && removal.text).toBe(original);
    expect(removal.kind === 'changed' && removal.restored.map((line) => line.number)).toEqual([3, 4]);
  });

  it("leaves a block that gained lines of the user's since, saying what to do", () => {
    const edit = editSshConfig('Host web\n  HostName w\n', { alias: 'box', hostName: 'b', force: false });
    if (edit.kind !== 'changed') throw new Error('expected a change');
    const grown = edit.text.replace(/^( *ProxyCommand .*\n)/m, '$1  User mine\n');
    expect(grown).not.toBe(edit.text);
    const removal = removeSetupAddition(grown, 'box', additionOf(edit));
    expect(removal.kind).toBe('refused');
    expect(removal.kind === 'refused' && removal.message).toMatch(
      /has lines of yours now; take its ProxyCommand line out by hand/,
    );
  });

  it('refuses when the added lines were changed, and is done when they are gone', () => {
    const edit = editSshConfig('Host box\n  User u\n', { alias: 'box', port: 2222, force: false });
    if (edit.kind !== 'changed') throw new Error('expected a change');
    const changed = edit.text.replace('Port 2222', 'Port 2200');
    const refused = removeSetupAddition(changed, 'box', additionOf(edit));
    expect(refused).toEqual({
      kind: 'refused',
      message: 'the lines pingknock setup added for box were changed since; take its ProxyCommand (line 4) out by hand',
    });
    expect(removeSetupAddition('Host box\n  User u\n', 'box', additionOf(edit))).toEqual({ kind: 'unchanged' });
  });

  it('keeps a blank line setup did not add', () => {
    const original = 'User me\n\nHost web\n';
    const edit = editSshConfig(original, { alias: 'box', force: false });
    if (edit.kind !== 'changed') throw new Error('expected a change');
    // The user's blank line now sits above the new block, and setup added one below it.
    expect(edit.added).toEqual(['Host box', `    ${PROXY_LINE}`, '']);
    const removal = removeSetupAddition(edit.text, 'box', additionOf(edit));
    expect(removal.kind === 'changed' && removal.text).toBe(original);
  });

  it('refuses a file it cannot read safely', () => {
    const removal = removeSetupAddition('Host box\r  ProxyCommand x\n', 'box', {
      newBlock: false,
      added: [`    ${PROXY_LINE}`],
      replaced: [],
    });
    expect(removal.kind).toBe('refused');
  });
});

describe('removeSetupAddition without a record', () => {
  it("takes out only pingknock's ProxyCommand lines of the alias's own block", () => {
    const text =
      `Host box\n  HostName b\n  ${PROXY_LINE}\nHost box web\n  ${PROXY_LINE}\n` +
      `Host other\n  ProxyCommand nc %h %p\n`;
    const removal = removeSetupAddition(text, 'box', undefined);
    expect(removal).toEqual({
      kind: 'changed',
      text: `Host box\n  HostName b\nHost box web\n  ${PROXY_LINE}\nHost other\n  ProxyCommand nc %h %p\n`,
      removed: [{ number: 3, text: `  ${PROXY_LINE}` }],
      restored: [],
    });
  });

  it('keeps a missing final newline, also for neighbouring lines at the end', () => {
    expect(removeSetupAddition(`Host box\n  HostName b\n  ${PROXY_LINE}`, 'box', undefined)).toMatchObject({
      text: 'Host box\n  HostName b',
    });
    expect(
      removeSetupAddition(`Host box\n  HostName b\n  ${PROXY_LINE}\n  ${PROXY_LINE}`, 'box', undefined),
    ).toMatchObject({ text: 'Host box\n  HostName b' });
  });

  it("says unchanged when there is nothing of pingknock's", () => {
    expect(removeSetupAddition('Host box\n  HostName b\n', 'box', undefined)).toEqual({ kind: 'unchanged' });
  });
});

describe('the removal on the setup fixture corpus', () => {
  const folder = join(ROOT, 'test', 'fixtures', 'ssh-config');
  const fixtures = readdirSync(folder).filter((name) => name.endsWith('.conf'));

  it.each(fixtures)(
    '%s: every single-name Host and a new alias come back byte for byte, with and without --force',
    (name) => {
      // latin1, as setup and unenroll read configs: every byte is one character.
      const original = readFileSync(join(folder, name), 'latin1');
      const aliases = new Set([
        'newhost',
        ...[...original.matchAll(/^\s*host\s*[= ]\s*([A-Za-z0-9_][A-Za-z0-9._-]*)\s*$/gim)].map(
          (match) => match[1] ?? 'newhost',
        ),
      ]);
      let edited = 0;
      for (const alias of aliases) {
        for (const force of [false, true]) {
          const result = roundTrip(original, { alias, hostName: '192.0.2.7', user: 'deploy', force });
          if (result === undefined) continue;
          edited += 1;
          expect(result.restored, `${alias}${force ? ' --force' : ''}`).toBe(original);
        }
      }
      expect(edited).toBeGreaterThan(0);
    },
  );
});

// ---- Properties over generated configs ----

const ALIAS = 'box';
const eol = fc.constantFrom('\n', '\r\n');
const indent = fc.constantFrom('', '  ', '    ', '\t');
const setting = fc
  .tuple(
    indent,
    fc.constantFrom(
      'HostName h',
      'User root',
      'Port 2222',
      'ProxyJump bastion',
      'ProxyCommand nc %h %p',
      PROXY_LINE,
      'ForwardAgent no',
      'HostName=h',
      'User  u  ',
    ),
  )
  .map(([pad, text]) => pad + text);
const other = fc.constantFrom('', '# note', '  # indented note', '\t');
const header = fc.constantFrom(
  'Host box',
  'Host web',
  'Host *',
  'Host box web',
  'host box',
  'Host db*',
  'Match all',
  'Host=box',
);
const configText = fc
  .tuple(
    fc.array(fc.oneof(other, fc.constantFrom('ServerAliveInterval 30', 'Include /nonexistent/pingknock-test/*')), {
      maxLength: 3,
    }),
    fc.array(fc.tuple(header, fc.array(fc.oneof({ weight: 3, arbitrary: setting }, other), { maxLength: 4 })), {
      maxLength: 4,
    }),
    eol,
    fc.boolean(),
  )
  .map(([globals, sections, ending, finalNewline]) => {
    const lines = [...globals, ...sections.flatMap(([head, body]) => [head, ...body])];
    const text = lines.join(ending);
    return finalNewline && lines.length > 0 ? text + ending : text;
  });
const request = fc.record({
  hostName: fc.option(fc.constantFrom('h', '10.0.0.1'), { nil: undefined }),
  port: fc.option(fc.constantFrom(22, 2222), { nil: undefined }),
  user: fc.option(fc.constantFrom('root', 'deploy'), { nil: undefined }),
  force: fc.boolean(),
});

describe('properties over generated configs', () => {
  it('whatever setup adds, the removal with its record gives back the original byte for byte', () => {
    let edited = 0;
    fc.assert(
      fc.property(configText, request, (text, wish) => {
        const result = roundTrip(text, { alias: ALIAS, ...wish });
        if (result === undefined) return;
        edited += 1;
        expect(result.restored).toBe(text);
      }),
      { numRuns: 2000 },
    );
    // The generator must really reach edits, or this property would hold vacuously.
    expect(edited).toBeGreaterThan(500);
  });

  it('the removal never throws and never touches a config setup did not edit', () => {
    fc.assert(
      fc.property(configText, (text) => {
        const removal = removeSetupAddition(text, ALIAS, {
          newBlock: true,
          added: ['', `Host ${ALIAS}`, `    ${PROXY_LINE}`, ''],
          replaced: [],
        });
        expect(['changed', 'unchanged', 'refused']).toContain(removal.kind);
        // Only a block exactly like setup's own can go.
        if (removal.kind === 'changed')
          expect(text).toMatch(new RegExp(`(^|\\n)Host ${ALIAS}\\r?\\n    ${PROXY_LINE}`));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('the enrollment record', () => {
  const good = {
    version: 1,
    config: '/home/u/.ssh/config',
    configAddition: { newBlock: true, added: ['Host box', `    ${PROXY_LINE}`], replaced: [] },
  };

  it('reads what enroll writes', () => {
    expect(parseRecord(JSON.stringify(good))).toEqual({ config: good.config, configAddition: good.configAddition });
    const server = { backend: 'nftables', stateDir: '/run/pingknock', persistDir: '/etc' };
    expect(parseRecord(JSON.stringify({ ...good, configAddition: null, server }))).toEqual({
      config: good.config,
      configAddition: null,
      server,
    });
  });

  it.each([
    ['not JSON', '{'],
    ['another version', JSON.stringify({ ...good, version: 2 })],
    ['a relative config path', JSON.stringify({ ...good, config: 'config' })],
    [
      'added lines holding a line break',
      JSON.stringify({ ...good, configAddition: { ...good.configAddition, added: ['Host box\nProxyCommand evil'] } }),
    ],
    [
      'an unknown backend',
      JSON.stringify({ ...good, server: { backend: 'pf', stateDir: '/run/p', persistDir: '/etc' } }),
    ],
    [
      'a state folder a shell would read twice',
      JSON.stringify({ ...good, server: { backend: 'ufw', stateDir: '/run/$(id)', persistDir: '/etc' } }),
    ],
  ])('refuses %s', (_name, text) => {
    expect(parseRecord(text)).toBeUndefined();
  });
});
