import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab, ServerFeature } from '../../src/lab/lab.js';

/**
 * Logins besides root on the lab's server, as on servers where root may not log in: `sudoer` may
 * run anything through sudo without a password, `plain` may not use sudo.
 */
export const LAB_ACCOUNTS = { sudoer: 'pkdeploy', plain: 'pkguest' } as const;

/** sudo's policy in the server's view: only root and LAB_ACCOUNTS.sudoer; nothing from the host's sudoers.d. */
const LAB_SUDOERS = `Defaults env_reset
Defaults secure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
root ALL=(ALL:ALL) ALL
${LAB_ACCOUNTS.sudoer} ALL=(ALL:ALL) NOPASSWD: ALL
`;

/**
 * LAB_ACCOUNTS in the server's view only: copies of /etc/passwd, group and shadow with the
 * accounts added, homes under /home holding the lab's user key, and an /etc/sudoers of the lab's
 * own, bound over the host's.
 */
export const labAccounts: ServerFeature = { programs: ['sudo'], prepare: addAccounts };

function addAccounts(lab: Lab): void {
  const etc = join(lab.dir, 'server-accounts');
  const homes = join(etc, 'home');
  mkdirSync(homes, { recursive: true, mode: 0o755 });
  chmodSync(etc, 0o755);
  const files = {
    passwd: readFileSync('/etc/passwd', 'utf8'),
    group: readFileSync('/etc/group', 'utf8'),
    shadow: readFileSync('/etc/shadow', 'utf8'),
  };
  const taken = new Set(
    [...`${files.passwd}${files.group}`.matchAll(/^[^:\n]*:[^:\n]*:(\d+):/gm)].map((match) => Number(match[1])),
  );
  const userKey = readFileSync(`${lab.userKey}.pub`);
  let id = 4200;
  for (const name of Object.values(LAB_ACCOUNTS)) {
    while (taken.has(id)) id += 1;
    taken.add(id);
    const home = join(homes, name);
    files.passwd = `${withNewline(files.passwd)}${name}:x:${id}:${id}:pingknock lab:/home/${name}:/bin/sh\n`;
    files.group = `${withNewline(files.group)}${name}:x:${id}:\n`;
    // '*': no password, yet not locked ('!'), which would refuse the key too.
    files.shadow = `${withNewline(files.shadow)}${name}:*:19000:0:99999:7:::\n`;
    mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
    writeFileSync(join(home, '.ssh', 'authorized_keys'), userKey, { mode: 0o600 });
    for (const path of [home, join(home, '.ssh'), join(home, '.ssh', 'authorized_keys')]) chownSync(path, id, id);
  }
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(etc, name), text, { mode: name === 'shadow' ? 0o600 : 0o644 });
    lab.bindOnServer(join(etc, name), `/etc/${name}`);
  }
  writeFileSync(join(etc, 'sudoers'), LAB_SUDOERS, { mode: 0o440 });
  lab.bindOnServer(join(etc, 'sudoers'), '/etc/sudoers');
  lab.bindOnServer(homes, '/home');
}

function withNewline(text: string): string {
  return text === '' || text.endsWith('\n') ? text : `${text}\n`;
}
