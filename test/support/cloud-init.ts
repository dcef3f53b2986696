import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { run, runChecked, type RunResult } from '../../src/edge/exec.js';
import type { Lab } from '../../src/lab/lab.js';

/** cloud-init's own schema check, and a snippet applied by hand to a lab server. */

const UNPACKED = join(import.meta.dirname, '..', '..', '.test-cloud-init');
const MODULES = join(UNPACKED, 'usr', 'lib', 'python3', 'dist-packages');
/** The system's python, which has the modules cloud-init imports (not a pyenv's). */
const SYSTEM_PYTHON = '/usr/bin/python3';

/** `cloud-init schema --config-file FILE`, run from the package install.sh --lab unpacks. */
export function cloudInitSchema(file: string): Promise<RunResult> {
  if (!existsSync(join(MODULES, 'cloudinit', 'cmd', 'main.py'))) {
    throw new Error(`cloud-init is not unpacked in ${UNPACKED}: run ./install.sh --lab`);
  }
  return run(SYSTEM_PYTHON, ['-m', 'cloudinit.cmd.main', 'schema', '--config-file', file], {
    env: { ...process.env, PYTHONPATH: MODULES },
    timeoutMs: 30_000,
  });
}

interface WriteFile {
  readonly path: string;
  readonly content: string;
  readonly permissions?: string;
  readonly encoding?: string;
}

interface CloudConfig {
  readonly write_files: readonly WriteFile[];
  readonly runcmd: readonly (readonly string[])[];
}

/** The snippet as YAML reads it. */
export function parseCloudConfig(snippet: string): CloudConfig {
  const json = runChecked(
    SYSTEM_PYTHON,
    ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'],
    snippet,
  );
  return JSON.parse(json) as CloudConfig;
}

/**
 * Does by hand what cloud-init would on the lab's server: writes each file (under `root`, as the
 * lab's servers share the host's /var/lib), then runs each command there, its paths to the
 * files taken to their copies, and `systemctl` a stand-in that writes down what it was asked.
 * Returns what each command did, and what systemctl was asked.
 */
export async function applyByHand(
  lab: Lab,
  snippet: string,
): Promise<{ readonly commands: RunResult[]; readonly systemctl: string }> {
  const config = parseCloudConfig(snippet);
  const root = join(lab.dir, 'cloud-init-root');
  const copies = new Map<string, string>();
  for (const file of config.write_files) {
    const copy = join(root, file.path);
    mkdirSync(dirname(copy), { recursive: true, mode: 0o755 });
    writeFileSync(copy, file.encoding === 'b64' ? Buffer.from(file.content, 'base64') : file.content);
    chmodSync(copy, Number.parseInt(file.permissions ?? '0644', 8));
    copies.set(file.path, copy);
  }
  const stubs = join(lab.dir, 'stubs');
  const asked = join(lab.dir, 'systemctl-asked');
  mkdirSync(stubs, { recursive: true });
  writeFileSync(join(stubs, 'systemctl'), `#!/bin/sh\necho "$*" >>${asked}\n`, { mode: 0o755 });
  const env = { ...lab.env, PATH: `${stubs}:/usr/sbin:/usr/bin:/sbin:/bin` };
  const commands: RunResult[] = [];
  for (const [file, ...args] of config.runcmd) {
    const result = await lab.onServer(
      file as string,
      args.map((arg) => copies.get(arg) ?? arg),
      { env, timeoutMs: 60_000 },
    );
    commands.push(result);
  }
  return { commands, systemctl: existsSync(asked) ? runChecked('cat', [asked]) : '' };
}
