/** pingknock's ProxyCommand: the one setup writes, how to recognise it, and whether ssh uses it. */

/**
 * The ProxyCommand setup writes names the alias itself: only OpenSSH expands `%n`, and paramiko
 * (so Fabric, and Ansible's paramiko connection) passes it on literally.
 */
export function proxyCommandFor(alias: string): string {
  return `pingknock proxy --name ${alias} %h %p`;
}

/**
 * Which of pingknock's ProxyCommands a value is (the program given by any path): `current` names
 * the alias, `legacy` is the `--name %n` that earlier setups wrote, which works with OpenSSH only.
 */
export function pingknockProxyForm(value: string, alias: string): 'current' | 'legacy' | undefined {
  // ssh keeps the rest of the line, an inline `# comment` too; the shell that runs it ignores it.
  const words = value.trim().split(/\s+/);
  const comment = words.findIndex((word) => word.startsWith('#'));
  const [program, ...rest] = comment === -1 ? words : words.slice(0, comment);
  if (program === undefined || !(program === 'pingknock' || program.endsWith('/pingknock'))) return undefined;
  const matches = (name: string): boolean => rest.join(' ') === `proxy --name ${name} %h %p`;
  return matches(alias) ? 'current' : matches('%n') ? 'legacy' : undefined;
}

export interface EffectiveWish {
  readonly hostName?: string | undefined;
  readonly port?: number | undefined;
  readonly user?: string | undefined;
}

/**
 * What in ssh's effective options for the alias (`ssh -G`, option names in lower case) differs
 * from pingknock's ProxyCommand and the requested values; empty when all is as asked.
 */
export function effectiveMismatches(
  effective: ReadonlyMap<string, string>,
  alias: string,
  wish: EffectiveWish = {},
): string[] {
  const mismatches: string[] = [];
  const jump = effective.get('proxyjump');
  const proxy = effective.get('proxycommand');
  if (jump !== undefined && jump !== 'none') mismatches.push(`ProxyJump ${jump}`);
  if (proxy === undefined) {
    if (jump === undefined || jump === 'none') mismatches.push('no ProxyCommand');
  } else if (pingknockProxyForm(proxy, alias) === undefined) {
    mismatches.push(`ProxyCommand ${proxy}`);
  }
  const hostName = effective.get('hostname');
  if (wish.hostName !== undefined && hostName?.toLowerCase() !== wish.hostName.toLowerCase())
    mismatches.push(`HostName ${hostName ?? '(none)'}`);
  const port = effective.get('port');
  if (wish.port !== undefined && Number(port) !== wish.port) mismatches.push(`Port ${port ?? '(none)'}`);
  const user = effective.get('user');
  if (wish.user !== undefined && user !== wish.user) mismatches.push(`User ${user ?? '(none)'}`);
  return mismatches;
}
