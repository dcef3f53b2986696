import { spawnSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { launcherScript } from '../../src/core/launcher.js';
import { ROOT } from '../support/cli.js';

describe('launcherScript', () => {
  it("names node's own path on the first line and requires the entry", () => {
    expect(launcherScript('/usr/bin/node', '../../bin/pingknock.cjs').split('\n')).toEqual([
      '#!/usr/bin/node',
      "'use strict';",
      '// Written by the build (src/build/write-launcher.ts) for the node that ran it.',
      'require("../../bin/pingknock.cjs");',
      '',
    ]);
    expect(launcherScript('/home/me/.nvm/versions/node/v20.19.0/bin/node', 'x.cjs')).toMatch(
      /^#!\/home\/me\/\.nvm\/versions\/node\/v20\.19\.0\/bin\/node\n/,
    );
  });

  it('keeps /usr/bin/env for a path a shebang line cannot carry', () => {
    for (const path of [
      '/opt/node js/bin/node',
      'node',
      'bin/node',
      `/${'n'.repeat(250)}`,
      '/usr/bin/node\n/evil',
      "/usr/bin/node'",
    ]) {
      expect(launcherScript(path, 'x.cjs').split('\n')[0], path).toBe('#!/usr/bin/env node');
    }
  });

  it('quotes the entry as a JavaScript string', () => {
    expect(launcherScript('/usr/bin/node', `a'b"c\\d`)).toContain(`require("a'b\\"c\\\\d");`);
  });
});

describe('the built launcher, dist/bin/pingknock', () => {
  const launcher = join(ROOT, 'dist', 'bin', 'pingknock');

  it('starts the node that built it, and runs the CLI', () => {
    expect(readFileSync(launcher, 'utf8').split('\n')[0]).toBe(`#!${process.execPath}`);
    expect(realpathSync(launcher)).toBe(join(ROOT, 'dist', 'bin', 'pingknock.cjs'));
    const result = spawnSync(launcher, ['--version'], { encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe(
      (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version,
    );
  });
});
