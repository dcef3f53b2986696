import type { KnockRuleModel } from './model.js';
import type { Family } from '../layout.js';
import { PingknockError } from '../errors.js';
import { renderNftables } from './nftables.js';
import { renderIptables } from './iptables.js';
import { renderUfw } from './ufw.js';

export const BACKENDS = ['nftables', 'iptables', 'ip6tables', 'ufw'] as const;
export type Backend = (typeof BACKENDS)[number];

export const FAMILY_CHOICES = ['ipv4', 'ipv6', 'both'] as const;
export type FamilyChoice = (typeof FAMILY_CHOICES)[number];

/** iptables and ip6tables are one family each; nftables and ufw take both unless told otherwise. */
export function backendFamilies(backend: Backend, requested: FamilyChoice | undefined): Family[] {
  const fixed: Partial<Record<Backend, Family>> = { iptables: 'ipv4', ip6tables: 'ipv6' };
  const only = fixed[backend];
  if (only !== undefined) {
    if (requested !== undefined && requested !== only) {
      throw new PingknockError('usage', `--backend ${backend} is ${only} only; use --backend ${only === 'ipv4' ? 'ip6tables' : 'iptables'} for ${requested}`);
    }
    return [only];
  }
  return requested === 'ipv4' || requested === 'ipv6' ? [requested] : ['ipv4', 'ipv6'];
}

/** One model, one renderer per firewall. */
export function renderRules(backend: Backend, model: KnockRuleModel): string {
  switch (backend) {
    case 'nftables':
      return renderNftables(model);
    case 'iptables':
      return renderIptables(model, 'ipv4');
    case 'ip6tables':
      return renderIptables(model, 'ipv6');
    case 'ufw':
      return renderUfw(model);
  }
}
