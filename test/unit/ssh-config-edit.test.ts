import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExitCode, PingknockError } from '../../src/core/errors.js';
import type { SshConfigEditRequest } from '../../src/core/ssh-config/add-plan.js';
import { editSshConfig, type SshConfigEdit } from '../../src/core/ssh-config/add.js';
import { globMatches, hostMatches } from '../../src/core/ssh-config/matching.js';
import { parseAlias, parseSshUser } from '../../src/core/ssh-config/names.js';
import { effectiveMismatches, pingknockProxyForm, proxyCommandFor } from '../../src/core/ssh-config/proxy-command.js';
import { REPLACED_MARK } from '../../src/core/ssh-config/text-edit.js';
import { onlyInserted, option, sshG } from '../support/config-diff.js';

const proxyLine = (alias: string): string => `ProxyCommand ${proxyCommandFor(alias)}`;
const PROXY_LINE = proxyLine('box');
const PROXY_COMMAND = proxyCommandFor('box');

function edit(text: string, request: Partial<SshConfigEditRequest> = {}): SshConfigEdit {
  return editSshConfig(text, { alias: 'box', force: false, ...request });
}

function changed(
  text: string,
  request: Partial<SshConfigEditRequest> = {},
): Extract<SshConfigEdit, { kind: 'changed' }> {
  const result = edit(text, request);
  if (result.kind !== 'changed') throw new Error(`expected a change, got ${JSON.stringify(result)}`);
  return result;
}

function refused(
  text: string,
  request: Partial<SshConfigEditRequest> = {},
): Extract<SshConfigEdit, { kind: 'refused' }> {
  const result = edit(text, request);
  if (result.kind !== 'refused') throw new Error(`expected a refusal, got ${JSON.stringify(result)}`);
  return result;
}

describe('a new Host block', () => {
  it('is the whole file when the file is empty', () => {
    const result = changed('', { hostName: 'box.example.org', port: 2222, user: 'deploy' });
    expect(result.text).toBe(
      `Host box\n    HostName box.example.org\n    Port 2222\n    User deploy\n    ${PROXY_LINE}\n`,
    );
    expect(result.newBlock).toBe(true);
    expect(result.addedAt).toBe(1);
  });

  it('goes above the first section and the comments that describe it, below the global lines', () => {
    const original =
      '# my hosts\nInclude config.d/*\nServerAliveInterval 30\n\n' +
      '# the web server\n# (since 2019)\nHost web\n  User www\n';
    const result = changed(original, { hostName: '10.0.0.7' });
    expect(result.text).toBe(
      '# my hosts\nInclude config.d/*\nServerAliveInterval 30\n\nHost box\n  HostName 10.0.0.7\n' +
        `  ${PROXY_LINE}\n\n# the web server\n# (since 2019)\nHost web\n  User www\n`,
    );
    expect(result.addedAt).toBe(5);
  });

  it('is separated by a blank line from a global line right above the first section', () => {
    const result = changed('ForwardAgent no\nHost web\n\tUser www\n');
    expect(result.text).toBe(`ForwardAgent no\n\nHost box\n\t${PROXY_LINE}\n\nHost web\n\tUser www\n`);
  });

  it('goes at the end of a file without sections, which keeps its missing final newline', () => {
    const result = changed('ServerAliveInterval 30\nForwardAgent no');
    expect(result.text).toBe(`ServerAliveInterval 30\nForwardAgent no\n\nHost box\n    ${PROXY_LINE}`);
  });

  it("uses the file's CRLF line endings and its indentation", () => {
    const result = changed('Host web\r\n\tUser www\r\n', { hostName: 'h' });
    expect(result.text).toBe(`Host box\r\n\tHostName h\r\n\t${PROXY_LINE}\r\n\r\nHost web\r\n\tUser www\r\n`);
  });

  it('is made when the alias is only one of several patterns of a block: the others must not start knocking', () => {
    const original = 'Host web box db\n  User admin\n';
    const result = changed(original);
    expect(result.newBlock).toBe(true);
    expect(result.text).toBe(`Host box\n  ${PROXY_LINE}\n\n${original}`);
  });

  it('is made for an alias whose block differs in case: ssh matches Host patterns case-sensitively', () => {
    expect(changed('Host BOX\n  User u\n').newBlock).toBe(true);
  });

  it('keeps whitespace-only lines and trailing blank lines as they are', () => {
    const original = '  \n\t\n\n';
    expect(changed(original).text).toBe(`${original}Host box\n    ${PROXY_LINE}\n`);
  });
});

describe('the existing Host block', () => {
  it('gets the ProxyCommand after its last directive, indented like it', () => {
    const original = 'Host box\n\tHostName 10.1.1.1\n\tUser me\n\n# next\nHost other\n\tUser x\n';
    const result = changed(original);
    expect(result.newBlock).toBe(false);
    expect(result.text).toBe(
      `Host box\n\tHostName 10.1.1.1\n\tUser me\n\t${PROXY_LINE}\n\n# next\nHost other\n\tUser x\n`,
    );
    expect(result.added).toEqual([`\t${PROXY_LINE}`]);
    expect(result.addedAt).toBe(4);
  });

  it('is found in Key=Value form, and the file keeps that form, its double spaces and trailing whitespace', () => {
    const original = 'Host=box\nHostName = 10.1.1.1  \nUser=me # who\n';
    // The block's directives are not indented, so neither is the added one.
    expect(changed(original).text).toBe(`${original}${PROXY_LINE}\n`);
  });

  it('at the very end of a file without a final newline stays without one', () => {
    expect(changed('Host box\n  User me').text).toBe(`Host box\n  User me\n  ${PROXY_LINE}`);
    expect(changed('Host box').text).toBe(`Host box\n    ${PROXY_LINE}`);
  });

  it('gets only the options it lacks', () => {
    const result = changed('Host box\n  HostName h\n', { hostName: 'H', port: 2200, user: 'u' });
    expect(result.added).toEqual(['  Port 2200', '  User u', `  ${PROXY_LINE}`]);
  });

  it('is left alone when it already has all of it, in any spelling ssh accepts', () => {
    expect(edit(`Host box\n  ${PROXY_LINE}\n`).kind).toBe('unchanged');
    expect(edit('host box\n  proxycommand=pingknock proxy --name box %h %p\n').kind).toBe('unchanged');
    expect(edit('Host box\n  ProxyCommand /usr/local/bin/pingknock  proxy --name box %h %p\n', {}).kind).toBe(
      'unchanged',
    );
    expect(
      edit(`Host box\n  HostName H.example.org\n  Port 22\n  ${PROXY_LINE}\n`, { hostName: 'h.example.org', port: 22 })
        .kind,
    ).toBe('unchanged');
  });

  it('replaces the older `--name %n` line of its own without --force: paramiko and Fabric do not expand %n', () => {
    const result = changed('Host box\n  User me\n  ProxyCommand pingknock proxy --name %n %h %p\n');
    expect(result.text).toBe(
      `Host box\n  User me\n  ${REPLACED_MARK}ProxyCommand pingknock proxy --name %n %h %p\n  ${PROXY_LINE}\n`,
    );
    expect(result.replaced).toEqual([{ number: 3, text: '  ProxyCommand pingknock proxy --name %n %h %p' }]);
    expect(edit(result.text).kind).toBe('unchanged');
  });

  it('leaves the older `--name %n` line alone in a block other hosts use: it knocks for them with ssh', () => {
    expect(edit('Host *\n  ProxyCommand pingknock proxy --name %n %h %p\n').kind).toBe('unchanged');
  });

  it('with another ProxyCommand is refused, naming the line', () => {
    for (const line of ['ProxyCommand ssh -W %h:%p bastion', 'ProxyCommand none']) {
      const result = refused(`Host box\n  HostName h\n  ${line}\n`);
      expect(result.reason).toBe('conflict');
      expect(result.lines).toEqual([{ number: 3, text: `  ${line}` }]);
      expect(result.message).toContain(`line 3 "${line}"`);
      expect(result.message).toContain('--force');
    }
  });

  it('with --force has the other proxy commented out, its text kept, and a second run changes nothing', () => {
    const original = 'Host box\n  ProxyCommand ssh -W %h:%p bastion\n  User me\n';
    const result = changed(original, { force: true });
    expect(result.text).toBe(
      `Host box\n  ${REPLACED_MARK}ProxyCommand ssh -W %h:%p bastion\n  User me\n  ${PROXY_LINE}\n`,
    );
    expect(result.replaced).toEqual([{ number: 2, text: '  ProxyCommand ssh -W %h:%p bastion' }]);
    expect(edit(result.text, { force: true }).kind).toBe('unchanged');
    expect(edit(result.text).kind).toBe('unchanged');
  });

  it('with a ProxyJump knocks from the jump host: the ProxyJump marked as replaced, without --force', () => {
    const original = 'Host box\n  ProxyJump ops@bastion:2222 # the way in\n  User me\n';
    const result = changed(original, { jumpConfig: '/home/me/.ssh/work' });
    const line = 'ProxyCommand pingknock proxy --name box --jump ops@bastion:2222 --config /home/me/.ssh/work %h %p';
    expect(result.text).toBe(
      `Host box\n  ${REPLACED_MARK}ProxyJump ops@bastion:2222 # the way in\n  User me\n  ${line}\n`,
    );
    expect(result.replaced).toEqual([{ number: 2, text: '  ProxyJump ops@bastion:2222 # the way in' }]);
    expect(edit(result.text, { jumpConfig: '/home/me/.ssh/work' }).kind).toBe('unchanged');
    expect(edit(result.text, { jumpConfig: '/home/me/.ssh/work', force: true }).kind).toBe('unchanged');
  });

  it('whose HostName differs from --hostname is refused, and replaced with --force', () => {
    const original = 'Host box\n  HostName old.example.org\n';
    expect(refused(original, { hostName: 'new.example.org' }).reason).toBe('conflict');
    const result = changed(original, { hostName: 'new.example.org', force: true });
    expect(result.text).toBe(
      `Host box\n  ${REPLACED_MARK}HostName old.example.org\n  HostName new.example.org\n  ${PROXY_LINE}\n`,
    );
  });

  it('with its own ProxyCommand after a ProxyJump counts the ProxyJump: ssh takes the first of the two', () => {
    const original = `Host box\n  ProxyJump j\n  ${PROXY_LINE}\n`;
    const result = changed(original);
    expect(result.text).toBe(
      `Host box\n  ${REPLACED_MARK}ProxyJump j\n  ${REPLACED_MARK}${PROXY_LINE}\n` +
        `  ${proxyLine('box').replace('box %h', 'box --jump j %h')}\n`,
    );
    expect(changed(original, { force: true }).text).toBe(result.text);
  });
});

describe('first match wins', () => {
  it('refuses when an earlier block that matches the alias sets a proxy: the new line would have no effect', () => {
    for (const header of ['Host *', 'Host b*', 'Host b?x', 'Host web box']) {
      const original = `${header}\n  ProxyJump bastion\n\nHost box\n  User me\n`;
      const result = refused(original, { force: true });
      expect(result.reason).toBe('shadowed');
      expect(result.lines).toEqual([{ number: 2, text: '  ProxyJump bastion' }]);
    }
  });

  it('refuses when a global line sets a value the new block would set', () => {
    const result = refused('User admin\nHost web\n  User www\n', { user: 'deploy' });
    expect(result.reason).toBe('shadowed');
    expect(result.message).toContain('line 1 "User admin"');
  });

  it('is fine with an earlier matching block that sets the same value', () => {
    const result = changed('Host *.lab\n  User root\n', { alias: 'x.lab', user: 'root' });
    expect(result.added).toEqual(['Host x.lab', `  ${proxyLine('x.lab')}`, '']);
  });

  it('ignores blocks that do not match: other names, negations, `?` that needs one character', () => {
    for (const header of ['Host web', 'Host * !box', 'Host box?', 'Host b?', 'Host BOX']) {
      expect(changed(`${header}\n  ProxyJump bastion\n`).newBlock).toBe(true);
    }
  });

  it('calls a later matching block with a proxy a conflict; --force overrides it for this host only', () => {
    const original = 'Host box\n  User me\n\nHost *\n  ProxyCommand nc %h %p\n';
    expect(refused(original).lines).toEqual([{ number: 5, text: '  ProxyCommand nc %h %p' }]);
    const result = changed(original, { force: true });
    expect(result.overridden).toEqual([{ number: 5, text: '  ProxyCommand nc %h %p' }]);
    expect(result.replaced).toEqual([]);
    expect(result.text).toBe(`Host box\n  User me\n  ${PROXY_LINE}\n\nHost *\n  ProxyCommand nc %h %p\n`);
  });

  it("knocks from a later matching block's jump host, overriding its ProxyJump for this host only", () => {
    const original = 'Host box\n  User me\n\nHost *\n  ProxyJump bastion\n';
    const result = changed(original);
    expect(result.overridden).toEqual([{ number: 5, text: '  ProxyJump bastion' }]);
    expect(result.text).toBe(
      'Host box\n  User me\n  ProxyCommand pingknock proxy --name box --jump bastion %h %p\n\nHost *\n' +
        '  ProxyJump bastion\n',
    );
  });

  it('leaves Match blocks to ssh -G: they are not decided from the text', () => {
    const result = changed('Match exec "test -f /x"\n  ProxyJump bastion\n');
    expect(result.newBlock).toBe(true);
  });
});

describe('what cannot be edited safely is refused', () => {
  it.each([
    ['a Match without a value', 'Match host\n', /parser refused/],
    ['an unterminated quote', 'Host box\n  IdentityFile "~/.ssh/id\n', /parser refused/],
    ['a line starting with =', '=box\nHost box\n', /line 1/],
    ['a keyword without a value', 'ForwardAgent\nHost box\n', /line 1/],
    ['a carriage return inside a line', 'Host web\r  User x\n', /line 1 has a carriage return/],
  ])('%s', (_name, text, message) => {
    const result = refused(text);
    expect(result.reason).toBe('unparseable');
    expect(result.message).toMatch(message);
  });
});

describe('input checks', () => {
  it.each(['-oProxyCommand=x', '', 'a b', 'web*', '!box', 'box\nProxyCommand x', '.hidden', 'a"b', 'x'.repeat(254)])(
    'refuses the alias %j',
    (alias) => {
      expect(() => editSshConfig('', { alias, force: false })).toThrow(PingknockError);
      expect(() => parseAlias(alias)).toThrow(expect.objectContaining({ exitCode: ExitCode.usage }));
    },
  );

  it('says why an alias starting with - is refused', () => {
    expect(() => parseAlias('-F')).toThrow(/starts with "-"/);
  });

  it.each(['box', 'my-server_2', 'web.example.org', 'UPPER', '_x'])('accepts the alias %j', (alias) => {
    expect(parseAlias(alias)).toBe(alias);
  });

  it('refuses values that would add lines or options to the config', () => {
    expect(() => edit('', { hostName: 'h\nProxyCommand evil' })).toThrow(PingknockError);
    expect(() => edit('', { user: 'u x' })).toThrow(PingknockError);
    expect(() => edit('', { port: 0 })).toThrow(PingknockError);
    expect(() => parseSshUser('-l')).toThrow(PingknockError);
    expect(parseSshUser('ann.lee@corp')).toBe('ann.lee@corp');
  });
});

describe('pattern matching like ssh', () => {
  it.each([
    ['*', 'anything', true],
    ['a?c', 'abc', true],
    ['a?c', 'ac', false],
    ['*.example.org', 'x.example.org', true],
    ['*.example.org', 'example.org', false],
    ['web[1]', 'web[1]', true],
    ['web.1', 'webx1', false],
    ['Box', 'box', false],
  ])('%s against %s: %s', (pattern, host, expected) => {
    expect(globMatches(pattern, host)).toBe(expected);
  });

  it('lets a negated pattern veto a match', () => {
    expect(hostMatches(['*', '!box'], 'box')).toBe(false);
    expect(hostMatches(['*', '!box'], 'web')).toBe(true);
    expect(hostMatches(['!box'], 'web')).toBe(false);
  });

  it(
    "knows pingknock's ProxyCommand for the alias by any path to the program, " + 'the older %n form, and nothing else',
    () => {
      expect(PROXY_COMMAND).toBe('pingknock proxy --name box %h %p');
      expect(pingknockProxyForm(PROXY_COMMAND, 'box')).toBe('current');
      expect(pingknockProxyForm('/opt/bin/pingknock proxy --name box %h %p', 'box')).toBe('current');
      expect(pingknockProxyForm('/opt/bin/pingknock proxy --name %n %h %p', 'box')).toBe('legacy');
      expect(pingknockProxyForm(PROXY_COMMAND, 'web')).toBeUndefined();
      expect(pingknockProxyForm('pingknock proxy --name box %h %p --verbose', 'box')).toBeUndefined();
      expect(pingknockProxyForm('notpingknock proxy --name box %h %p', 'box')).toBeUndefined();
      expect(pingknockProxyForm('pingknock proxy %h %p', 'box')).toBeUndefined();
    },
  );
});

describe('reading ssh -G answers', () => {
  const answer = (pairs: Record<string, string>) => new Map(Object.entries(pairs));

  it("is content with pingknock's ProxyCommand and the wished values", () => {
    expect(
      effectiveMismatches(
        answer({ proxycommand: PROXY_COMMAND, hostname: 'h.example.org', port: '22', user: 'u' }),
        'box',
        { hostName: 'H.example.org', port: 22, user: 'u' },
      ),
    ).toEqual([]);
  });

  it("takes the older %n form, which ssh expands, as knocking; another alias's line is not", () => {
    expect(effectiveMismatches(answer({ proxycommand: 'pingknock proxy --name %n %h %p' }), 'box')).toEqual([]);
    expect(effectiveMismatches(answer({ proxycommand: PROXY_COMMAND }), 'web')).toEqual([
      `ProxyCommand ${PROXY_COMMAND}`,
    ]);
  });

  it('names what differs', () => {
    expect(
      effectiveMismatches(answer({ proxyjump: 'bastion', hostname: 'a', port: '22', user: 'root' }), 'box', {
        hostName: 'b',
        port: 2222,
        user: 'u',
      }),
    ).toEqual(['ProxyJump bastion', 'HostName a', 'Port 22', 'User root']);
    expect(effectiveMismatches(answer({}), 'box')).toEqual(['no ProxyCommand']);
    expect(effectiveMismatches(answer({ proxycommand: 'ssh -W %h:%p b' }), 'box')).toEqual([
      'ProxyCommand ssh -W %h:%p b',
    ]);
  });
});

// ---- Property-based: random configs shaped like real ones, real ssh as the judge ----

const ALIAS = 'box';
const OTHER_HOSTS = ['web', 'db1', 'x.example.org', 'boxer', 'BOX'];
const indent = fc.constantFrom('', ' ', '  ', '    ', '\t', '\t\t');
const separator = fc.constantFrom(' ', '  ', '\t', '=', ' = ', ' =');
const trailing = fc.constantFrom('', '', '', ' ', '\t', '  ');
const inlineComment = fc.constantFrom('', '', '', ' # note', '\t#x', ' #');
const keywordCase = (keyword: string) => fc.constantFrom(keyword, keyword.toLowerCase(), keyword.toUpperCase());
const settingValues: Record<string, readonly string[]> = {
  HostName: ['10.0.0.1', 'h.example.org', 'box.internal'],
  User: ['root', 'deploy', 'git'],
  Port: ['22', '2222'],
  IdentityFile: ['~/.ssh/id_ed25519', '"~/.ssh/my key"', '/tmp/k'],
  ServerAliveInterval: ['30', '60'],
  ForwardAgent: ['yes', 'no'],
  LogLevel: ['ERROR', 'QUIET'],
  ProxyJump: ['bastion', 'jump@j.example.org:2222'],
  ProxyCommand: [
    'ssh -W %h:%p bastion',
    PROXY_COMMAND,
    'pingknock proxy --name %n %h %p',
    'nc -X 5 -x proxy:1080 %h %p',
  ],
};
const harmlessKeywords = ['ServerAliveInterval', 'ForwardAgent', 'LogLevel', 'IdentityFile'];

const setting = (keywords: readonly string[]) =>
  fc
    .tuple(indent, fc.constantFrom(...keywords), separator, trailing, inlineComment)
    .chain(([pad, keyword, sep, tail, comment]) =>
      fc
        .tuple(keywordCase(keyword), fc.constantFrom(...(settingValues[keyword] ?? ['x'])))
        .map(([spelled, value]) => `${pad}${spelled}${sep}${value}${comment}${tail}`),
    );
const anySetting = setting(Object.keys(settingValues));
const comment = fc
  .tuple(indent, fc.constantFrom('# hosts', '#', '# Host box', '## ProxyJump x', '#\tsee wiki'))
  .map(([pad, text]) => pad + text);
const blank = fc.constantFrom('', ' ', '\t', '   ');
const hostHeader = fc
  .tuple(
    keywordCase('Host'),
    separator,
    fc.uniqueArray(fc.constantFrom(ALIAS, 'web', 'db*', '*', '!box', 'b?x', '*.example.org', 'boxer', 'BOX'), {
      minLength: 1,
      maxLength: 3,
    }),
    trailing,
  )
  .map(([keyword, sep, patterns, tail]) => `${keyword}${sep}${patterns.join(' ')}${tail}`);
const matchHeader = fc.constantFrom(
  'Match all',
  'Match exec "true"',
  'Match exec "false"',
  'Match host web',
  'Match originalhost db1 user root',
);
const section = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.tuple(
      hostHeader,
      fc.array(fc.oneof({ weight: 4, arbitrary: anySetting }, comment, blank), { maxLength: 4 }),
    ),
  },
  // Match is not decided from the text (ssh -G is, in setup): here it only sets what pingknock does not check.
  {
    weight: 1,
    arbitrary: fc.tuple(matchHeader, fc.array(fc.oneof(setting(harmlessKeywords), comment, blank), { maxLength: 3 })),
  },
);
const globalLines = fc.array(
  fc.oneof(setting(harmlessKeywords), comment, blank, fc.constant('Include /nonexistent/pingknock-test/*')),
  { maxLength: 3 },
);
const configText = fc
  .tuple(globalLines, fc.array(section, { maxLength: 5 }), fc.constantFrom('\n', '\r\n'), fc.boolean())
  .map(([globals, sections, eol, finalNewline]) => {
    const lines = [...globals, ...sections.flatMap(([header, body]) => [header, ...body])];
    const text = lines.join(eol);
    return finalNewline && lines.length > 0 ? text + eol : text;
  });
const request = fc.record({
  hostName: fc.option(fc.constantFrom('10.0.0.1', 'h.example.org'), { nil: undefined }),
  port: fc.option(fc.constantFrom(22, 2222), { nil: undefined }),
  user: fc.option(fc.constantFrom('root', 'deploy'), { nil: undefined }),
  force: fc.boolean(),
});
const allowedLines = (wish: {
  hostName?: string | undefined;
  port?: number | undefined;
  user?: string | undefined;
}): Set<string> =>
  new Set([
    `Host ${ALIAS}`,
    PROXY_LINE,
    ...(settingValues.ProxyJump ?? []).map((route) => PROXY_LINE.replace(' %h', ` --jump ${route} %h`)),
    `HostName ${wish.hostName}`,
    `Port ${wish.port}`,
    `User ${wish.user}`,
  ]);

describe('properties over generated configs', () => {
  it(
    'an edit without --force only inserts pingknock lines in one place, ' +
      "in the file's line endings, and a second run changes nothing",
    () => {
      fc.assert(
        fc.property(configText, request, (text, wish) => {
          const result = editSshConfig(text, { alias: ALIAS, ...wish, force: false });
          if (result.kind !== 'changed') return;
          // What it may replace unasked in the host's own block: an older pingknock ProxyCommand, or the
          // ProxyJump its line then knocks from (and a pingknock line after it that would not).
          for (const line of result.replaced)
            expect(line.text).toMatch(/pingknock proxy --name (%n|box) %h %p(\s|$)|^\s*proxyjump/i);
          const unmarked = result.text.replaceAll(REPLACED_MARK, '');
          expect(result.text.split(REPLACED_MARK).length - 1).toBe(result.replaced.length);
          expect(
            onlyInserted(text, unmarked, allowedLines(wish)),
            'one insertion of pingknock lines at a line boundary',
          ).toBe(true);
          if (text.includes('\r\n')) expect(result.text.replaceAll('\r\n', '')).not.toMatch(/\n/);
          else expect(result.text).not.toContain('\r');
          expect(editSshConfig(result.text, { alias: ALIAS, ...wish, force: false })).toEqual({ kind: 'unchanged' });
        }),
        { numRuns: 1500 },
      );
    },
  );

  it("with --force, the only other change is the mark in front of replaced lines of the host's own block", () => {
    fc.assert(
      fc.property(configText, request, (text, wish) => {
        const result = editSshConfig(text, { alias: ALIAS, ...wish, force: true });
        if (result.kind !== 'changed') return;
        const unmarked = result.text.replaceAll(REPLACED_MARK, '');
        expect(result.text.split(REPLACED_MARK).length - 1).toBe(result.replaced.length);
        if (unmarked !== text) expect(onlyInserted(text, unmarked, allowedLines(wish))).toBe(true);
        expect(editSshConfig(result.text, { alias: ALIAS, ...wish, force: true })).toEqual({ kind: 'unchanged' });
      }),
      { numRuns: 1500 },
    );
  });

  it('never throws on arbitrary text: it edits, leaves alone or refuses', () => {
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.constantFrom(
            'H',
            'o',
            's',
            't',
            ' ',
            '\t',
            '=',
            '"',
            '#',
            '\n',
            '\r',
            'b',
            'x',
            '*',
            '!',
            'P',
            '\\',
          ),
        }),
        (text) => {
          const result = editSshConfig(text, { alias: ALIAS, force: false });
          expect(['changed', 'unchanged', 'refused']).toContain(result.kind);
          if (result.kind === 'changed') expect(onlyInserted(text, result.text, allowedLines({}))).toBe(true);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it(
    "ssh agrees: after the edit ssh -G gives the alias pingknock's ProxyCommand and the wished values, " +
      'and every other host exactly what it had',
    async () => {
      let edited = 0;
      await fc.assert(
        fc.asyncProperty(configText, request, async (text, wish) => {
          const result = editSshConfig(text, { alias: ALIAS, ...wish });
          if (result.kind === 'refused') {
            expect(result.reason).not.toBe('unparseable');
            return;
          }
          const hosts = result.kind === 'changed' ? [ALIAS, ...OTHER_HOSTS] : [ALIAS];
          const before = await sshG(text, hosts);
          // A generated config that ssh itself rejects says nothing about the edit.
          fc.pre(![...before.values()].some((answer) => answer.startsWith('exit ')));
          const after = result.kind === 'changed' ? await sshG(result.text, hosts) : before;
          const mine = after.get(ALIAS);
          // The older %n form may stay where another block sets it first: it still knocks with ssh.
          expect(pingknockProxyForm(option(mine, 'proxycommand') ?? '', ALIAS), mine).toBeDefined();
          expect(option(mine, 'proxyjump')).toBeUndefined();
          if (wish.hostName !== undefined) expect(option(mine, 'hostname')).toBe(wish.hostName.toLowerCase());
          if (wish.port !== undefined) expect(option(mine, 'port')).toBe(String(wish.port));
          if (wish.user !== undefined) expect(option(mine, 'user')).toBe(wish.user);
          for (const host of OTHER_HOSTS) expect(after.get(host), host).toBe(before.get(host));
          if (result.kind === 'changed') edited += 1;
        }),
        // Each run starts ssh up to 12 times (~35 ms each): 40 runs are ~15 s.
        { numRuns: 40 },
      );
      // The generator must really reach edits, or this property would hold vacuously.
      expect(edited).toBeGreaterThan(20);
    },
    120_000,
  );
});

describe('comments where ssh sees them', () => {
  it('knows a trailing comment on the ProxyCommand line, which ssh keeps and the shell ignores', () => {
    expect(pingknockProxyForm(`${PROXY_COMMAND} # knock first`, 'box')).toBe('current');
    expect(edit(`Host box\n  ${PROXY_LINE} # knock first\n`).kind).toBe('unchanged');
  });

  it('reads `Host #x box` as ssh does: no patterns at all', () => {
    expect(changed('Host #x box\n  User u\n').newBlock).toBe(true);
    expect(changed('Host #x box\n  ProxyJump j\n').newBlock).toBe(true);
  });
});
