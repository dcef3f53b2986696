import { spawn, type ChildProcess } from 'node:child_process';
import { runChecked } from '../edge/exec.js';

/** The lab's namespaces and links: client and server joined directly, or through a middle namespace. */

export interface Endpoint {
  readonly netns: string;
  readonly ipv4: string;
  readonly ipv6: string;
}

/** The namespace between client and server, and its ends of their links. */
export interface Middle {
  readonly netns: string;
  readonly client: string;
  readonly server: string;
}

/** A program and its arguments. */
export type Command = readonly [file: string, ...args: string[]];

/**
 * Makes the namespaces and links, named after `id`. Without `middle`, one veth pair joins client
 * and server; with it, each has a pair into `middle` and nothing passes between them unless a
 * program there carries the frames (see startForwarder).
 */
export function buildNetwork(
  id: string,
  server: Endpoint,
  client: Endpoint,
  middleNetns: string | undefined,
): Middle | undefined {
  const serverLink = `pk${id}s`;
  const clientLink = `pk${id}c`;
  for (const netns of [server.netns, client.netns, ...(middleNetns === undefined ? [] : [middleNetns])]) {
    runChecked('ip', ['netns', 'add', netns]);
    runChecked('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  }
  let middle: Middle | undefined;
  if (middleNetns === undefined) {
    vethPair([server.netns, serverLink], [client.netns, clientLink]);
  } else {
    middle = { netns: middleNetns, client: `pk${id}mc`, server: `pk${id}ms` };
    vethPair([server.netns, serverLink], [middle.netns, middle.server]);
    vethPair([client.netns, clientLink], [middle.netns, middle.client]);
    // The middle is no host, with no address of its own: no IPv6 either, so it never sends a
    // router solicitation or a report of its own into the path it carries.
    runChecked('ip', ['netns', 'exec', middle.netns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1']);
    for (const link of [middle.client, middle.server]) {
      runChecked('ip', ['-n', middle.netns, 'link', 'set', link, 'up']);
    }
  }
  for (const [end, link] of [
    [server, serverLink],
    [client, clientLink],
  ] as const) {
    runChecked('ip', ['-n', end.netns, 'addr', 'add', `${end.ipv4}/24`, 'dev', link]);
    runChecked('ip', ['-n', end.netns, '-6', 'addr', 'add', `${end.ipv6}/64`, 'dev', link, 'nodad']);
    runChecked('ip', ['-n', end.netns, 'link', 'set', link, 'up']);
  }
  return middle;
}

function vethPair([netns, name]: readonly [string, string], [peerNetns, peerName]: readonly [string, string]): void {
  runChecked('ip', ['link', 'add', name, 'netns', netns, 'type', 'veth', 'peer', 'name', peerName, 'netns', peerNetns]);
}

/**
 * Runs `command` in the middle namespace and resolves once it wrote its first line on stdout,
 * which it must do once it forwards: before that, nothing reaches the other side.
 */
export function startForwarder(middle: Middle, command: Command, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const forwarder = spawn('ip', ['netns', 'exec', middle.netns, ...command], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  forwarder.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  return new Promise((resolve, reject) => {
    const fail = (why: string): void => {
      clearTimeout(timer);
      forwarder.kill('SIGKILL');
      reject(new Error(`the forwarder (${command.join(' ')}) ${why}: ${stderr.trim()}`));
    };
    const timer = setTimeout(() => fail('said nothing within 10 s'), 10_000);
    forwarder.on('error', (error) => fail(`could not start (${error.message})`));
    forwarder.on('exit', (code) => fail(`exited (${code})`));
    forwarder.stdout.setEncoding('utf8').on('data', (text: string) => {
      if (!text.includes('\n')) return;
      clearTimeout(timer);
      forwarder.removeAllListeners('exit');
      resolve(forwarder);
    });
  });
}

/** Deletes the namespaces, ending every process still in them first. */
export function removeNamespaces(names: readonly string[]): void {
  for (const netns of names) {
    // Deleting a namespace does not end the processes in it (sshd's sessions, pings): kill them first.
    const pids = textOf('ip', ['netns', 'pids', netns]).split(/\s+/).filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    textOf('ip', ['netns', 'delete', netns]);
  }
}

/** A clean-up step's output, or nothing when it fails: what is already gone needs no removing. */
function textOf(file: string, args: readonly string[]): string {
  try {
    return runChecked(file, args);
  } catch {
    return '';
  }
}
