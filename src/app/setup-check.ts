import { PingknockError } from '../core/errors.js';
import type { SshConfigEditRequest } from '../core/ssh-config/add-plan.js';
import type { EffectiveSshConfig, SshConfigAnswer } from '../edge/ssh.js';
import { info } from './info.js';
import { loadSshConfigModules } from './ssh-config-modules.js';

/**
 * The pure edit knows this file; ssh also knows the included files and evaluates Match. Both
 * the config as it is (`now`) and as it would be are shown to `ssh -G`, and nothing is written
 * unless ssh, too, would then use pingknock's ProxyCommand and the requested values for the alias.
 */
export interface PlannedChange {
  readonly after: string;
  readonly changed: boolean;
  /** The edit already names the lines it replaces or overrides. */
  readonly explained: boolean;
  /** Among them a ProxyCommand or ProxyJump: one of this file, which the edit replaces knowingly. */
  readonly proxySeen: boolean;
  /**
   * The edit was planned with the ProxyJump ssh takes today from an include or a Match block: its
   * line knocks from that jump host, and ssh -G's check after it says whether the line comes first.
   */
  readonly inheritsJump: boolean;
}

/** How ssh -G reads `alias` from this text of the config (written nowhere yet). */
export async function effectiveOf(alias: string, text: string, configPath: string): Promise<SshConfigAnswer> {
  const { effectiveSshConfig } = await loadSshConfigModules();
  return effectiveSshConfig(alias, { kind: 'text', text: Buffer.from(text, 'latin1'), shownAs: configPath });
}

/**
 * The ProxyJump route ssh takes for the alias, when no ProxyCommand comes first: it may come from
 * an included file or a Match block, which the edit of this file cannot see.
 */
export function jumpRouteOf(now: SshConfigAnswer): string | undefined {
  if (now.kind !== 'ok' || now.config.has('proxycommand')) return undefined;
  const route = now.config.get('proxyjump');
  return route === undefined || route.toLowerCase() === 'none' ? undefined : route;
}

export async function checkWithSsh(
  alias: string,
  request: SshConfigEditRequest,
  plan: PlannedChange,
  configPath: string,
  now: SshConfigAnswer,
): Promise<EffectiveSshConfig | undefined> {
  const { after, changed } = plan;
  const { effectiveMismatches } = await loadSshConfigModules();
  if (now.kind === 'unavailable') {
    info(`${now.reason}: the effective config was not checked with ssh -G`);
    return undefined;
  }
  if (now.kind === 'failed') {
    throw new PingknockError('io', `ssh cannot read ${configPath} as it is: ${now.message}; fix that first`);
  }
  const other = changed
    ? effectiveMismatches(now.config, alias).filter((mismatch) => mismatch.startsWith('Proxy'))
    : [];
  if (other.length > 0 && !request.force && !plan.proxySeen && !plan.inheritsJump) {
    throw new PingknockError(
      'usage',
      `ssh -G ${alias} already uses ${other.join(' and ')}, set by an included file or a Match block; ` +
        "pass --force to put pingknock's ProxyCommand in front of it",
    );
  }
  const result = changed ? await effectiveOf(alias, after, configPath) : now;
  if (result.kind !== 'ok') {
    throw new PingknockError(
      'io',
      `ssh cannot read ${configPath} after the edit, so nothing was written: ` +
        (result.kind === 'failed' ? result.message : result.reason),
    );
  }
  const mismatches = effectiveMismatches(result.config, alias, request);
  if (mismatches.length > 0) {
    throw new PingknockError(
      'usage',
      `ssh -G ${alias} would ${changed ? 'still ' : ''}use ${mismatches.join(', ')}: ` +
        'an earlier line, an included file or a Match block comes first ' +
        `(ssh takes the first value it finds)${changed ? '; nothing was written' : ''}. ` +
        `Move the ${alias} entry above it, or change that line`,
    );
  }
  if (other.length > 0 && !plan.explained)
    info(`ssh ${alias} used ${other.join(' and ')} until now (ssh -G); pingknock's ProxyCommand takes its place`);
  return result.config;
}
