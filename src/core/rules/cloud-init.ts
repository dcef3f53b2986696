/**
 * A server born protected: the rules as a `#cloud-config` snippet (write_files and runcmd) that
 * cloud-init runs on a new machine's first boot. Its files are the scripts `rules --apply` and
 * enroll run: the apply with its saved state (and rollback, when asked), the confirm, the
 * persistence. The Ansible role in ansible/ pushes these same files to running servers.
 */

import type { Family } from '../layout.js';
import { applyScript, confirmScript, rollbackNowScript } from './apply.js';
import { describeKeys, manualKnocks, rollingByHand } from './describe.js';
import type { EnrollBackend } from './detect.js';
import type { KnockRuleModel } from './model.js';
import { DEFAULT_PERSIST_DIR, persistScript, type PersistRequest } from './persist.js';
import type { Backend } from './render.js';
import type { UfwFiles } from './ufw.js';

/** Where the snippet puts its scripts: root's alone (0700), as they hold the knock's patterns. */
export const CLOUD_INIT_DIR = '/var/lib/pingknock';

export const KIT_FILES = {
  apply: 'apply.sh',
  persist: 'persist.sh',
  confirm: 'confirm.sh',
  rollback: 'rollback.sh',
} as const;

export interface CloudInitRequest {
  readonly backend: Backend;
  readonly model: KnockRuleModel;
  /** The rendered rules (for ufw: only shown, the files are what is applied). */
  readonly rules: string;
  /** For ufw: the new machine's before(6).rules, each with pingknock's block in place. */
  readonly ufwFiles: UfwFiles;
  readonly tool: string | undefined;
  readonly stateDir: string;
  /**
   * 0: runcmd applies the rules and keeps them across reboots at once. Else the rules go back
   * after that many seconds unless confirm.sh (which also keeps them) runs first.
   */
  readonly rollbackSeconds: number;
}

/** The snippet: `#cloud-config`, what it does as comments, write_files and runcmd. */
export function renderCloudInit(request: CloudInitRequest): string {
  const { backend, model, stateDir, rollbackSeconds } = request;
  const families = model.families;
  const persist = persistScript({ ...persistTarget(backend, request.tool, families), rules: request.rules });
  const apply = applyScript({
    backend,
    rules: request.rules,
    ufwFiles: request.ufwFiles,
    tool: request.tool,
    families,
    stateDir,
    rollbackSeconds,
  });
  const path = (file: string): string => `${CLOUD_INIT_DIR}/${file}`;
  const files: [string, string][] =
    rollbackSeconds === 0
      ? [
          [KIT_FILES.apply, apply],
          [KIT_FILES.persist, persist],
        ]
      : [
          [KIT_FILES.apply, apply],
          // The confirm keeps the rules across reboots too: nothing of them outlives a rollback.
          [KIT_FILES.confirm, confirmScript(stateDir, persist)],
          [KIT_FILES.rollback, rollbackNowScript(stateDir)],
        ];
  const commands: string[][] = [['sh', path(KIT_FILES.apply)]];
  if (rollbackSeconds === 0) {
    commands.push(['sh', path(KIT_FILES.persist)]);
    // Debian and Ubuntu ship the service that loads nftables.conf at boot disabled.
    if (backend === 'nftables') commands.push(['systemctl', 'enable', 'nftables.service']);
  }
  return [
    '#cloud-config',
    ...header(request),
    'write_files:',
    ...files.flatMap(([file, content]) => fileEntry(path(file), content)),
    'runcmd:',
    ...commands.map((command) => `  - [${command.join(', ')}]`),
    '',
  ].join('\n');
}

/** How the backend's rules are kept across reboots: ip6tables is the iptables way, for IPv6 alone. */
function persistTarget(backend: Backend, tool: string | undefined, families: readonly Family[]): PersistRequest {
  const kind: EnrollBackend = backend === 'ip6tables' ? 'iptables' : backend;
  return { backend: kind, persistDir: DEFAULT_PERSIST_DIR, tool, families };
}

function header(request: CloudInitRequest): string[] {
  const { backend, model, rollbackSeconds } = request;
  const path = (file: string): string => `${CLOUD_INIT_DIR}/${file}`;
  const lines = [
    `pingknock: TCP port ${model.port} of this machine opens only to hosts that knocked with a ping, ` +
      `for ${model.windowSeconds} s`,
    `(${backend}, ${model.families.join(' and ')}; keys: ${describeKeys(model)}).`,
    `On the first boot, write_files puts the scripts in ${CLOUD_INIT_DIR} (root's alone: they hold`,
    'the knock), and runcmd applies the rules as `pingknock rules --apply` does.',
    ...(rollbackSeconds === 0
      ? [`${path(KIT_FILES.persist)} keeps them across reboots: ${persistNote(backend)}.`]
      : [
          `They go back by themselves after ${rollbackSeconds} s unless, once a knocked login works, you run`,
          `  sudo sh ${path(KIT_FILES.confirm)}    (keeps them, also across reboots)`,
          `or, to take them back at once: sudo sh ${path(KIT_FILES.rollback)}`,
          `Across reboots: ${persistNote(backend)}.`,
        ]),
    "User data can be read through the machine's metadata service: give each machine its own secret.",
    'Knock by hand, without pingknock:',
  ];
  return [...lines.map((line) => `# ${line}`), ...manualKnocks(model, model.families), ...rollingByHand(model)];
}

function persistNote(backend: Backend): string {
  switch (backend) {
    case 'nftables':
      return '/etc/pingknock.nft, included from /etc/nftables.conf';
    case 'iptables':
    case 'ip6tables':
      return 'saved for netfilter-persistent, when installed: add iptables-persistent to packages';
    case 'ufw':
      return "ufw's before.rules";
  }
}

/**
 * One write_files entry. Plain text goes in a literal block, readable in the snippet; text a YAML
 * block would not keep byte for byte (a carriage return, a control or non-ASCII character) in
 * base64, which cloud-init decodes.
 */
function fileEntry(path: string, content: string): string[] {
  const entry = [`  - path: ${path}`, '    owner: root:root', "    permissions: '0700'"];
  if (!/^[\t\n\x20-\x7e]*$/.test(content)) {
    return [...entry, '    encoding: b64', `    content: ${Buffer.from(content, 'utf8').toString('base64')}`];
  }
  // The indentation is given, so a first line that starts with blanks is kept as it is.
  const chomping = content.endsWith('\n\n') ? '+' : content.endsWith('\n') ? '' : '-';
  const body = (content.endsWith('\n') ? content.slice(0, -1) : content)
    .split('\n')
    .map((line) => (line === '' ? '' : `      ${line}`));
  return [...entry, `    content: |2${chomping}`, ...body];
}
