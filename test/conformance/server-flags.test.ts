/**
 * The server's command line against etcd 3.4's:
 *  - every flag the real `etcd --help` lists is one latchkey takes, with etcd's default (deliberate differences
 *    are listed below with their reasons);
 *  - the HTTP-facing flags (--cors, --host-whitelist, --listen-metrics-urls) give the same answers as etcd started
 *    with the same flags;
 *  - latchkey-only checks of the flags whose effect is on disk or in the log (--wal-dir, --log-outputs), of an
 *    inert flag's startup line, and of a refused flag's exit.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { FLAGS } from '@latchkey/server';
import { describe, expect, it } from 'vitest';
import { freePorts } from '../harness/ports.js';
import { ETCD_BIN, memberCommand, type Member } from '../harness/processes.js';
import { useMembers } from '../harness/vitest.js';

/** Defaults latchkey chooses differently from etcd 3.4, and why. */
const DIFFERENT_DEFAULTS: Record<string, string> = {
  'data-dir': 'latchkey names its default data directory <name>.latchkey',
  'initial-cluster': 'computed from --name and --initial-advertise-peer-urls, which is what etcd’s default amounts to',
  'max-concurrent-streams': 'etcd prints the Go constant math.MaxUint32; latchkey the number',
  'pre-vote': 'on by default, as in etcd 3.5: a member that was cut off cannot disrupt the cluster on its return',
};

/** `etcd --help` → flag name → the default it shows (quotes removed). */
function etcdFlags(): Map<string, string> {
  const r = spawnSync(ETCD_BIN, ['--help'], { encoding: 'utf8' });
  const text = `${r.stdout}${r.stderr}`;
  const flags = new Map<string, string>();
  for (const m of text.matchAll(/^\s+--([a-z0-9-]+)(?: +(.*))?$/gm)) flags.set(m[1]!, (m[2] ?? '').trim().replace(/^'(.*)'$/, '$1'));
  return flags;
}

describe('server flags - the table against etcd 3.4', () => {
  it('takes every flag etcd takes, with etcd’s default unless listed as a deliberate difference', () => {
    const etcd = etcdFlags();
    expect(etcd.size, 'etcd --help listed no flags: is etcd installed?').toBeGreaterThan(70);
    const missing = [...etcd.keys()].filter((f) => !(f in FLAGS));
    expect(missing).toEqual([]);
    const differing: string[] = [];
    for (const [flag, def] of etcd) {
      const ours = FLAGS[flag]!.default ?? '';
      if (ours !== def && !(flag in DIFFERENT_DEFAULTS)) differing.push(`--${flag}: etcd ${JSON.stringify(def)}, latchkey ${JSON.stringify(ours)}`);
    }
    expect(differing).toEqual([]);
    // The list of differences stays true: each entry really differs.
    for (const flag of Object.keys(DIFFERENT_DEFAULTS)) expect(FLAGS[flag]!.default ?? '', flag).not.toBe(etcd.get(flag));
  });
});

interface Answer {
  status: number;
  allowOrigin: string | undefined;
  body: string;
}

function call(port: number, method: string, urlPath: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path: urlPath, headers, timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        const v = res.headers['access-control-allow-origin'];
        resolve({ status: res.statusCode ?? 0, allowOrigin: typeof v === 'string' ? v : undefined, body: text });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

const members = useMembers();

describe('server flags - HTTP behaviour, the same as etcd’s', () => {
  it('--cors, --host-whitelist and --listen-metrics-urls', async () => {
    const answers: Record<string, unknown>[] = [];
    for (const kind of ['etcd', 'latchkey'] as const) {
      const [metricsPort] = await freePorts(1);
      const m: Member = await members.start({
        kind,
        extraArgs: ['--cors', 'http://a.example:8080', '--host-whitelist', 'localhost,127.0.0.1', '--listen-metrics-urls', `http://127.0.0.1:${metricsPort}`],
      });
      const range = (headers: Record<string, string>) => call(m.clientPort, 'POST', '/v3/kv/range', headers, JSON.stringify({ key: 'YQ==' }));
      const allowed = await range({ origin: 'http://a.example:8080' });
      const other = await range({ origin: 'http://b.example:8080' });
      const preflight = await call(m.clientPort, 'OPTIONS', '/v3/kv/range', { origin: 'http://a.example:8080' });
      const badHost = await range({ host: 'evil.example' });
      const goodHost = await range({ host: `localhost:${m.clientPort}` });
      const health = await call(metricsPort!, 'GET', '/health', {});
      const metrics = await call(metricsPort!, 'GET', '/metrics', {});
      const kvOnMetrics = await call(metricsPort!, 'POST', '/v3/kv/range', {}, '{}');
      answers.push({
        allowed: [allowed.status, allowed.allowOrigin],
        other: [other.status, other.allowOrigin],
        preflight: [preflight.status, preflight.allowOrigin],
        badHost: badHost.status,
        goodHost: goodHost.status,
        health: [health.status, JSON.parse(health.body) as unknown],
        metrics: [metrics.status, metrics.body.includes('\netcd_server_has_leader 1\n')],
        kvOnMetrics: [kvOnMetrics.status, kvOnMetrics.body],
      });
      await m.dispose();
    }
    const [etcd, latchkey] = answers;
    expect(etcd).toEqual({
      allowed: [200, 'http://a.example:8080'],
      other: [200, undefined],
      preflight: [200, 'http://a.example:8080'],
      badHost: 421,
      goodHost: 200,
      health: [200, { health: 'true' }],
      metrics: [200, true],
      kvOnMetrics: [404, '404 page not found\n'],
    });
    expect(latchkey).toEqual(etcd);
  }, 60_000);
});

describe('server flags - latchkey only', () => {
  it('--wal-dir and --log-outputs put the log and the WAL where they say; an inert flag is named at start', async () => {
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'latchkey-flags-'));
    const walDir = path.join(elsewhere, 'wal');
    const logFile = path.join(elsewhere, 'server.log');
    const m2 = await members.start({ kind: 'latchkey', extraArgs: ['--wal-dir', walDir, '--log-outputs', `stderr,${logFile}`, '--max-wals', '3'] });
    expect(readdirSync(walDir).some((f) => f.endsWith('.wal'))).toBe(true);
    expect(existsSync(path.join(m2.dataDir, 'member', 'wal'))).toBe(false);
    const lines = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { message: string; reason?: string });
    expect(lines.some((l) => l.message === 'serving client requests')).toBe(true);
    expect(lines.find((l) => l.message === 'flag --max-wals has no effect in latchkey')?.reason).toMatch(/WAL segment/);
    expect(readFileSync(m2.logPath, 'utf8')).toContain('serving client requests');
    await m2.dispose();
    rmSync(elsewhere, { recursive: true, force: true });
  }, 60_000);

  it('a refused flag value stops the server with exit 2 and the reason', () => {
    const { command, args } = memberCommand('latchkey');
    const r = spawnSync(command, [...args, '--enable-v2=true'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe('latchkey: --enable-v2=true: not supported (latchkey serves the v3 API only)');
  });
});
