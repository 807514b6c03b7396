import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { parseJwtOption, type JwtOptions } from './auth/jwt-tokens.js';
import { FLAGS, goDurationMs } from './flags.js';
import { opensslCiphers } from './tls.js';
import { selfCert, type SelfCert } from './self-cert.js';
import { parseRetention } from './node/auto-compactor.js';

/**
 * Server configuration from etcd's flag names (see flags.ts for every flag and what it does here), environment
 * variables (`LATCHKEY_<FLAG_NAME>`, then etcd's `ETCD_<FLAG_NAME>`; a flag on the command line wins), and etcd's
 * defaults.
 */
export interface Config {
  name: string;
  dataDir: string;
  /** The WAL's directory (--wal-dir, else <data-dir>/member/wal). */
  walDir: string;
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
  preVote: boolean;
  /** Refuse membership changes that could leave the cluster without a quorum of connected voters. */
  strictReconfigCheck: boolean;
  /** On a restart, compare the KV hash with the peers' before joining. */
  initialCorruptCheck: boolean;
  /** Restart as the only voter of the cluster (etcd's --force-new-cluster). */
  forceNewCluster: boolean;
  /** Interval of the leader's corruption check, ms; 0: off. */
  corruptCheckTimeMs: number;
  autoCompactionMode: 'periodic' | 'revision';
  /** periodic: a duration ("1h", "30m", or hours as a bare number); revision: a revision count. "0" = off. */
  autoCompactionRetention: string;
  /** bytes; 0 = the default (2 GiB) */
  quotaBackendBytes: number;
  maxRequestBytes: number;
  maxTxnOps: number;
  /** Streams one client connection may have open at once (advertised in HTTP/2 SETTINGS, enforced). */
  maxConcurrentStreams: number;
  snapshotCount: number;
  /** Longest wait before applied writes are committed to the backend, ms (etcd's --backend-batch-interval). */
  backendBatchIntervalMs: number;
  /** Applied writes that start a backend commit early (etcd's --backend-batch-limit). */
  backendBatchLimit: number;
  /** Entries kept in the Raft log behind a snapshot for slow followers (etcd's --experimental-snapshot-catchup-entries). */
  snapshotCatchupEntries: number;
  /** Interval of progress notifications to watchers that asked for them, ms. */
  watchProgressNotifyIntervalMs: number;
  /** An apply batch slower than this is logged, ms. */
  warningApplyDurationMs: number;
  /** A simple token's life after its last use, ms. */
  authTokenTtlMs: number;
  /** bcrypt's work factor for new password hashes (etcd's --bcrypt-cost). */
  bcryptCost: number;
  /** JWT tokens (--auth-token jwt,…); undefined: simple tokens. */
  jwt: JwtOptions | undefined;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** 'stderr', 'stdout' or file paths. */
  logOutputs: string[];
  /** More listeners that serve only GET /metrics and GET /health. */
  listenMetricsUrls: URL[];
  /** Origins the gateway answers CORS requests for; ['*']: any. */
  cors: string[];
  /** Host header values a plain-HTTP gateway request may carry; ['*']: any. */
  hostWhitelist: string[];
  /** Client TLS (https:// client URLs): PEM contents. */
  clientTls: TlsFiles | undefined;
  /** Peer TLS (https:// peer URLs): PEM contents. */
  peerTls: TlsFiles | undefined;
  /** etcd flags given a value that has no effect here, and why (logged at start). */
  inert: { flag: string; value: string; reason: string }[];
}

/**
 * TLS material, read from the files the flags name. `clientCertAuth`: require and verify client certificates;
 * `crl`: a revocation list whose certificates are refused.
 */
export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
  ca: Buffer | undefined;
  crl?: Buffer;
  clientCertAuth: boolean;
  /** Node `ciphers` from --cipher-suites (TLS 1.2 suites named there, TLS 1.3 defaults). */
  ciphers?: string;
  /** Accept only client certificates with this common name (etcd's --peer-cert-allowed-cn). */
  allowedCN?: string;
  /** Accept only client certificates valid for this host name (--client-cert-allowed-hostname, --peer-cert-allowed-hostname). */
  allowedHostname?: string;
  /**
   * Made by --auto-tls / --peer-auto-tls (`self-cert.ts`). Nothing can verify it, so, as etcd, a member dialing its
   * peers with such a certificate does not verify theirs.
   */
  selfSigned?: boolean;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export { FLAGS };

export function usage(): string {
  const lines = ['Usage: latchkey [flags]', '', 'A Raft-replicated key-value server that speaks etcd\'s v3 API.', '', 'Flags:'];
  for (const [name, spec] of Object.entries(FLAGS)) {
    const def = spec.default !== undefined && spec.default !== '' && spec.type === 'string' ? ` (default "${spec.default}")` : spec.default === 'true' ? ' (default true)' : '';
    const note = spec.inert ? ` No effect: ${spec.inert}.` : spec.refused ? ` Refused: ${spec.refused}.` : '';
    lines.push(`  --${name}${spec.type === 'string' ? ' <value>' : ''}`, `      ${spec.help}${def}${note}`);
  }
  lines.push(
    '',
    'Every flag can also be set with an environment variable: --data-dir as LATCHKEY_DATA_DIR or ETCD_DATA_DIR, and so on.',
    'Flags marked "no effect" are taken for etcd compatibility and change nothing; flags marked "refused" are accepted only at their default.',
  );
  return lines.join('\n');
}

/** --auth-token: undefined for simple tokens, else the JWT options (key files read). */
function jwtOptions(v: string): JwtOptions | undefined {
  if (v === 'simple') return undefined;
  try {
    return parseJwtOption(v, goDurationMs);
  } catch (err) {
    throw new ConfigError(`--auth-token: ${(err as Error).message}`);
  }
}

/** Go's strconv.ParseBool, which etcd's boolean flags and environment variables go through. */
function goBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

/** Parses argv (without node and script) and the environment. Throws ConfigError on bad input. */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): { config?: Config; version?: boolean; help?: boolean } {
  // Go's flag package accepts -flag as well as --flag, and --bool=value (any ParseBool spelling) for booleans.
  const args: string[] = [];
  const bools = new Map<string, boolean>();
  for (const raw of argv) {
    const a = /^-[a-z]/.test(raw) ? `-${raw}` : raw;
    const m = /^--([a-z0-9-]+)=(.*)$/s.exec(a);
    if (m && FLAGS[m[1]!]?.type === 'boolean') {
      const b = goBool(m[2]!);
      if (b === undefined) throw new ConfigError(`invalid boolean value "${m[2]}" for -${m[1]}: parse error`);
      bools.set(m[1]!, b);
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
  for (const [k, b] of bools) values[k] = b;
  if (values['help']) return { help: true };
  if (values['version']) return { version: true };
  // As in etcd, a configuration file replaces the command line and the environment entirely.
  const configFile = typeof values['config-file'] === 'string' ? values['config-file'] : env['LATCHKEY_CONFIG_FILE'] || env['ETCD_CONFIG_FILE'];
  if (configFile) {
    const { args: fileArgs, ignored } = configFileArgs(configFile);
    const parsed = parseConfig(fileArgs, {});
    for (const key of ignored) parsed.config!.inert.push({ flag: key, value: '(in the configuration file)', reason: 'not a key latchkey knows; ignored, as etcd ignores unknown keys' });
    return parsed;
  }

  /** A flag's value as text, and whether it was given (command line or environment) rather than defaulted. */
  const lookup = (name: string): { value: string; given: boolean } => {
    const v = values[name];
    if (typeof v === 'string') return { value: v, given: true };
    if (typeof v === 'boolean') return { value: String(v), given: true };
    const suffix = name.toUpperCase().replace(/-/g, '_');
    for (const prefix of ['LATCHKEY_', 'ETCD_']) {
      const e = env[prefix + suffix];
      if (e === undefined || e === '') continue;
      if (FLAGS[name]?.type === 'boolean') {
        const b = goBool(e);
        if (b === undefined) throw new ConfigError(`invalid boolean value "${e}" for ${prefix}${suffix}: parse error`);
        return { value: String(b), given: true };
      }
      return { value: e, given: true };
    }
    return { value: FLAGS[name]?.default ?? '', given: false };
  };
  const inert: Config['inert'] = [];
  for (const [flagName, spec] of Object.entries(FLAGS)) {
    const { value, given } = lookup(flagName);
    if (!given) continue;
    const problem = spec.check?.(value);
    if (problem !== undefined) throw new ConfigError(`--${flagName}: ${problem}`);
    if (value === (spec.default ?? '')) continue;
    if (spec.refused) throw new ConfigError(`--${flagName}=${value}: not supported (${spec.refused})`);
    if (spec.inert) inert.push({ flag: flagName, value, reason: spec.inert });
  }
  const get = (name: string): string => lookup(name).value;
  const flag = (name: string): boolean => lookup(name).value === 'true';
  const int = (name: string): number => Number(get(name));
  const name = get('name');
  const list = (flagName: string): string[] =>
    get(flagName)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  const urls = (flagName: string): string[] => list(flagName).map((u) => u.replace(/\/$/, ''));
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
  const mode = get('auto-compaction-mode') as Config['autoCompactionMode'];
  try {
    parseRetention(mode, get('auto-compaction-retention'));
  } catch (err) {
    throw new ConfigError(`--auto-compaction-retention: ${(err as Error).message}`);
  }
  const read = (f: string, p: string): Buffer => {
    try {
      return readFileSync(p);
    } catch (err) {
      throw new ConfigError(`--${f}: cannot read ${p}: ${(err as Error).message}`);
    }
  };
  let ciphers: string | undefined;
  try {
    ciphers = list('cipher-suites').length > 0 ? opensslCiphers(list('cipher-suites')) : undefined;
  } catch (err) {
    throw new ConfigError(`--cipher-suites: ${(err as Error).message}`);
  }
  const dataDir = get('data-dir') || `${name}.latchkey`;
  const tls = (prefix: '' | 'peer-', caFlag: string, authFlag: string, urlFlags: string[]): TlsFiles | undefined => {
    const certFlag = `${prefix}cert-file`;
    const keyFlag = `${prefix}key-file`;
    const crlFlag = `${prefix === '' ? 'client-' : prefix}crl-file`;
    const autoFlag = `${prefix}auto-tls`;
    const cert = get(certFlag);
    const key = get(keyFlag);
    const ca = get(caFlag);
    const crl = get(crlFlag);
    const needed = urlFlags.some((f) => get(f).includes('https://'));
    if (!cert && !key && flag(autoFlag)) {
      // As etcd: a certificate of our own in <data-dir>/fixtures/{client,peer}, made once, for the listen URLs' hosts.
      const hosts = urls(urlFlags[0]!).map((u) => new URL(u).host);
      let made: SelfCert;
      try {
        made = selfCert(join(dataDir, 'fixtures', prefix === '' ? 'client' : 'peer'), hosts);
      } catch (err) {
        throw new ConfigError(`--${autoFlag}: cannot create the certificate: ${(err as Error).message}`);
      }
      return { cert: made.cert, key: made.key, ca: undefined, clientCertAuth: false, selfSigned: true, ...(ciphers ? { ciphers } : {}) };
    }
    if (flag(autoFlag)) inert.push({ flag: autoFlag, value: 'true', reason: `ignored since --${certFlag} and --${keyFlag} are given (as etcd)` });
    if (!cert && !key) {
      if (needed) throw new ConfigError(`--${urlFlags[0]}: https URLs need --${certFlag} and --${keyFlag}`);
      if (crl) throw new ConfigError(`--${crlFlag} needs --${certFlag} and --${keyFlag}`);
      return undefined;
    }
    if (!cert || !key) throw new ConfigError(`--${certFlag} and --${keyFlag} must be given together`);
    const clientCertAuth = flag(authFlag);
    if (clientCertAuth && !ca) throw new ConfigError(`--${authFlag} needs --${caFlag}`);
    const allowedCN = prefix === 'peer-' ? get('peer-cert-allowed-cn') : '';
    const allowedHostname = get(`${prefix === '' ? 'client-' : prefix}cert-allowed-hostname`);
    for (const [f, v] of [['peer-cert-allowed-cn', allowedCN], [`${prefix === '' ? 'client-' : prefix}cert-allowed-hostname`, allowedHostname]] as const) {
      if (v && !clientCertAuth) throw new ConfigError(`--${f} needs --${authFlag}`);
    }
    return {
      cert: read(certFlag, cert),
      key: read(keyFlag, key),
      ca: ca ? read(caFlag, ca) : undefined,
      ...(crl ? { crl: read(crlFlag, crl) } : {}),
      clientCertAuth,
      ...(ciphers ? { ciphers } : {}),
      ...(allowedCN ? { allowedCN } : {}),
      ...(allowedHostname ? { allowedHostname } : {}),
    };
  };
  const clientTls = tls('', 'trusted-ca-file', 'client-cert-auth', ['listen-client-urls', 'advertise-client-urls']);
  // Go's HTTP/2 (and so etcd's client listener) needs an AES-128-GCM suite among the TLS 1.2 ones.
  const suites = list('cipher-suites');
  if (clientTls && suites.length > 0 && !suites.some((n) => n === 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256' || n === 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256')) {
    throw new ConfigError('--cipher-suites: http2: TLSConfig.CipherSuites is missing an HTTP/2-required AES_128_GCM_SHA256 cipher (need at least one of TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 or TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)');
  }
  const peerTls = tls('peer-', 'peer-trusted-ca-file', 'peer-client-cert-auth', ['listen-peer-urls', 'initial-advertise-peer-urls']);
  const heartbeatInterval = int('heartbeat-interval');
  const electionTimeout = int('election-timeout');
  if (electionTimeout < 5 * heartbeatInterval) {
    throw new ConfigError(`--election-timeout[${electionTimeout}ms] should be at least as 5 times as --heartbeat-interval[${heartbeatInterval}ms]`);
  }
  const logOutputs = list('log-outputs').map((o) => (o === 'default' ? 'stderr' : o));
  if (logOutputs.length === 0) throw new ConfigError('--log-outputs: no output given');
  return {
    config: {
      name,
      dataDir,
      walDir: get('wal-dir') || join(dataDir, 'member', 'wal'),
      listenClientUrls: urls('listen-client-urls').map((u) => new URL(u)),
      advertiseClientUrls: urls('advertise-client-urls'),
      listenPeerUrls: urls('listen-peer-urls').map((u) => new URL(u)),
      initialAdvertisePeerUrls: peerUrls,
      initialCluster,
      initialClusterState: get('initial-cluster-state') as Config['initialClusterState'],
      initialClusterToken: get('initial-cluster-token'),
      heartbeatInterval,
      electionTimeout,
      preVote: flag('pre-vote'),
      strictReconfigCheck: flag('strict-reconfig-check'),
      initialCorruptCheck: flag('experimental-initial-corrupt-check'),
      forceNewCluster: flag('force-new-cluster'),
      corruptCheckTimeMs: goDurationMs(get('experimental-corrupt-check-time'))!,
      autoCompactionMode: mode,
      autoCompactionRetention: get('auto-compaction-retention'),
      quotaBackendBytes: int('quota-backend-bytes'),
      maxRequestBytes: int('max-request-bytes'),
      maxTxnOps: int('max-txn-ops'),
      maxConcurrentStreams: int('max-concurrent-streams'),
      snapshotCount: int('snapshot-count'),
      backendBatchIntervalMs: goDurationMs(get('backend-batch-interval') || '0')! || 100,
      backendBatchLimit: int('backend-batch-limit') || 10_000,
      snapshotCatchupEntries: int('experimental-snapshot-catchup-entries'),
      watchProgressNotifyIntervalMs: goDurationMs(get('experimental-watch-progress-notify-interval'))!,
      warningApplyDurationMs: goDurationMs(get('experimental-warning-apply-duration'))!,
      authTokenTtlMs: int('auth-token-ttl') * 1000,
      bcryptCost: int('bcrypt-cost'),
      jwt: jwtOptions(get('auth-token')),
      logLevel: flag('debug') ? 'debug' : (get('log-level') as Config['logLevel']),
      logOutputs,
      listenMetricsUrls: urls('listen-metrics-urls').map((u) => new URL(u)),
      cors: list('cors'),
      hostWhitelist: list('host-whitelist'),
      clientTls,
      peerTls,
      inert,
    },
  };
}

/** Keys of etcd's configuration file that are not flag names, and the flag each stands for. */
const FILE_KEYS: Record<string, string> = { 'log-output': 'log-outputs' };
/** The keys of etcd's `client-transport-security` / `peer-transport-security` blocks, and their flags. */
const TLS_KEYS: Record<string, [client: string, peer: string]> = {
  'cert-file': ['cert-file', 'peer-cert-file'],
  'key-file': ['key-file', 'peer-key-file'],
  'client-cert-auth': ['client-cert-auth', 'peer-client-cert-auth'],
  'trusted-ca-file': ['trusted-ca-file', 'peer-trusted-ca-file'],
  'auto-tls': ['auto-tls', 'peer-auto-tls'],
  'crl-file': ['client-crl-file', 'peer-crl-file'],
};

/**
 * etcd's YAML configuration file (`--config-file`) as the command line it stands for: keys are flag names, lists
 * are joined with commas, empty values leave the default, and the two transport-security blocks hold the TLS
 * flags. Keys latchkey does not know are returned in `ignored` (etcd ignores them).
 */
function configFileArgs(path: string): { args: string[]; ignored: string[] } {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`--config-file: cannot read ${path}: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) doc = {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`--config-file: ${path} is not a mapping of settings`);
  const args: string[] = [];
  const ignored: string[] = [];
  const add = (flag: string, value: unknown, key: string): void => {
    if (value === null || value === undefined || value === '') return;
    if (!(flag in FLAGS) || flag === 'config-file') {
      ignored.push(key);
      return;
    }
    const text = Array.isArray(value) ? value.map(String).join(',') : typeof value === 'object' ? undefined : String(value);
    if (text === undefined) throw new ConfigError(`--config-file: ${key}: expected a value, not a mapping`);
    args.push(`--${flag}=${text}`);
  };
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    const side = key === 'client-transport-security' ? 0 : key === 'peer-transport-security' ? 1 : undefined;
    if (side === undefined) {
      add(FILE_KEYS[key] ?? key, value, key);
      continue;
    }
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`--config-file: ${key}: expected a mapping`);
    for (const [sub, v] of Object.entries(value as Record<string, unknown>)) {
      const flag = TLS_KEYS[sub]?.[side];
      if (flag) add(flag, v, `${key}.${sub}`);
      else if (v !== null && v !== undefined && v !== '') ignored.push(`${key}.${sub}`);
    }
  }
  return { args, ignored };
}
