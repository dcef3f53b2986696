import { describe, expect, it } from 'vitest';
import { ExitCode, PingknockError } from '../../src/core/errors.js';
import type { Family } from '../../src/core/layout.js';
import { renderIptables } from '../../src/core/rules/iptables.js';
import { buildRuleModel } from '../../src/core/rules/model.js';
import { renderNftables } from '../../src/core/rules/nftables.js';
import {
  BACKENDS,
  backendFamilies,
  FAMILY_CHOICES,
  renderRules,
  type Backend,
  type FamilyChoice,
} from '../../src/core/rules/render.js';
import { renderUfw } from '../../src/core/rules/ufw.js';
import { parseSecret } from '../../src/core/secret.js';

const secret = parseSecret('ABCDEFGHIJKLMNOP', 'test');

function caught(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('backendFamilies', () => {
  it('lists the backends and family choices', () => {
    expect(BACKENDS).toEqual(['nftables', 'iptables', 'ip6tables', 'ufw']);
    expect(FAMILY_CHOICES).toEqual(['ipv4', 'ipv6', 'both']);
  });

  it.each<[Backend, FamilyChoice | undefined, Family[]]>([
    ['iptables', undefined, ['ipv4', 'ipv6']],
    ['iptables', 'both', ['ipv4', 'ipv6']],
    ['iptables', 'ipv4', ['ipv4']],
    ['iptables', 'ipv6', ['ipv6']],
    ['ip6tables', undefined, ['ipv6']],
    ['ip6tables', 'ipv6', ['ipv6']],
    ['nftables', undefined, ['ipv4', 'ipv6']],
    ['nftables', 'both', ['ipv4', 'ipv6']],
    ['nftables', 'ipv4', ['ipv4']],
    ['nftables', 'ipv6', ['ipv6']],
    ['ufw', undefined, ['ipv4', 'ipv6']],
    ['ufw', 'both', ['ipv4', 'ipv6']],
    ['ufw', 'ipv4', ['ipv4']],
    ['ufw', 'ipv6', ['ipv6']],
  ])('%s with --family %s gives %j', (backend, requested, expected) => {
    expect(backendFamilies(backend, requested)).toEqual(expected);
  });

  it.each<[Backend, FamilyChoice, string]>([
    ['ip6tables', 'ipv4', '--backend ip6tables is ipv6 only; use --backend iptables for ipv4'],
    ['ip6tables', 'both', '--backend ip6tables is ipv6 only; use --backend iptables for both'],
  ])('refuses %s with --family %s as a usage error (exit 2)', (backend, requested, message) => {
    const error = caught(() => backendFamilies(backend, requested));
    expect(error).toBeInstanceOf(PingknockError);
    expect((error as PingknockError).exitCode).toBe(2);
    expect((error as PingknockError).exitCode).toBe(ExitCode.usage);
    expect((error as PingknockError).message).toBe(message);
  });

  it('returns a fresh array each time (callers may not share it)', () => {
    const first = backendFamilies('nftables', undefined);
    first.pop();
    expect(backendFamilies('nftables', undefined)).toEqual(['ipv4', 'ipv6']);
  });
});

describe('renderRules', () => {
  const model = buildRuleModel({ secret, port: 2222, windowSeconds: 30 });
  const v4 = buildRuleModel({ secret, port: 2222, windowSeconds: 30, families: ['ipv4'] });
  const v6 = buildRuleModel({ secret, port: 2222, windowSeconds: 30, families: ['ipv6'] });

  it('sends nftables to the nft renderer', () => {
    const text = renderRules('nftables', model);
    expect(text).toBe(renderNftables(model));
    expect(text.startsWith('#!/usr/sbin/nft -f\n')).toBe(true);
    expect(text).toContain('table inet pingknock {');
    expect(text).toContain('@th,192,128 { 0x4142434445464748494a4b4c4d4e4f50 comment "default" }');
    expect(text).toContain('tcp dport 2222 drop comment "not knocked"');
  });

  it('sends iptables to the IPv4 iptables renderer', () => {
    const text = renderRules('iptables', v4);
    expect(text).toBe(renderIptables(v4));
    expect(text).toContain('ipt=${IPTABLES:-iptables}\n');
    expect(text).toContain('-p icmp --icmp-type echo-request -m u32 --u32 "0>>22&0x3C@20=0x0&&');
    expect(text).toContain('--rcheck --seconds 30 --name knocked --rsource -j knock-ok');
    expect(text).not.toContain('ip6tables');
  });

  it('gives iptables both families by default: ip6tables too', () => {
    const text = renderRules('iptables', model);
    expect(text).toBe(renderIptables(model));
    expect(text).toContain('ipt=${IPTABLES:-iptables}\nip6t=${IP6TABLES:-ip6tables}\n');
    expect(text).toContain('--name knocked ');
    expect(text).toContain('--name knocked6 ');
  });

  it('sends ip6tables to the IPv6 iptables renderer', () => {
    const text = renderRules('ip6tables', v6);
    expect(text).toBe(renderIptables(v6));
    expect(renderRules('ip6tables', model)).toBe(text);
    expect(text).toContain('ip6t=${IP6TABLES:-ip6tables}\n');
    expect(text).toContain('-p ipv6-icmp --icmpv6-type echo-request -m u32 --u32 "60=0x0&&64=0x41424344');
    expect(text).toContain('--name knocked6 ');
  });

  it('sends ufw to the ufw renderer, one section per family', () => {
    const text = renderRules('ufw', model);
    expect(text).toBe(renderUfw(model));
    expect(text.startsWith('# pingknock rules for ufw: TCP port 2222')).toBe(true);
    expect(text).toContain('# ---- for /etc/ufw/before.rules (ipv4) ----');
    expect(text).toContain('# ---- for /etc/ufw/before6.rules (ipv6) ----');
    expect(text.split('# BEGIN pingknock\n')).toHaveLength(3);
    expect(renderRules('ufw', v6)).not.toContain('/etc/ufw/before.rules');
  });

  it('gives every backend a different text', () => {
    const texts = BACKENDS.map((backend) => renderRules(backend, model));
    expect(new Set(texts).size).toBe(BACKENDS.length);
  });
});
