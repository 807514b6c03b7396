import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FLAGS, parseConfig } from './config.js';

const parse = (...argv: string[]) => parseConfig(argv, {}).config!;
const FIX = (name: string): string => join(new URL('.', import.meta.url).pathname, '../../../test/fixtures/tls', name);

describe('config - backend batching flags', () => {
  it('defaults to etcd’s 100 ms and 10,000 writes, also for an explicit 0', () => {
    expect([parse().backendBatchIntervalMs, parse().backendBatchLimit]).toEqual([100, 10_000]);
    const zero = parse('--backend-batch-interval', '0', '--backend-batch-limit', '0');
    expect([zero.backendBatchIntervalMs, zero.backendBatchLimit]).toEqual([100, 10_000]);
  });

  it('takes Go durations and a count', () => {
    expect(parse('--backend-batch-interval', '10ms').backendBatchIntervalMs).toBe(10);
    expect(parse('--backend-batch-interval', '1.5s').backendBatchIntervalMs).toBe(1500);
    expect(parse('--backend-batch-interval', '1m30s').backendBatchIntervalMs).toBe(90_000);
    expect(parse('--backend-batch-interval', '500us').backendBatchIntervalMs).toBe(0.5);
    expect(parse('--backend-batch-limit', '250').backendBatchLimit).toBe(250);
  });

  it('refuses what Go would refuse, with the flag in the message', () => {
    for (const bad of ['10', 'ms', '5ms2', '1d', '']) {
      expect(() => parse('--backend-batch-interval', bad)).toThrow(/--backend-batch-interval: invalid value/);
    }
    expect(() => parse('--backend-batch-limit', 'x')).toThrow(/--backend-batch-limit: invalid value "x"/);
  });
});

describe('config - etcd flags latchkey honors, takes without effect, or refuses', () => {
  it('honors the flags it implements, from the command line, LATCHKEY_* or ETCD_* (in that order)', () => {
    const c = parse('--wal-dir', '/tmp/w', '--pre-vote=false', '--max-concurrent-streams', '7', '--auth-token-ttl', '20', '--cors', 'http://a.example:8080,https://b.example:443', '--experimental-warning-apply-duration', '1s');
    expect([c.walDir, c.preVote, c.maxConcurrentStreams, c.authTokenTtlMs, c.cors, c.warningApplyDurationMs]).toEqual(['/tmp/w', false, 7, 20_000, ['http://a.example:8080', 'https://b.example:443'], 1000]);
    expect(parse().walDir).toBe('default.latchkey/member/wal');
    const env = (e: Record<string, string>, ...argv: string[]) => parseConfig(argv, e).config!;
    expect(env({ ETCD_NAME: 'e1', ETCD_PRE_VOTE: 'false' })).toMatchObject({ name: 'e1', preVote: false, dataDir: 'e1.latchkey' });
    expect(env({ ETCD_NAME: 'e1', LATCHKEY_NAME: 'l1' }).name).toBe('l1');
    expect(env({ ETCD_NAME: 'e1' }, '--name', 'f1').name).toBe('f1');
    expect(() => env({ ETCD_PRE_VOTE: 'maybe' })).toThrow('invalid boolean value "maybe" for ETCD_PRE_VOTE');
  });

  it('parses booleans as Go does: --flag, --flag=false, -flag=0, --flag=T', () => {
    expect(parse('--strict-reconfig-check=false').strictReconfigCheck).toBe(false);
    expect(parse('-strict-reconfig-check=0').strictReconfigCheck).toBe(false);
    expect(parse('--strict-reconfig-check').strictReconfigCheck).toBe(true);
    expect(parse().strictReconfigCheck).toBe(true);
    expect(parse('--debug=T').logLevel).toBe('debug');
    expect(() => parse('--debug=yes')).toThrow('invalid boolean value "yes" for -debug: parse error');
  });

  it('takes --bcrypt-cost within bcrypt\'s range (etcd\'s default 10)', () => {
    expect(parse().bcryptCost).toBe(10);
    expect(parse('--bcrypt-cost', '12').bcryptCost).toBe(12);
    expect(parse('--bcrypt-cost', '12').inert).toEqual([]);
    expect(() => parse('--bcrypt-cost', '3')).toThrow('--bcrypt-cost: must be between 4 and 31');
  });

  it('takes an inert flag, validated, and records it for the startup log', () => {
    const c = parse('--max-wals', '9', '--logger', 'zap', '--enable-pprof');
    expect(c.inert.map((f) => [f.flag, f.value])).toEqual([
      ['max-wals', '9'],
      ['enable-pprof', 'true'],
      ['logger', 'zap'],
    ]);
    expect(c.inert[0]!.reason).toMatch(/WAL segment/);
    expect(() => parse('--logger', 'glog')).toThrow('--logger: invalid value "glog" (one of: capnslog, zap)');
    expect(() => parse('--grpc-keepalive-interval', '2 hours')).toThrow('--grpc-keepalive-interval: invalid value "2 hours"');
  });

  it('refuses a feature it does not have unless the flag is left at etcd’s default', () => {
    expect(parse('--enable-v2=false', '--proxy', 'off', '--discovery', '', '--auth-token', 'simple').inert).toEqual([]);
    expect(() => parse('--enable-v2')).toThrow('--enable-v2=true: not supported (latchkey serves the v3 API only)');
    expect(() => parse('--proxy', 'on')).toThrow('--proxy=on: not supported (proxy mode is not implemented)');
    expect(() => parse('--auth-token', 'jwt,pub-key=/no/such.pub,sign-method=RS256')).toThrow(/--auth-token: ENOENT.*\/no\/such.pub/);
    expect(() => parse('--auth-token', 'jwt,sign-method=XS256')).toThrow('--auth-token: unsupported sign-method "XS256"');
    expect(() => parse('--auth-token', 'oauth')).toThrow('--auth-token: invalid value "oauth"');
    expect(() => parseConfig([], { ETCD_DISCOVERY_SRV: 'example.com' })).toThrow('--discovery-srv=example.com: not supported');
  });

  it('--cipher-suites: Go names to OpenSSL ones, etcd’s errors for an unknown name and for HTTP/2 without AES-128-GCM', () => {
    const tls = (suites: string) => parse('--cert-file', FIX('server.crt'), '--key-file', FIX('server.key'), '--listen-client-urls', 'https://127.0.0.1:2379', '--advertise-client-urls', 'https://127.0.0.1:2379', '--cipher-suites', suites).clientTls!;
    expect(tls('TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305,TLS_AES_128_GCM_SHA256').ciphers).toBe(
      'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305',
    );
    expect(() => tls('TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_NO_SUCH')).toThrow('--cipher-suites: unexpected TLS cipher suite "TLS_NO_SUCH"');
    expect(() => tls('TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384')).toThrow('missing an HTTP/2-required AES_128_GCM_SHA256 cipher');
  });

  it('--auto-tls / --peer-auto-tls: a certificate made in <data-dir>/fixtures; ignored (and logged) when certificates are given', () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'latchkey-config-')), 'd');
    const c = parse('--data-dir', dataDir, '--auto-tls', '--peer-auto-tls', '--listen-client-urls', 'https://127.0.0.1:2379', '--advertise-client-urls', 'https://127.0.0.1:2379', '--listen-peer-urls', 'https://127.0.0.1:2380', '--initial-advertise-peer-urls', 'https://127.0.0.1:2380');
    expect(c.clientTls).toMatchObject({ selfSigned: true, clientCertAuth: false, ca: undefined });
    expect(c.peerTls).toMatchObject({ selfSigned: true });
    expect(readFileSync(join(dataDir, 'fixtures', 'client', 'cert.pem')).equals(c.clientTls!.cert)).toBe(true);
    expect(readFileSync(join(dataDir, 'fixtures', 'peer', 'key.pem')).equals(c.peerTls!.key)).toBe(true);
    const given = parse('--auto-tls', '--cert-file', FIX('server.crt'), '--key-file', FIX('server.key'));
    expect(given.clientTls?.selfSigned).toBeUndefined();
    expect(given.inert).toEqual([{ flag: 'auto-tls', value: 'true', reason: 'ignored since --cert-file and --key-file are given (as etcd)' }]);
  });

  it('still refuses flags etcd does not have', () => {
    expect(() => parse('--no-such-flag', 'x')).toThrow("flag provided but not defined: --no-such-flag");
  });

  it('gives every default its own check (the table is consistent)', () => {
    for (const [name, spec] of Object.entries(FLAGS)) {
      // etcd shows some unset defaults as '' (backend-batch-interval); given explicitly, Go would refuse ''.
      if (spec.default === undefined || spec.default === '' || !spec.check) continue;
      expect(spec.check(spec.default), name).toBeUndefined();
    }
  });
});

describe('config - etcd configuration files (--config-file)', () => {
  const file = (text: string): string => {
    const dir = mkdtempSync(join(tmpdir(), 'latchkey-config-'));
    const p = join(dir, 'etcd.conf.yml');
    writeFileSync(p, text);
    return p;
  };

  it('reads etcd’s keys, lists and transport-security blocks, and then ignores flags and environment', () => {
    const ca = file('not a real CA');
    const p = file(
      [
        "name: 'infra1'",
        'data-dir: /var/lib/etcd/infra1',
        'snapshot-count: 10000',
        'heartbeat-interval: 50',
        'election-timeout: 500',
        'listen-client-urls: http://127.0.0.1:12379,http://127.0.0.1:22379',
        'initial-cluster: infra1=http://127.0.0.1:12380',
        'initial-advertise-peer-urls: http://127.0.0.1:12380',
        'strict-reconfig-check: false',
        'enable-v2: false',
        'log-outputs: [stderr, /tmp/etcd.log]',
        'discovery:',
        'client-transport-security:',
        '  client-cert-auth: false',
        `  trusted-ca-file: ${ca}`,
        '  auto-tls: false',
        'peer-transport-security:',
        '  auto-tls: false',
        'experimental-enable-distributed-tracing: true',
      ].join('\n'),
    );
    const c = parseConfig(['--config-file', p, '--name', 'ignored'], { ETCD_SNAPSHOT_COUNT: '5' }).config!;
    expect([c.name, c.dataDir, c.snapshotCount, c.heartbeatInterval, c.electionTimeout, c.strictReconfigCheck, c.logOutputs]).toEqual(['infra1', '/var/lib/etcd/infra1', 10_000, 50, 500, false, ['stderr', '/tmp/etcd.log']]);
    expect(c.listenClientUrls.map((u) => u.port)).toEqual(['12379', '22379']);
    expect(c.clientTls).toBeUndefined(); // a CA alone (no cert and key) serves no TLS, as with the flags
    expect(c.inert.map((f) => f.flag)).toEqual(['experimental-enable-distributed-tracing']);
    expect(parseConfig([], { ETCD_CONFIG_FILE: p }).config!.name).toBe('infra1');
  });

  it('refuses what the flags refuse, and a file that is not a mapping', () => {
    expect(() => parseConfig(['--config-file', file('enable-v2: true')], {})).toThrow('--enable-v2=true: not supported');
    expect(() => parseConfig(['--config-file', file('heartbeat-interval: soon')], {})).toThrow('--heartbeat-interval: invalid value "soon"');
    expect(() => parseConfig(['--config-file', file('- a\n- b')], {})).toThrow('is not a mapping of settings');
    expect(() => parseConfig(['--config-file', '/nonexistent/etcd.conf.yml'], {})).toThrow(/--config-file: cannot read \/nonexistent/);
  });
});
