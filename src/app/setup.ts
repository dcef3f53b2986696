import { randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { PingknockError } from '../core/errors.js';
import { isoDate, slotAt, STATIC_MODE, type KnockMode } from '../core/rolling.js';
import { SECRET_RANDOM_BYTES, secretFromRandomBytes, type Secret } from '../core/secret.js';
import { jumpNote, serverInstructions, shellWord } from '../core/setup-instructions.js';
import type { SshConfigAddition } from '../core/ssh-config/add.js';
import type { SourceLine } from '../core/ssh-config/model.js';
import { exists, readSnapshot, replaceFile, writeNewFile } from '../edge/files.js';
import { loadSecret, readSecretFile, secretPathFor } from '../edge/secret-source.js';
import { confirm } from '../edge/prompt.js';
import { info } from './info.js';
import { checkWithSsh, effectiveOf, jumpRouteOf } from './setup-check.js';
import { loadSshConfigModules } from './ssh-config-modules.js';

/** ssh refuses a user config that others may write; a new one is private like the rest of ~/.ssh. */
const NEW_CONFIG_MODE = 0o600;

/** What setup is asked to do: its command line, as given. */
export interface SetupRequest {
  readonly alias: string;
  readonly hostname?: string | undefined;
  readonly port?: string | undefined;
  readonly user?: string | undefined;
  readonly config?: string | undefined;
  readonly secretFile?: string | undefined;
  /** How the host knocks; undefined keeps what the config says (static for a new line). */
  readonly mode?: KnockMode | undefined;
  /**
   * Whether ssh takes the connected socket from the proxy (ProxyUseFdpass); undefined keeps what
   * the config says, and a new line does where the local ssh can.
   */
  readonly fdpass?: boolean | undefined;
  readonly yes: boolean;
  readonly force: boolean;
}

export interface SetupOutcome {
  readonly alias: string;
  /** The config edited (or found set up already), absolute. */
  readonly configPath: string;
  /** false: the user said no at the prompt, and nothing was written. */
  readonly written: boolean;
  /** The lines added now; undefined when none were. */
  readonly addition: SshConfigAddition | undefined;
  readonly secret: Secret;
  /** Where ssh will connect for the alias (ssh -G when it could be asked). */
  readonly host: string;
  readonly port: number;
  /** How ssh knocks the alias now, as its ProxyCommand says. */
  readonly mode: KnockMode;
  /** What is left to do on the server, for stdout: it holds the secret's pattern. */
  readonly instructions: string;
}

/** The whole of `pingknock setup`, for its command and for `pingknock enroll`. */
export async function runSetup(argv: SetupRequest): Promise<SetupOutcome> {
  const { additionOf, checkedEditRequest, editSshConfig, readPingknockProxy, sshPassesFds, sshVersion } =
    await loadSshConfigModules();
  // Asked once, here: the line written decides how every later connection is made.
  const version = await sshVersion();
  const passesFds = version !== undefined && sshPassesFds(version);
  if (argv.fdpass === true && !passesFds) {
    throw new PingknockError(
      'usage',
      `--fdpass needs an ssh that takes a socket from its ProxyCommand (OpenSSH 6.5 or later); ` +
        `this one says ${version === undefined ? 'nothing to ssh -V' : `"${version}"`}`,
    );
  }
  const request = checkedEditRequest({
    alias: argv.alias,
    hostName: argv.hostname,
    port: argv.port,
    user: argv.user,
    mode: argv.mode,
    fdpass: argv.fdpass,
    sshPassesFds: passesFds,
    force: argv.force,
  });
  const today = slotAt(Date.now() / 1000).day;
  if (request.mode?.kind === 'rolling' && request.mode.lastDay < today) {
    throw new PingknockError(
      'usage',
      `--rolling-until ${isoDate(request.mode.lastDay)} is past (today is ${isoDate(today)} UTC): ` +
        "every knock would fail; give the last day the server's rules hold patterns for",
    );
  }
  const { alias } = request;
  const defaultConfig = join(homedir(), '.ssh', 'config');
  const configPath = resolve(argv.config ?? defaultConfig);
  const secretPath = secretPathFor(alias);
  // The secret is checked before anything is written and made only once the config edit is sure.
  const plannedSecret = await planSecret(secretPath, argv.secretFile);

  const snapshot = await readSnapshot(configPath);
  const shownAs = snapshot.target === configPath ? configPath : `${configPath} (-> ${snapshot.target})`;
  // latin1 maps each byte to one character and back: bytes that are not UTF-8 survive untouched.
  const original = snapshot.content?.toString('latin1') ?? '';
  // A host reached through ProxyJump is knocked from the jump host, which its ssh reaches with this
  // config; ssh -G tells of a ProxyJump from an include or a Match block too.
  const now = await effectiveOf(alias, original, configPath);
  const inheritedJump = jumpRouteOf(now);
  const edit = editSshConfig(original, {
    ...request,
    jumpConfig: configPath === defaultConfig ? undefined : configPath,
    inheritedJump,
  });
  if (edit.kind === 'refused') {
    throw new PingknockError(edit.reason === 'unparseable' ? 'io' : 'usage', `${shownAs}: ${edit.message}`);
  }
  const text = edit.kind === 'changed' ? edit.text : original;
  const explained = edit.kind === 'changed' && edit.replaced.length + edit.overridden.length > 0;
  const proxySeen =
    edit.kind === 'changed' &&
    [...edit.replaced, ...edit.overridden].some((line) => /^\s*proxy(?:jump|command)\b/i.test(line.text));
  const effective = await checkWithSsh(
    alias,
    request,
    {
      after: text,
      changed: edit.kind === 'changed',
      explained,
      proxySeen,
      inheritsJump: inheritedJump !== undefined,
    },
    configPath,
    now,
  );

  if (edit.kind === 'changed') {
    const shown = edit.added
      .filter((line) => line.trim() !== '')
      .map((line) => line.replace(/^\t+/, (tabs) => '    '.repeat(tabs.length)));
    const interactive =
      !argv.yes && argv.secretFile !== '-' && process.stdin.isTTY === true && process.stderr.isTTY === true;
    if (interactive) {
      const what = edit.newBlock ? 'a new Host block' : `lines in the Host ${alias} block`;
      info(`${what} for ${shownAs}, at line ${edit.addedAt}:`);
      for (const line of shown) info(`  ${line}`);
      for (const line of edit.replaced) info(`  replacing line ${line.number}: ${line.text.trim()}`);
      if (!(await confirm('write them?'))) {
        info(`left ${shownAs} unchanged`);
        return {
          alias,
          configPath,
          written: false,
          addition: undefined,
          secret: plannedSecret.secret,
          host: request.hostName ?? alias,
          port: request.port ?? 22,
          mode: request.mode ?? STATIC_MODE,
          instructions: '',
        };
      }
    }
    await createSecretIfPlanned(secretPath, plannedSecret);
    const { backupCreated } = await replaceFile(snapshot, Buffer.from(edit.text, 'latin1'), NEW_CONFIG_MODE);
    info(`added to ${shownAs} at line ${edit.addedAt}:`);
    for (const line of shown) info(`  ${line}`);
    reportReplaced(edit.replaced, edit.overridden);
    if (backupCreated !== undefined) info(`the original is kept in ${backupCreated}`);
  } else {
    await createSecretIfPlanned(secretPath, plannedSecret);
    info(`${shownAs} already sends ssh ${alias} through pingknock; nothing changed`);
  }

  const host = effective?.get('hostname') ?? request.hostName ?? alias;
  const port = Number(effective?.get('port') ?? request.port ?? 22);
  const proxy = effective?.get('proxycommand');
  const mode =
    (proxy === undefined ? undefined : readPingknockProxy(proxy, alias)?.mode) ?? request.mode ?? STATIC_MODE;
  const jump = proxy === undefined ? undefined : readPingknockProxy(proxy, alias)?.jump;
  if (jump !== undefined) info(jumpNote(alias, jump, mode));
  return {
    alias,
    configPath,
    written: true,
    addition: edit.kind === 'changed' ? additionOf(edit) : undefined,
    secret: plannedSecret.secret,
    host,
    port,
    mode,
    instructions: serverInstructions({
      alias,
      secretPath,
      host,
      port,
      mode,
      today,
      configArgs: configPath === defaultConfig ? '' : ` -F ${shellWord(configPath)}`,
      home: homedir(),
      jump,
    }),
  };
}

interface PlannedSecret {
  readonly secret: Secret;
  /** What to say once the secret file is written; undefined when the one in place is kept. */
  readonly writeMessage: string | undefined;
}

/** The secret for the alias: the one already there, the one given, or a new one. Never two different ones. */
async function planSecret(secretPath: string, given: string | undefined): Promise<PlannedSecret> {
  const present = await exists(secretPath, 'secret');
  const existing = present ? readSecretFile(secretPath) : undefined;
  if (given === undefined) {
    if (existing !== undefined) info(`using the existing secret in ${secretPath}`);
    return existing !== undefined
      ? { secret: existing, writeMessage: undefined }
      : {
          secret: secretFromRandomBytes(randomBytes(SECRET_RANDOM_BYTES)),
          writeMessage: `wrote a new secret to ${secretPath}`,
        };
  }
  const secret = await loadSecret({ secretFile: given, env: process.env, stdin: () => process.stdin });
  const from = given === '-' ? 'standard input' : given;
  if (existing === undefined) return { secret, writeMessage: `installed the secret from ${from} as ${secretPath}` };
  if (existing !== secret) {
    throw new PingknockError(
      'secret',
      `${secretPath} already holds a different secret; not overwriting it (remove it first if you mean to replace it)`,
    );
  }
  info(`kept ${secretPath}: it already holds the secret from ${from}`);
  return { secret, writeMessage: undefined };
}

async function createSecretIfPlanned(secretPath: string, planned: PlannedSecret): Promise<void> {
  if (planned.writeMessage === undefined) return;
  await writeNewFile(secretPath, `${planned.secret}\n`, 0o600);
  info(planned.writeMessage);
}

function reportReplaced(replaced: readonly SourceLine[], overridden: readonly SourceLine[]): void {
  for (const line of replaced) info(`replaced line ${line.number} (now commented out): ${line.text.trim()}`);
  for (const line of overridden)
    info(`overrides line ${line.number} for this host only (other hosts keep it): ${line.text.trim()}`);
}
