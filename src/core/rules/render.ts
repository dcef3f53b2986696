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

/**
 * Every backend takes both families unless told otherwise (iptables: iptables and ip6tables), so
 * that no family is left open; ip6tables is IPv6 only.
 */
export function backendFamilies(backend: Backend, requested: FamilyChoice | undefined): Family[] {
  if (backend === 'ip6tables') {
    if (requested !== undefined && requested !== 'ipv6') {
      throw new PingknockError('usage', `--backend ip6tables is ipv6 only; use --backend iptables for ${requested}`);
    }
    return ['ipv6'];
  }
  return requested === 'ipv4' || requested === 'ipv6' ? [requested] : ['ipv4', 'ipv6'];
}

/** One model, one renderer per firewall. */
export function renderRules(backend: Backend, model: KnockRuleModel): string {
  switch (backend) {
    case 'nftables':
      return renderNftables(model);
    case 'iptables':
      return renderIptables(model);
    case 'ip6tables':
      return renderIptables({ ...model, families: ['ipv6'] });
    case 'ufw':
      return renderUfw(model);
  }
}
