import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { STATIC_MODE } from '../../src/core/rolling.js';
import { proxyCommandFor } from '../../src/core/ssh-config/proxy-command.js';
import { findCommand } from '../../src/edge/exec.js';
import { pingknock } from '../support/cli.js';

/**
 * Whether setup writes fd passing (ProxyUseFdpass yes, --fdpass) is decided from `ssh -V`, once:
 * an ssh that says it is OpenSSH before 6.5 (the real one answers everything else, ssh -G
 * included) gets the relay, and --fdpass is refused for it; --no-fdpass turns it off.
 */

const RELAYING = `ProxyCommand ${proxyCommandFor('box')}`;
const PASSING = `ProxyCommand ${proxyCommandFor('box', STATIC_MODE, { fdpass: true })}`;

let dir: string;
let home: string;
let config: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pingknock-setup-fdpass-'));
  home = join(dir, 'home');
  mkdirSync(home);
  config = join(dir, 'config');
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A folder whose `ssh` says it is OpenSSH 6.4 to `-V` and is the real ssh for everything else. */
function oldSsh(): string {
  const real = findCommand('ssh');
  if (real === undefined) throw new Error('these tests need ssh (./install.sh --lab)');
  const bin = join(dir, 'old-ssh');
  mkdirSync(bin);
  writeFileSync(
    join(bin, 'ssh'),
    `#!/bin/sh\nif [ "$1" = -V ]; then echo 'OpenSSH_6.4p1, OpenSSL 1.0.1e-fips 11 Feb 2013' >&2; exit 0; fi\n` +
      `exec '${real}' "$@"\n`,
  );
  chmodSync(join(bin, 'ssh'), 0o755);
  return bin;
}

const setup = (args: readonly string[], path?: string) =>
  pingknock(['setup', 'box', '--hostname', 'box.example.org', '--config', config, '--yes', ...args], {
    home,
    ...(path === undefined ? {} : { env: { PATH: `${path}:${process.env.PATH ?? ''}` } }),
  });

describe('fd passing in the lines setup writes', () => {
  it('is written for the OpenSSH here, and not for one before 6.5', () => {
    const result = setup([]);
    expect(result.status, result.stderr).toBe(0);
    expect(readFileSync(config, 'utf8')).toBe(
      `Host box\n    HostName box.example.org\n    ${PASSING}\n    ProxyUseFdpass yes\n`,
    );
    rmSync(config);
    const old = setup([], oldSsh());
    expect(old.status, old.stderr).toBe(0);
    expect(readFileSync(config, 'utf8')).toBe(`Host box\n    HostName box.example.org\n    ${RELAYING}\n`);
  });

  it('--fdpass is refused for an ssh that cannot take the socket, writing nothing', () => {
    const result = setup(['--fdpass'], oldSsh());
    expect(result.status).toBe(ExitCode.usage);
    expect(result.stderr).toMatch(
      /^pingknock: --fdpass needs an ssh that takes a socket from its ProxyCommand .*OpenSSH_6\.4p1/,
    );
    expect(() => readFileSync(config)).toThrow();
  });

  it('--no-fdpass turns it off, keeping the lines it replaced; --fdpass turns it on again', () => {
    expect(setup([]).status).toBe(0);
    const off = setup(['--no-fdpass']);
    expect(off.status, off.stderr).toBe(0);
    expect(readFileSync(config, 'utf8')).toBe(
      `Host box\n    HostName box.example.org\n    # replaced by pingknock setup: ${PASSING}\n` +
        `    # replaced by pingknock setup: ProxyUseFdpass yes\n    ${RELAYING}\n`,
    );
    // Without either, the line in place keeps its way.
    expect(setup([]).stderr).toMatch(/nothing changed/);
    const on = setup(['--fdpass']);
    expect(on.status, on.stderr).toBe(0);
    expect(readFileSync(config, 'utf8')).toMatch(
      new RegExp(`# replaced by pingknock setup: ${RELAYING}\n {4}${PASSING}\n {4}ProxyUseFdpass yes\n$`),
    );
  });
});
