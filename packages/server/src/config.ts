import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseRetention } from './node/auto-compactor.js';

/**
 * Server configuration from etcd's flag names (and `LATCHKEY_<FLAG_NAME>` environment variables, flags winning),
 * with etcd's defaults where they apply.
 */
export interface Config {
  name: string;
  dataDir: string;
  listenClientUrls: URL[];
  advertiseClientUrls: string[];
  listenPeerUrls: URL[];
  initialAdvertisePeerUrls: string[];
  /** name -> peer URLs */
  initialCluster: Map<string, string[]>;
  initialClusterState: 'new' | 'existing';
  initialClusterToken: string;
  /** ms */
  heartbeatInterval: number;
  /** ms */
  electionTimeout: number;
  autoCompactionMode: 'periodic' | 'revision';
  /** periodic: a duration ("1h", "30m", or hours as a bare number); revision: a revision count. "0" = off. */
  autoCompactionRetention: string;
  /** bytes; 0 = the default (2 GiB) */
  quotaBackendBytes: number;
  maxRequestBytes: number;
  maxTxnOps: number;
  snapshotCount: number;
  /** Longest wait before applied writes are committed to the backend, ms (etcd's --backend-batch-interval). */
  backendBatchIntervalMs: number;
  /** Applied writes that start a backend commit early (etcd's --backend-batch-limit). */
  backendBatchLimit: number;
  /** Entries kept in the Raft log behind a snapshot for slow followers (etcd's --experimental-snapshot-catchup-entries). */
  snapshotCatchupEntries: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** Client TLS (https:// client URLs): PEM contents. */
  clientTls: TlsFiles | undefined;
  /** Peer TLS (https:// peer URLs): PEM contents. */
  peerTls: TlsFiles | undefined;
}

/** TLS material, read from the files the flags name. `clientCertAuth`: require and verify client certificates. */
export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  ca: Buffer | undefined;
  clientCertAuth: boolean;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

interface FlagSpec {
  type: 'string' | 'boolean';
  default?: string;
  help: string;
}

export const FLAGS: Record<string, FlagSpec> = {
  name: { type: 'string', default: 'default', help: 'Human-readable name for this member.' },
  'data-dir': { type: 'string', help: 'Path to the data directory (default "<name>.latchkey").' },
  'listen-client-urls': { type: 'string', default: 'http://localhost:2379', help: 'List of URLs to listen on for client traffic (gRPC and the JSON gateway).' },
  'advertise-client-urls': { type: 'string', default: 'http://localhost:2379', help: "List of this member's client URLs to advertise to the rest of the cluster." },
  'listen-peer-urls': { type: 'string', default: 'http://localhost:2380', help: 'List of URLs to listen on for peer traffic.' },
  'initial-advertise-peer-urls': { type: 'string', default: 'http://localhost:2380', help: "List of this member's peer URLs to advertise to the rest of the cluster." },
  'initial-cluster': { type: 'string', help: 'Initial cluster configuration for bootstrapping, e.g. "m1=http://10.0.0.1:2380,m2=…" (default "<name>=<initial-advertise-peer-urls>").' },
  'initial-cluster-state': { type: 'string', default: 'new', help: 'Initial cluster state ("new" or "existing").' },
  'initial-cluster-token': { type: 'string', default: 'etcd-cluster', help: 'Initial cluster token for the cluster during bootstrap.' },
  'heartbeat-interval': { type: 'string', default: '100', help: 'Time (in milliseconds) of a heartbeat interval.' },
  'election-timeout': { type: 'string', default: '1000', help: 'Time (in milliseconds) for an election to timeout.' },
  'auto-compaction-mode': { type: 'string', default: 'periodic', help: 'Interpret auto-compaction-retention as "periodic" (a duration) or "revision" (a count).' },
  'auto-compaction-retention': { type: 'string', default: '0', help: 'Auto compaction retention for mvcc key value store. 0 means disable auto compaction.' },
  'quota-backend-bytes': { type: 'string', default: '0', help: 'Raise alarms when backend size exceeds the given quota. 0 means use the default quota (2 GiB).' },
  'max-request-bytes': { type: 'string', default: '1572864', help: 'Maximum client request size in bytes the server will accept.' },
  'max-txn-ops': { type: 'string', default: '128', help: 'Maximum number of operations permitted in a transaction.' },
  'backend-batch-interval': { type: 'string', default: '0', help: 'BackendBatchInterval is the maximum time before commit the backend transaction. 0 means the default (100ms).' },
  'backend-batch-limit': { type: 'string', default: '0', help: 'BackendBatchLimit is the maximum operations before commit the backend transaction. 0 means the default (10000).' },
  'snapshot-count': { type: 'string', default: '100000', help: 'Number of committed transactions to trigger a snapshot of the log.' },
  'experimental-snapshot-catchup-entries': { type: 'string', default: '5000', help: 'Number of entries kept in the log after a snapshot, for slow followers to catch up without a snapshot.' },
  'log-level': { type: 'string', default: 'info', help: 'Configures log level. Only supports debug, info, warn, error.' },
  'cert-file': { type: 'string', help: 'Path to the client server TLS cert file.' },
  'key-file': { type: 'string', help: 'Path to the client server TLS key file.' },
  'trusted-ca-file': { type: 'string', help: 'Path to the client server TLS trusted CA cert file.' },
  'client-cert-auth': { type: 'boolean', help: 'Enable client cert authentication.' },
  'peer-cert-file': { type: 'string', help: 'Path to the peer server TLS cert file.' },
  'peer-key-file': { type: 'string', help: 'Path to the peer server TLS key file.' },
  'peer-trusted-ca-file': { type: 'string', help: 'Path to the peer server TLS trusted CA file.' },
  'peer-client-cert-auth': { type: 'boolean', help: 'Enable peer client cert authentication.' },
  version: { type: 'boolean', help: 'Print the version and exit.' },
  help: { type: 'boolean', help: 'Show this help and exit.' },
};

export function usage(): string {
  const lines = ['Usage: latchkey [flags]', '', 'A Raft-replicated key-value server that speaks etcd\'s v3 API.', '', 'Flags:'];
  for (const [name, spec] of Object.entries(FLAGS)) {
    const def = spec.default !== undefined ? ` (default "${spec.default}")` : '';
    lines.push(`  --${name}${spec.type === 'string' ? ' <value>' : ''}`, `      ${spec.help}${def}`);
  }
  lines.push('', 'Every flag can also be set with an environment variable: --data-dir as LATCHKEY_DATA_DIR, and so on.');
  return lines.join('\n');
}

/** Parses argv (without node and script) and the environment. Throws ConfigError on bad input. */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): { config?: Config; version?: boolean; help?: boolean } {
  // Go's flag package accepts -flag as well as --flag, and --bool=true|false for boolean flags.
  const args: string[] = [];
  for (const raw of argv) {
    const a = /^-[a-z]/.test(raw) ? `-${raw}` : raw;
    const m = /^--([a-z-]+)=(true|false)$/.exec(a);
    if (m && FLAGS[m[1]!]?.type === 'boolean') {
      if (m[2] === 'true') args.push(`--${m[1]}`);
      continue;
    }
    args.push(a);
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    const options: ParseArgsConfig['options'] = Object.fromEntries(Object.entries(FLAGS).map(([k, v]) => [k, { type: v.type }]));
    ({ values } = parseArgs({ args, options, strict: true, allowPositionals: false }) as { values: Record<string, string | boolean | undefined> });
  } catch (err) {
    throw new ConfigError((err as Error).message.replace(/^Unknown option '(.*)'.*$/s, 'flag provided but not defined: $1'));
  }
  if (values['help']) return { help: true };
  if (values['version']) return { version: true };
  const get = (name: string): string => {
    const v = values[name];
    if (typeof v === 'string') return v;
    const e = env[`LATCHKEY_${name.toUpperCase().replace(/-/g, '_')}`];
    if (e !== undefined && e !== '') return e;
    return FLAGS[name]?.default ?? '';
  };
  const name = get('name');
  const urls = (flag: string): string[] =>
    get(flag)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((u) => {
        let url: URL;
        try {
          url = new URL(u);
        } catch {
          throw new ConfigError(`--${flag}: invalid URL "${u}"`);
        }
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`--${flag}: URL scheme must be http or https: "${u}"`);
        if (!url.port) throw new ConfigError(`--${flag}: URL must have a port: "${u}"`);
        return u.replace(/\/$/, '');
      });
  const int = (flag: string, min = 0): number => {
    const v = get(flag);
    if (!/^\d+$/.test(v)) throw new ConfigError(`--${flag}: invalid value "${v}": expected a non-negative integer`);
    const n = Number(v);
    if (n < min) throw new ConfigError(`--${flag}: must be at least ${min}`);
    return n;
  };
  const peerUrls = urls('initial-advertise-peer-urls');
  const clusterSpec = get('initial-cluster') || `${name}=${peerUrls.join(`,${name}=`)}`;
  const initialCluster = new Map<string, string[]>();
  for (const part of clusterSpec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--initial-cluster: expected name=URL, got "${part}"`);
    const n = part.slice(0, eq);
    const u = part.slice(eq + 1).replace(/\/$/, '');
    try {
      new URL(u);
    } catch {
      throw new ConfigError(`--initial-cluster: invalid URL "${u}"`);
    }
    initialCluster.set(n, [...(initialCluster.get(n) ?? []), u]);
  }
  if (!initialCluster.has(name)) {
    throw new ConfigError(`couldn't find local name "${name}" in the initial cluster configuration`);
  }
  const state = get('initial-cluster-state');
  if (state !== 'new' && state !== 'existing') throw new ConfigError(`--initial-cluster-state: invalid value "${state}" (new or existing)`);
  const mode = get('auto-compaction-mode');
  if (mode !== 'periodic' && mode !== 'revision') throw new ConfigError(`--auto-compaction-mode: invalid value "${mode}"`);
  try {
    parseRetention(mode, get('auto-compaction-retention'));
  } catch (err) {
    throw new ConfigError(`--auto-compaction-retention: ${(err as Error).message}`);
  }
  const level = get('log-level');
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new ConfigError(`--log-level: invalid value "${level}"`);
  const flag = (name: string): boolean => {
    if (values[name] === true) return true;
    const e = env[`LATCHKEY_${name.toUpperCase().replace(/-/g, '_')}`];
    return e === 'true' || e === '1';
  };
  const tls = (certFlag: string, keyFlag: string, caFlag: string, authFlag: string, urlFlags: string[]): TlsFiles | undefined => {
    const cert = get(certFlag);
    const key = get(keyFlag);
    const ca = get(caFlag);
    const needed = urlFlags.some((f) => get(f).includes('https://'));
    if (!cert && !key) {
      if (needed) throw new ConfigError(`--${urlFlags[0]}: https URLs need --${certFlag} and --${keyFlag}`);
      return undefined;
    }
    if (!cert || !key) throw new ConfigError(`--${certFlag} and --${keyFlag} must be given together`);
    const read = (f: string, p: string): Buffer => {
      try {
        return readFileSync(p);
      } catch (err) {
        throw new ConfigError(`--${f}: cannot read ${p}: ${(err as Error).message}`);
      }
    };
    const clientCertAuth = flag(authFlag);
    if (clientCertAuth && !ca) throw new ConfigError(`--${authFlag} needs --${caFlag}`);
    return { cert: read(certFlag, cert), key: read(keyFlag, key), ca: ca ? read(caFlag, ca) : undefined, clientCertAuth };
  };
  const clientTls = tls('cert-file', 'key-file', 'trusted-ca-file', 'client-cert-auth', ['listen-client-urls', 'advertise-client-urls']);
  const peerTls = tls('peer-cert-file', 'peer-key-file', 'peer-trusted-ca-file', 'peer-client-cert-auth', ['listen-peer-urls', 'initial-advertise-peer-urls']);
  const heartbeatInterval = int('heartbeat-interval', 1);
  const electionTimeout = int('election-timeout', 1);
  if (electionTimeout < 5 * heartbeatInterval) {
    throw new ConfigError(`--election-timeout[${electionTimeout}ms] should be at least as 5 times as --heartbeat-interval[${heartbeatInterval}ms]`);
  }
  return {
    config: {
      name,
      dataDir: get('data-dir') || `${name}.latchkey`,
      listenClientUrls: urls('listen-client-urls').map((u) => new URL(u)),
      advertiseClientUrls: urls('advertise-client-urls'),
      listenPeerUrls: urls('listen-peer-urls').map((u) => new URL(u)),
      initialAdvertisePeerUrls: peerUrls,
      initialCluster,
      initialClusterState: state,
      initialClusterToken: get('initial-cluster-token'),
      heartbeatInterval,
      electionTimeout,
      autoCompactionMode: mode,
      autoCompactionRetention: get('auto-compaction-retention'),
      quotaBackendBytes: int('quota-backend-bytes'),
      maxRequestBytes: int('max-request-bytes', 1),
      maxTxnOps: int('max-txn-ops', 1),
      snapshotCount: int('snapshot-count', 1),
      backendBatchIntervalMs: batchInterval(get('backend-batch-interval')) || 100,
      backendBatchLimit: int('backend-batch-limit') || 10_000,
      snapshotCatchupEntries: int('experimental-snapshot-catchup-entries'),
      logLevel: level as Config['logLevel'],
      clientTls,
      peerTls,
    },
  };
}

const DURATION_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** --backend-batch-interval: a Go duration ("100ms", "1.5s", "1m30s", "0"), in milliseconds. */
function batchInterval(v: string): number {
  if (v === '0') return 0;
  let ms = 0;
  const rest = v.replace(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gy, (_m, n: string, unit: string) => {
    ms += Number(n) * DURATION_MS[unit]!;
    return '';
  });
  if (v === '' || rest !== '') throw new ConfigError(`--backend-batch-interval: invalid value "${v}": time: invalid duration "${v}"`);
  return ms;
}
