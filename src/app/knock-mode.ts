import { PingknockError } from '../core/errors.js';
import { isoDate, type KnockMode } from '../core/rolling.js';
import { knockModeEdit } from '../core/ssh-config/knock-mode.js';
import { readRecord, writeRecord } from '../edge/enroll-record.js';
import { readSnapshot, replaceFile } from '../edge/files.js';
import { info } from './info.js';

export function describeMode(mode: KnockMode): string {
  return mode.kind === 'rolling' ? `one-time knocks through ${isoDate(mode.lastDay)}` : 'static knocks';
}

/**
 * Makes ssh knock ALIAS as the server's rules now expect: `mode` written into its ProxyCommand in
 * `configPath`, and into enroll's record of the lines setup added, so that unenroll still finds
 * them as they are. Before the rules are proven, as the proof's knocked login uses it; a failure
 * after that writes the mode before back.
 */
export async function writeKnockMode(alias: string, configPath: string, mode: KnockMode): Promise<void> {
  const snapshot = await readSnapshot(configPath);
  // latin1 maps each byte to one character and back, as setup reads it.
  const edit = knockModeEdit(snapshot.content?.toString('latin1') ?? '', alias, mode);
  if (edit.kind === 'unchanged') return;
  if (edit.kind === 'refused') {
    throw new PingknockError(
      'io',
      `${configPath} ${edit.message}, so ssh ${alias} cannot be made to knock with ${describeMode(mode)}; ` +
        `run pingknock setup ${alias} first`,
    );
  }
  await replaceFile(snapshot, Buffer.from(edit.text, 'latin1'), 0o600);
  const record = await readRecord(alias);
  const addition = record?.config === configPath ? record.configAddition : null;
  if (record !== undefined && addition !== null) {
    const rewritten = (line: string): string => edit.lines.find(({ before }) => before === line)?.after ?? line;
    await writeRecord(alias, { ...record, configAddition: { ...addition, added: addition.added.map(rewritten) } });
  }
  info(`ssh ${alias} knocks with ${describeMode(mode)} now (${configPath})`);
}

/**
 * Runs `action` (a change of the server's rules) with ssh knocking ALIAS as `to`; should it fail,
 * the server has its previous rules, and the ProxyCommand gets `from` back.
 */
export async function withKnockMode<T>(
  alias: string,
  configPath: string,
  modes: { readonly from: KnockMode; readonly to: KnockMode },
  action: () => Promise<T>,
): Promise<T> {
  await writeKnockMode(alias, configPath, modes.to);
  try {
    return await action();
  } catch (error) {
    await writeKnockMode(alias, configPath, modes.from).catch((undo: unknown) =>
      info(`could not make ssh ${alias} knock as before (${(undo as Error).message})`),
    );
    throw error;
  }
}
