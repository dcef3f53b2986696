import type { KnockRuleModel } from './model.js';
import type { Family } from '../layout.js';

const LAYOUT_NAMES = { iputils: 'Linux iputils ping', bsd: 'BSD/macOS ping' } as const;

/** "Linux iputils ping: payload byte 16; BSD/macOS ping: payload byte 8", for header comments. */
export function describeLayouts(model: KnockRuleModel): string {
  return model.layouts.map((layout) => `${LAYOUT_NAMES[layout.name]}: payload byte ${layout.patternOffset}`).join('; ');
}

/** The knock without pingknock, as every rules file's header shows it. */
export function manualKnock(model: KnockRuleModel, family: Family): string {
  return `ping${family === 'ipv6' ? ' -6' : ''} -c1 -p ${model.patternHex} HOST`;
}
