import { jumpSshArgs, knockingHop, type JumpProxy } from './jump.js';
import { DEFAULT_WINDOW_SECONDS } from './rules/model.js';
import { isoDate, type KnockMode } from './rolling.js';
import { shellQuote } from './shell.js';

export interface Instructions {
  readonly alias: string;
  readonly secretPath: string;
  readonly host: string;
  readonly port: number;
  readonly mode: KnockMode;
  readonly today: number;
  readonly configArgs: string;
  /** The home folder, where a secret path is shown from as `~/`. */
  readonly home: string;
  /** The jump host the knock leaves from, when the host is reached through one. */
  readonly jump?: JumpProxy | undefined;
}

/**
 * What is left to do on the server, and the knock by hand. A static pattern is the secret itself, so
 * the knock by hand computes it from the file rather than showing it.
 */
export function serverInstructions(next: Instructions): string {
  const { alias, host, port, configArgs, home } = next;
  const secretShown = next.secretPath.startsWith(`${home}/`)
    ? `~/${shellWord(next.secretPath.slice(home.length + 1))}`
    : shellWord(next.secretPath);
  const portArgs = port === 22 ? '' : ` --port ${port}`;
  const load = `  scp${configArgs} pingknock.nft ${alias}: && ssh${configArgs} ${alias} 'sudo nft -f pingknock.nft'`;
  const connect =
    next.jump === undefined
      ? `  ssh${configArgs} -o ProxyCommand=none ${alias}`
      : `  ssh${configArgs} -o ProxyJump=${next.jump.route.text} ${alias}`;
  // Knocked by hand from the jump host too: the server may be reachable from there alone.
  const ping = next.jump === undefined ? '  ping' : `  ssh ${jumpSshArgs(next.jump, []).map(shellWord).join(' ')} ping`;
  if (next.mode.kind === 'rolling') {
    const days = next.mode.lastDay - next.today + 1;
    return [
      `Next, protect ${alias} (${host}) with one-time knocks: its rules must hold patterns from today through`,
      `${isoDate(next.mode.lastDay)}; make them here and load them there, from a session you keep open until a new`,
      'login works:',
      `  pingknock rules --rolling --horizon ${days} --secret-file ${secretShown}${portArgs} > pingknock.nft`,
      load,
      `To knock by hand, with the pattern of the moment (it changes every 256 s), and connect within`,
      `${DEFAULT_WINDOW_SECONDS} s:`,
      `${ping} -c 1 -p "$(pingknock pattern ${alias})" ${host}`,
      connect,
      'Without pingknock at hand, the README (One-time knocks) computes the pattern with openssl.',
      '',
    ].join('\n');
  }
  return [
    `Next, protect ${alias} (${host}): make its firewall rules here and load them there, from a session you keep open`,
    `until a new login works:`,
    `  pingknock rules --secret-file ${secretShown}${portArgs} > pingknock.nft`,
    load,
    `To knock by hand and connect within ${DEFAULT_WINDOW_SECONDS} s:`,
    `${ping} -c 1 -p "$(pingknock pattern --static ${alias})" ${host}`,
    connect,
    'Without pingknock at hand, the README (Quick start) turns the secret file into the pattern with od.',
    '',
  ].join('\n');
}

/** What setup says of a host knocked from a jump host: what that host gets to see. */
export function jumpNote(alias: string, jump: JumpProxy, mode: KnockMode): string {
  const bastion = knockingHop(jump.route).host;
  const seen =
    mode.kind === 'rolling'
      ? 'the one-time pattern of each knock'
      : "each knock's pattern, which with static knocks is the secret itself (one-time knocks keep it from it)";
  return (
    `ssh ${alias} goes through ${jump.route.text} (ProxyJump): the knock is sent from ${bastion} by its own ping, ` +
    `with no pingknock and no secret there; it sees ${seen}`
  );
}

export function shellWord(word: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(word) ? word : shellQuote(word);
}
