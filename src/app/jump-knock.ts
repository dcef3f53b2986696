import { knockingHop, type JumpProxy } from '../core/jump.js';
import { carrySshArgs, knockSshArgs, remoteKnockFailure } from '../core/jump-knock.js';
import type { ProxyRequest } from '../core/proxy-arguments.js';
import { knockPatterns } from '../core/rolling.js';
import { parseHost } from '../core/target.js';
import { sshCollect, sshInheriting } from '../edge/bastion.js';
import { loadSecret } from '../edge/secret-source.js';
import { info } from './info.js';
import { checkHorizon } from './knock.js';

/**
 * `pingknock proxy --jump ROUTE`: the knock leaves from the jump host, sent by its own ping over
 * ssh, with the pattern computed here (one-time patterns as the local knock has them); then
 * `ssh -W` carries the session through it, as ProxyJump would, its stdin and stdout the proxy's
 * own: pingknock never touches the stream, and exits with ssh's status. The jump host needs
 * nothing of pingknock's and never sees the secret, only the pattern of one knock.
 *
 * The local proxy's second knock with the next slot's pattern (a pattern spent from elsewhere)
 * is not tried: whether the port opened is seen only by the jump host, and ssh -W waits there
 * for the connection as ProxyJump does.
 */
export async function runJumpProxy(request: ProxyRequest, jump: JumpProxy): Promise<never> {
  const alias = request.name ?? request.host;
  // Read once: the horizon and the pattern are judged at the same moment.
  const now = Date.now() / 1000;
  checkHorizon(request.mode, alias, now);
  const host = parseHost(request.host);
  const secret = await loadSecret({ secretFile: request.secretFile, name: alias, env: process.env });
  const knock = { host, patternHex: knockPatterns(secret, request.mode, now).first, deadlineMs: request.deadlineMs };
  const bastion = knockingHop(jump.route).host;
  // Plain lines, no spinner: ssh to the jump host may ask for a password or a host key on the terminal.
  if (request.verbose) info(`knocking ${host} from ${bastion}`);
  const failure = remoteKnockFailure(await sshCollect(knockSshArgs(jump, knock)), jump, knock);
  if (failure !== undefined) throw failure;
  if (request.verbose) info(`connecting to port ${request.port} of ${host} through ${bastion} (ssh -W)`);
  process.exit(await sshInheriting(carrySshArgs(jump, host, request.port)));
}
