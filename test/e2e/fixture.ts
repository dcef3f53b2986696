import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Lab, type ServerFirewall } from '../../src/lab/lab.js';
import { parseSecret, secretFromRandomBytes, SECRET_RANDOM_BYTES, type Secret } from '../../src/core/secret.js';
import { buildRuleModel } from '../../src/core/rules/model.js';
import { renderNftables } from '../../src/core/rules/nftables.js';

export const FIREWALLS: readonly ServerFirewall[] = ['bare', 'existing'];

export function newSecret(): Secret {
  return secretFromRandomBytes(randomBytes(SECRET_RANDOM_BYTES));
}

/** The secret turned by `by` characters: the same symbols, so only an exact-offset match refuses it. */
export function rotated(secret: Secret, by: number): Secret {
  return parseSecret(secret.slice(by) + secret.slice(0, by), 'rotation');
}

export function nftRules(secret: Secret, windowSeconds = 60): string {
  return renderNftables(buildRuleModel({ secret, port: 22, windowSeconds }));
}

/** A lab whose server is protected by pingknock's nftables rules on top of `firewall`. */
export async function protectedLab(firewall: ServerFirewall, secret: Secret): Promise<Lab> {
  const lab = await Lab.create({ secret, serverFirewall: firewall });
  try {
    lab.loadServerRules(nftRules(secret));
  } catch (error) {
    lab.destroy();
    throw error;
  }
  return lab;
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
