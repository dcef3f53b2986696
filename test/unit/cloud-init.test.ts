import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cloudInitSnippet } from '../../src/app/cloud-init.js';
import { applyScript, confirmScript, rollbackNowScript } from '../../src/core/rules/apply.js';
import { CLOUD_INIT_DIR, renderCloudInit, type CloudInitRequest } from '../../src/core/rules/cloud-init.js';
import { buildRuleModel } from '../../src/core/rules/model.js';
import { persistScript } from '../../src/core/rules/persist.js';
import { backendFamilies, renderRules, type Backend } from '../../src/core/rules/render.js';
import { withUfwBlocks } from '../../src/core/rules/ufw.js';
import { parseSecret } from '../../src/core/secret.js';
import { parseCloudConfig } from '../support/cloud-init.js';

const secret = parseSecret('ABCDEFGHIJKLMNOP', 'test');
const STOCK_UFW =
  '*filter\n:ufw-before-input - [0:0]\n-A ufw-before-input -p icmp --icmp-type echo-request -j ACCEPT\nCOMMIT\n';

function request(backend: Backend, overrides: Partial<CloudInitRequest> = {}): CloudInitRequest {
  const model = buildRuleModel({ secret, port: 22, windowSeconds: 60, families: backendFamilies(backend, undefined) });
  return {
    backend,
    model,
    rules: renderRules(backend, model),
    ufwFiles: {},
    tool: undefined,
    stateDir: '/run/pingknock',
    rollbackSeconds: 0,
    ...overrides,
  };
}

/** The snippet as YAML (PyYAML, which cloud-init uses) reads it: files by name, and the commands. */
function parsed(req: CloudInitRequest) {
  const snippet = renderCloudInit(req);
  expect(snippet.startsWith('#cloud-config\n')).toBe(true);
  const config = parseCloudConfig(snippet);
  const files = new Map(
    config.write_files.map((file) => [
      file.path.slice(CLOUD_INIT_DIR.length + 1),
      file.encoding === 'b64' ? Buffer.from(file.content, 'base64').toString('utf8') : file.content,
    ]),
  );
  return { files, runcmd: config.runcmd, config };
}

describe('the cloud-init snippet', () => {
  it('holds the apply and the persistence of rules --apply and enroll, byte for byte, and runs them in order', () => {
    const req = request('nftables');
    const { files, runcmd, config } = parsed(req);
    expect(files.get('apply.sh')).toBe(
      applyScript({
        backend: 'nftables',
        rules: req.rules,
        ufwFiles: {},
        tool: undefined,
        families: ['ipv4', 'ipv6'],
        stateDir: '/run/pingknock',
        rollbackSeconds: 0,
      }),
    );
    expect(files.get('persist.sh')).toBe(
      persistScript({
        backend: 'nftables',
        persistDir: '/etc',
        tool: undefined,
        families: ['ipv4', 'ipv6'],
        rules: req.rules,
      }),
    );
    for (const file of config.write_files) expect(file.permissions).toBe('0700');
    expect(runcmd).toEqual([
      ['sh', `${CLOUD_INIT_DIR}/apply.sh`],
      ['sh', `${CLOUD_INIT_DIR}/persist.sh`],
      ['systemctl', 'enable', 'nftables.service'],
    ]);
  });

  it('with a rollback: only applies, and its confirm keeps the rules across reboots', () => {
    const req = request('iptables', { rollbackSeconds: 90, tool: 'iptables-legacy' });
    const { files, runcmd } = parsed(req);
    const persist = persistScript({
      backend: 'iptables',
      persistDir: '/etc',
      tool: 'iptables-legacy',
      families: ['ipv4', 'ipv6'],
      rules: req.rules,
    });
    expect([...files.keys()]).toEqual(['apply.sh', 'confirm.sh', 'rollback.sh']);
    expect(files.get('apply.sh')).toContain('pingknock-rollback 90 "$state"');
    expect(files.get('confirm.sh')).toBe(confirmScript('/run/pingknock', persist));
    expect(files.get('rollback.sh')).toBe(rollbackNowScript('/run/pingknock'));
    expect(runcmd).toEqual([['sh', `${CLOUD_INIT_DIR}/apply.sh`]]);
    expect(renderCloudInit(req)).toContain(`sudo sh ${CLOUD_INIT_DIR}/confirm.sh`);
  });

  it('keeps ip6tables rules the iptables way, for IPv6 alone', () => {
    const { files } = parsed(request('ip6tables'));
    expect(files.get('persist.sh')).toContain('saved="$persist/iptables/rules.v6"');
    expect(files.get('persist.sh')).not.toContain('saved="$persist/iptables/rules.v4"');
  });

  it('keeps files a YAML block would change (CRLF line ends) byte for byte, in base64', () => {
    const crlf = STOCK_UFW.replaceAll('\n', '\r\n');
    const req = request('ufw');
    const ufwFiles = withUfwBlocks({ '/etc/ufw/before.rules': crlf, '/etc/ufw/before6.rules': STOCK_UFW }, req.model);
    const { files, config } = parsed({ ...req, ufwFiles });
    const apply = config.write_files.find((file) => file.path.endsWith('/apply.sh'));
    expect(apply?.encoding).toBe('b64');
    expect(files.get('apply.sh')).toBe(applyScript({ ...req, ufwFiles, families: req.model.families }));
    expect(files.get('apply.sh')).toContain('\r\n');
  });

  it('shows the manual knock and what it keeps', () => {
    const text = renderCloudInit(request('nftables'));
    expect(text).toContain('ping -c1 -p 4142434445464748494a4b4c4d4e4f50 HOST');
    expect(text).toContain('/etc/pingknock.nft, included from /etc/nftables.conf');
  });
});

describe('rules --cloud-init --backend ufw', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pingknock-cloud-init-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const base = () => {
    const req = request('ufw');
    return {
      backend: req.backend,
      model: req.model,
      rules: req.rules,
      tool: undefined,
      stateDir: req.stateDir,
      rollbackSeconds: 0,
    };
  };

  it('needs copies of the machine ufw files, and puts the block into them', async () => {
    await expect(cloudInitSnippet({ ...base(), ufwDir: undefined })).rejects.toThrow(/--ufw-dir/);
    await expect(cloudInitSnippet({ ...base(), ufwDir: dir })).rejects.toThrow(/cannot read .*before\.rules/);
    writeFileSync(join(dir, 'before.rules'), STOCK_UFW);
    writeFileSync(join(dir, 'before6.rules'), STOCK_UFW.replaceAll('ufw-before-input', 'ufw6-before-input'));
    const snippet = await cloudInitSnippet({ ...base(), ufwDir: dir });
    const apply = parseCloudConfig(snippet).write_files.find((file) => file.path.endsWith('/apply.sh'));
    expect(apply?.content).toContain("cp -p '/etc/ufw/before.rules'");
    expect(apply?.content).toContain('# BEGIN pingknock');
  });

  it('refuses --ufw-dir for another backend', async () => {
    const req = request('nftables');
    await expect(
      cloudInitSnippet({
        backend: 'nftables',
        model: req.model,
        rules: req.rules,
        tool: undefined,
        stateDir: req.stateDir,
        rollbackSeconds: 0,
        ufwDir: dir,
      }),
    ).rejects.toThrow(/--ufw-dir goes with --backend ufw/);
  });
});
