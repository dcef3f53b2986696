import { describe, expect, it } from 'vitest';
import {
  checkedEditRequest,
  planAddition,
  type AdditionPlan,
  type SshConfigEditRequest,
} from '../../src/core/ssh-config/add-plan.js';
import { readModel, type Directive } from '../../src/core/ssh-config/model.js';
import { proxyCommandFor } from '../../src/core/ssh-config/proxy-command.js';

/**
 * setup's decision, before any text is written: which lines, into which block, and which lines
 * of the config stand in the way. How the lines then land in the text is ssh-config-edit.test.ts.
 */

const PROXY_LINE = `ProxyCommand ${proxyCommandFor('box')}`;
const LEGACY = 'ProxyCommand pingknock proxy --name %n %h %p';

function plan(text: string, request: Partial<SshConfigEditRequest> = {}): AdditionPlan {
  return planAddition(readModel(text), checkedEditRequest({ alias: 'box', force: false, ...request }));
}

function edit(text: string, request: Partial<SshConfigEditRequest> = {}): Extract<AdditionPlan, { kind: 'edit' }> {
  const result = plan(text, request);
  if (result.kind !== 'edit') throw new Error(`expected an edit, got ${JSON.stringify(result)}`);
  return result;
}

function refusal(
  text: string,
  request: Partial<SshConfigEditRequest> = {},
): Extract<AdditionPlan, { kind: 'refused' }> {
  const result = plan(text, request);
  if (result.kind !== 'refused') throw new Error(`expected a refusal, got ${JSON.stringify(result)}`);
  return result;
}

/** 0-based line indices, the way the model numbers lines. */
const lines = (directives: readonly Directive[]): number[] => directives.map((directive) => directive.line);

describe("the plan of setup's edit", () => {
  it('adds every requested line, in a new block, to an empty config', () => {
    const result = edit('', { hostName: 'h.example.org', port: 2222, user: 'deploy' });
    expect(result.target).toBeUndefined();
    expect(result.add).toEqual(['HostName h.example.org', 'Port 2222', 'User deploy', PROXY_LINE]);
    expect(result.comment).toEqual([]);
    expect(result.overridden).toEqual([]);
  });

  it("adds to the alias's own block only what it lacks", () => {
    const result = edit('Host web\n  User www\nHost box\n  HostName H.example.org\n', { hostName: 'h.example.org' });
    expect(result.target?.headerLine).toBe(2);
    expect(result.add).toEqual([PROXY_LINE]);
  });

  it('is unchanged when the own block already has it all', () => {
    expect(plan(`Host box\n  Port 2222\n  ${PROXY_LINE}\n`, { port: 2222 })).toEqual({ kind: 'unchanged' });
  });

  it('refuses a differing line of the own block as a conflict, and comments it out with force', () => {
    const original = 'Host box\n  User root\n  Port 22\n';
    const refused = refusal(original, { user: 'deploy' });
    expect(refused.reason).toBe('conflict');
    expect(lines(refused.directives)).toEqual([1]);
    const forced = edit(original, { user: 'deploy', force: true });
    expect(lines(forced.comment)).toEqual([1]);
    expect(forced.add).toEqual(['User deploy', PROXY_LINE]);
  });

  it("replaces an earlier pingknock's %n line in the own block without force", () => {
    const result = edit(`Host box\n  ${LEGACY}\n`);
    expect(lines(result.comment)).toEqual([1]);
    expect(result.add).toEqual([PROXY_LINE]);
  });

  it('refuses as shadowed a global line that ssh reads first for the alias', () => {
    const refused = refusal('ProxyJump bastion\nHost box\n  User u\n');
    expect(refused.reason).toBe('shadowed');
    expect(lines(refused.directives)).toEqual([0]);
  });

  it("names a later block's proxy as overridden, which only force accepts", () => {
    const original = 'Host *\n  ProxyCommand nc %h %p\n';
    expect(refusal(original).reason).toBe('conflict');
    const forced = edit(original, { force: true });
    expect(forced.target).toBeUndefined();
    expect(lines(forced.overridden)).toEqual([1]);
    expect(forced.add).toEqual([PROXY_LINE]);
    expect(forced.comment).toEqual([]);
  });

  it("knocks from a later block's ProxyJump host, overriding it for this host without --force", () => {
    const result = edit('Host *\n  ProxyJump ops@bastion:2222\n', { jumpConfig: '/home/u/cfg' });
    expect(lines(result.overridden)).toEqual([1]);
    expect(result.add).toEqual([
      'ProxyCommand pingknock proxy --name box --jump ops@bastion:2222 --config /home/u/cfg %h %p',
    ]);
  });

  it("replaces the host's own ProxyJump by a line that knocks from it, without --force, and no fd passing", () => {
    const result = edit('Host box\n  ProxyJump a,b\n', { sshPassesFds: true, fdpass: undefined });
    expect(lines(result.comment)).toEqual([1]);
    expect(result.add).toEqual(['ProxyCommand pingknock proxy --name box --jump a,b %h %p']);
  });

  it('keeps the jump host of its own line in place, and refuses a ProxyJump it cannot write', () => {
    const jumped =
      'Host box\n  # replaced by pingknock setup: ProxyJump b\n' +
      '  ProxyCommand pingknock proxy --name box --jump b %h %p\n';
    expect(plan(jumped)).toEqual({ kind: 'unchanged' });
    expect(edit(jumped, { mode: { kind: 'rolling', lastDay: 20_000 } }).add).toEqual([
      'ProxyCommand pingknock proxy --name box --jump b --rolling-until 2024-10-04 %h %p',
    ]);
    expect(() => plan('Host box\n  ProxyJump b%h\n')).toThrow(/is not a ProxyJump route/);
    expect(() => plan('Host box\n  ProxyJump b\n', { jumpConfig: '/my configs/cfg' })).toThrow(
      /cannot be written into a ProxyCommand/,
    );
  });

  it("leaves an earlier pingknock's line in a block other hosts use alone", () => {
    expect(plan(`Host *\n  ${LEGACY}\n`)).toEqual({ kind: 'unchanged' });
  });

  it('adds a value a later wildcard block gives differently, without calling it overridden', () => {
    const result = edit('Host *\n  User root\n', { user: 'deploy' });
    expect(result.add).toEqual(['User deploy', PROXY_LINE]);
    expect(result.overridden).toEqual([]);
  });

  it('lists the lines to comment out in file order, whatever the order of the groups', () => {
    const result = edit('Host box\n  User root\n  HostName old\n', { hostName: 'new', user: 'deploy', force: true });
    expect(lines(result.comment)).toEqual([1, 2]);
  });
});
