/**
 * The server's command line: every flag etcd 3.4's `etcd` takes, under etcd's name and with etcd's default, plus
 * the few later etcd flags latchkey honors. A flag is one of three kinds, so that an etcd command line or
 * environment either means the same thing here or fails loudly:
 *  - honored (no mark): it does what it does in etcd;
 *  - `inert`: validated as etcd validates it, then it changes nothing, because the thing it tunes does not exist
 *    in latchkey (a Go profiler, bbolt's freelist, capnslog). Set explicitly, it is named in a startup log line;
 *  - `refused`: accepted at etcd's default value only; any other value stops the server with the reason (a
 *    feature latchkey does not have, such as the v2 API, proxy mode or discovery).
 * Checks run on given values only (etcd's defaults are valid by definition, even where etcd shows them as ''). Test:
 * `flags.test.ts` checks this table against the flags of the real `etcd --help`.
 */

export interface FlagSpec {
  type: 'string' | 'boolean';
  /** etcd's default as text (booleans: 'true' / 'false'). Absent: computed (see the help). */
  default?: string;
  help: string;
  /** Checks a value; returns what is wrong with it (the message after `--flag: `), or undefined. */
  check?: (value: string) => string | undefined;
  /** Why the flag changes nothing in latchkey. */
  inert?: string;
  /** Why any value but the default is refused. */
  refused?: string;
}

/** A non-negative decimal integer, optionally within bounds. */
export function intCheck(min = 0, max = Number.MAX_SAFE_INTEGER): (v: string) => string | undefined {
  return (v) => {
    if (!/^\d+$/.test(v)) return `invalid value "${v}": expected a non-negative integer`;
    const n = Number(v);
    if (n < min || n > max) return max === Number.MAX_SAFE_INTEGER ? `must be at least ${min}` : `must be between ${min} and ${max}`;
    return undefined;
  };
}

export function oneOf(...allowed: string[]): (v: string) => string | undefined {
  return (v) => (allowed.includes(v) ? undefined : `invalid value "${v}" (one of: ${allowed.join(', ')})`);
}

const DURATION_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration ("100ms", "1.5s", "1m30s", "0") in milliseconds; undefined if Go's time.ParseDuration would refuse it. */
export function goDurationMs(v: string): number | undefined {
  if (v === '0') return 0;
  let ms = 0;
  const rest = v.replace(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gy, (_m, n: string, unit: string) => {
    ms += Number(n) * DURATION_MS[unit]!;
    return '';
  });
  return v === '' || rest !== '' ? undefined : ms;
}

export const durationCheck = (v: string): string | undefined => (goDurationMs(v) === undefined ? `invalid value "${v}": time: invalid duration "${v}"` : undefined);

/** Comma-separated http(s) URLs with a port ('' allowed: none). */
export const urlsCheck = (v: string): string | undefined => {
  for (const u of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      return `invalid URL "${u}"`;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return `URL scheme must be http or https: "${u}"`;
    if (!url.port) return `URL must have a port: "${u}"`;
  }
  return undefined;
};

/** etcd's --cors / --host-whitelist: '*' or comma-separated entries, each a host:port or scheme://host:port. */
const originsCheck = (v: string): string | undefined => {
  for (const o of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (o === '*') continue;
    if (!/^([a-z][a-z0-9+.-]*:\/\/)?[^/:\s]+(:\d+)?$/i.test(o)) return `invalid value "${o}"`;
  }
  return undefined;
};

const NOT_BBOLT = 'latchkey stores its data in LMDB, not bbolt';

export const FLAGS: Record<string, FlagSpec> = {
  // ------------------------------------------------------------------ member
  name: { type: 'string', default: 'default', help: 'Human-readable name for this member.' },
  'data-dir': { type: 'string', help: 'Path to the data directory (default "<name>.latchkey").' },
  'wal-dir': { type: 'string', default: '', help: 'Keep the write-ahead log in this directory instead of <data-dir>/member/wal (a separate disk for the log).' },
  'snapshot-count': { type: 'string', default: '100000', check: intCheck(1), help: 'Committed entries between two snapshots of the state (the Raft log is trimmed behind each).' },
  'heartbeat-interval': { type: 'string', default: '100', check: intCheck(1), help: 'Time (in milliseconds) of a heartbeat interval.' },
  'election-timeout': { type: 'string', default: '1000', check: intCheck(1), help: 'Time (in milliseconds) for an election to timeout.' },
  'initial-election-tick-advance': {
    type: 'boolean',
    default: 'true',
    help: "Start a booting member's election clock close to its timeout, as etcd does.",
    inert: "latchkey's election clock starts at zero; a lost leader is replaced at once through pre-vote instead",
  },
  'listen-peer-urls': { type: 'string', default: 'http://localhost:2380', check: urlsCheck, help: 'List of URLs to listen on for peer traffic.' },
  'listen-client-urls': { type: 'string', default: 'http://localhost:2379', check: urlsCheck, help: 'List of URLs to listen on for client traffic (gRPC and the JSON gateway).' },
  'max-snapshots': { type: 'string', default: '5', check: intCheck(), help: 'Snapshot files to keep (0: all).', inert: 'latchkey keeps no snapshot files: its backend is the snapshot' },
  'max-wals': { type: 'string', default: '5', check: intCheck(), help: 'WAL files to keep (0: all).', inert: 'latchkey deletes a WAL segment as soon as a snapshot covers it' },
  'quota-backend-bytes': { type: 'string', default: '0', check: intCheck(), help: 'Raise alarms when backend size exceeds the given quota. 0 means use the default quota (2 GiB).' },
  'backend-batch-interval': { type: 'string', default: '', check: durationCheck, help: 'Longest time before applied writes are committed to the backend (a Go duration; 0: 100ms).' },
  'backend-batch-limit': { type: 'string', default: '0', check: intCheck(), help: 'Applied writes that start a backend commit early (0: 10000).' },
  'max-txn-ops': { type: 'string', default: '128', check: intCheck(1), help: 'Maximum number of operations permitted in a transaction.' },
  'max-request-bytes': { type: 'string', default: '1572864', check: intCheck(1), help: 'Maximum client request size in bytes the server will accept.' },
  'max-concurrent-streams': { type: 'string', default: '4294967295', check: intCheck(1, 2 ** 32 - 1), help: 'Most concurrent streams (calls) one client connection may have open (etcd shows the default as math.MaxUint32).' },
  'grpc-keepalive-min-time': { type: 'string', default: '5s', check: durationCheck, help: 'Shortest interval a client should wait between keepalive pings.', inert: 'latchkey answers client pings at any rate' },
  'grpc-keepalive-interval': { type: 'string', default: '2h', check: durationCheck, help: 'How often the server pings an idle client connection.', inert: 'latchkey does not ping clients; TCP and the clients’ own pings detect dead connections' },
  'grpc-keepalive-timeout': { type: 'string', default: '20s', check: durationCheck, help: 'How long the server waits for a ping answer before closing the connection.', inert: 'latchkey does not ping clients' },

  // ------------------------------------------------------------------ clustering
  'initial-advertise-peer-urls': { type: 'string', default: 'http://localhost:2380', check: urlsCheck, help: "List of this member's peer URLs to advertise to the rest of the cluster." },
  'initial-cluster': { type: 'string', help: 'Initial cluster configuration for bootstrapping, e.g. "m1=http://10.0.0.1:2380,m2=…" (default "<name>=<initial-advertise-peer-urls>").' },
  'initial-cluster-state': { type: 'string', default: 'new', check: oneOf('new', 'existing'), help: 'Initial cluster state ("new" or "existing").' },
  'initial-cluster-token': { type: 'string', default: 'etcd-cluster', help: 'Initial cluster token for the cluster during bootstrap.' },
  'advertise-client-urls': { type: 'string', default: 'http://localhost:2379', check: urlsCheck, help: "List of this member's client URLs to advertise to the rest of the cluster." },
  discovery: { type: 'string', default: '', help: 'Discovery URL used to bootstrap the cluster.', refused: 'discovery is not implemented: bootstrap with --initial-cluster' },
  'discovery-fallback': { type: 'string', default: 'proxy', check: oneOf('exit', 'proxy'), help: 'What to do when discovery fails.', inert: 'discovery is not implemented' },
  'discovery-proxy': { type: 'string', default: '', help: 'HTTP proxy for the discovery service.', refused: 'discovery is not implemented' },
  'discovery-srv': { type: 'string', default: '', help: 'DNS domain whose SRV records bootstrap the cluster.', refused: 'DNS discovery is not implemented: bootstrap with --initial-cluster' },
  'discovery-srv-name': { type: 'string', default: '', help: 'Suffix of the DNS SRV name queried for discovery.', refused: 'DNS discovery is not implemented' },
  'strict-reconfig-check': {
    type: 'boolean',
    default: 'true',
    help: 'Refuse a membership change that could leave the cluster without a quorum of connected voters.',
  },
  'pre-vote': {
    type: 'boolean',
    default: 'true',
    help: 'Campaign in two phases so that a member cut off from the cluster cannot disrupt it when it comes back (etcd 3.4 defaults to false, 3.5 to true). Without it, survivors do not start an election early when the leader process dies.',
  },
  'auto-compaction-retention': { type: 'string', default: '0', help: 'Auto compaction retention for mvcc key value store. 0 means disable auto compaction.' },
  'auto-compaction-mode': { type: 'string', default: 'periodic', check: oneOf('periodic', 'revision'), help: 'Interpret auto-compaction-retention as "periodic" (a duration) or "revision" (a count).' },
  'enable-v2': { type: 'boolean', default: 'false', help: 'Serve the v2 API.', refused: 'latchkey serves the v3 API only' },
  'experimental-enable-v2v3': { type: 'string', default: '', help: 'Serve the v2 API from the v3 store under this prefix.', refused: 'latchkey serves the v3 API only' },
  'experimental-snapshot-catchup-entries': { type: 'string', default: '5000', check: intCheck(), help: 'Entries kept in the Raft log behind a snapshot, for slow followers to catch up without a snapshot (etcd 3.5).' },

  // ------------------------------------------------------------------ security
  'cert-file': { type: 'string', default: '', help: 'Path to the client server TLS cert file.' },
  'key-file': { type: 'string', default: '', help: 'Path to the client server TLS key file.' },
  'client-cert-auth': { type: 'boolean', default: 'false', help: 'Enable client cert authentication.' },
  'client-crl-file': { type: 'string', default: '', help: 'Path to a PEM certificate revocation list: client certificates it names are refused.' },
  'client-cert-allowed-hostname': { type: 'string', default: '', help: 'With --client-cert-auth: accept only client certificates valid for this host name (their subject alternative names).' },
  'trusted-ca-file': { type: 'string', default: '', help: 'Path to the client server TLS trusted CA cert file.' },
  'auto-tls': { type: 'boolean', default: 'false', help: 'Serve clients with a generated self-signed certificate.' },
  'peer-cert-file': { type: 'string', default: '', help: 'Path to the peer server TLS cert file.' },
  'peer-key-file': { type: 'string', default: '', help: 'Path to the peer server TLS key file.' },
  'peer-client-cert-auth': { type: 'boolean', default: 'false', help: 'Enable peer client cert authentication.' },
  'peer-trusted-ca-file': { type: 'string', default: '', help: 'Path to the peer server TLS trusted CA file.' },
  'peer-cert-allowed-cn': { type: 'string', default: '', help: 'With --peer-client-cert-auth: accept only peer certificates with this common name.' },
  'peer-cert-allowed-hostname': { type: 'string', default: '', help: 'With --peer-client-cert-auth: accept only peer certificates valid for this host name.' },
  'peer-auto-tls': { type: 'boolean', default: 'false', help: 'Talk to peers with a generated self-signed certificate.' },
  'peer-crl-file': { type: 'string', default: '', help: 'Path to a PEM certificate revocation list: peer certificates it names are refused.' },
  'cipher-suites': { type: 'string', default: '', help: "TLS 1.2 cipher suites (Go's names, comma-separated) allowed between server and clients and between peers; TLS 1.3 keeps its defaults, as in Go." },
  cors: { type: 'string', default: '*', check: originsCheck, help: 'Origins allowed to call the JSON gateway from a browser (CORS): comma-separated, or * for any.' },
  'host-whitelist': { type: 'string', default: '*', check: originsCheck, help: 'Host header values a plain-HTTP gateway request may carry (DNS rebinding protection): comma-separated, or * for any.' },
  'experimental-peer-skip-client-san-verification': { type: 'boolean', default: 'false', help: "Skip the check of a peer client certificate's SAN against its address.", inert: "latchkey does not check a peer client certificate's SANs" },

  // ------------------------------------------------------------------ auth
  'auth-token': {
    type: 'string',
    default: 'simple',
    help: 'The token provider: simple (tokens held by the members), or jwt,pub-key=PATH,priv-key=PATH,sign-method=RS256|PS256|ES256|HS256 (384, 512 too),ttl=DURATION (signed, self-contained tokens).',
    check: (v) => (v === 'simple' || v === 'jwt' || v.startsWith('jwt,') ? undefined : `invalid value "${v}" (simple or jwt,…)`),
  },
  'bcrypt-cost': { type: 'string', default: '10', check: intCheck(4, 31), help: 'Cost of the bcrypt password hash.' },
  'auth-token-ttl': { type: 'string', default: '300', check: intCheck(1), help: 'Seconds a simple token stays valid after its last use.' },

  // ------------------------------------------------------------------ profiling, monitoring, logging
  'enable-pprof': { type: 'boolean', default: 'false', help: "Serve Go's runtime profiler over HTTP.", inert: 'latchkey is not a Go program: profile it with node --cpu-prof' },
  metrics: { type: 'string', default: 'basic', check: oneOf('basic', 'extensive'), help: 'Set of metrics exported: basic or extensive.', inert: 'latchkey exports the same metrics for both' },
  'listen-metrics-urls': { type: 'string', default: '', check: urlsCheck, help: 'More URLs to serve GET /metrics and GET /health on (and nothing else).' },
  logger: { type: 'string', default: 'capnslog', check: oneOf('capnslog', 'zap'), help: 'Log format family of etcd.', inert: 'latchkey writes JSON lines, as zap does' },
  'log-outputs': { type: 'string', default: 'default', help: 'Where logs go: comma-separated stderr, stdout, default (stderr) or file paths (appended to).' },
  'log-level': { type: 'string', default: 'info', check: oneOf('debug', 'info', 'warn', 'error'), help: 'Configures log level. Only supports debug, info, warn, error.' },
  debug: { type: 'boolean', default: 'false', help: 'Log at debug level (deprecated: --log-level debug).' },
  'log-package-levels': { type: 'string', default: '', help: 'Per-package log levels of capnslog.', inert: 'latchkey has one log level (--log-level)' },

  // ------------------------------------------------------------------ proxy
  proxy: { type: 'string', default: 'off', check: oneOf('off', 'readonly', 'on'), help: 'Run as a v2 proxy.', refused: 'proxy mode is not implemented' },
  'proxy-failure-wait': { type: 'string', default: '5000', check: intCheck(), help: 'Proxy: ms an endpoint stays failed.', inert: 'proxy mode is not implemented' },
  'proxy-refresh-interval': { type: 'string', default: '30000', check: intCheck(), help: 'Proxy: ms between endpoint refreshes.', inert: 'proxy mode is not implemented' },
  'proxy-dial-timeout': { type: 'string', default: '1000', check: intCheck(), help: 'Proxy: dial timeout in ms.', inert: 'proxy mode is not implemented' },
  'proxy-write-timeout': { type: 'string', default: '5000', check: intCheck(), help: 'Proxy: write timeout in ms.', inert: 'proxy mode is not implemented' },
  'proxy-read-timeout': { type: 'string', default: '0', check: intCheck(), help: 'Proxy: read timeout in ms.', inert: 'proxy mode is not implemented' },

  // ------------------------------------------------------------------ experimental
  'experimental-initial-corrupt-check': { type: 'boolean', default: 'false', help: "On a restart, compare this member's KV hash with its peers' before joining; a mismatch stops it." },
  'experimental-corrupt-check-time': { type: 'string', default: '0s', check: durationCheck, help: "Interval between the leader's comparisons of the members' KV hashes (0s: none); a divergent member raises the CORRUPT alarm, which stops all writes." },
  'experimental-backend-bbolt-freelist-type': { type: 'string', default: 'array', check: oneOf('array', 'map'), help: "bbolt's freelist type.", inert: NOT_BBOLT },
  'experimental-enable-lease-checkpoint': { type: 'boolean', default: 'false', help: "Replicate leases' remaining time, so that a new leader does not extend them.", inert: "latchkey always records leases' remaining time (every 5 s)" },
  'experimental-compaction-batch-limit': { type: 'string', default: '1000', check: intCheck(1), help: 'Keys deleted per backend transaction during a compaction.', inert: 'latchkey compacts in one backend transaction' },
  'experimental-watch-progress-notify-interval': { type: 'string', default: '10m', check: (v) => (goDurationMs(v) ? undefined : `invalid value "${v}": expected a positive duration`), help: 'Interval between progress notifications to watchers that asked for them.' },
  'experimental-warning-apply-duration': { type: 'string', default: '100ms', check: durationCheck, help: 'Log a warning when applying a batch of committed entries takes longer than this.' },
  'force-new-cluster': { type: 'boolean', default: 'false', help: 'Restart this member as the only voter of its cluster, keeping its data and id (recovery after a permanent loss of quorum; start it once with this flag).' },
  'config-file': { type: 'string', default: '', help: "Read the configuration from this YAML file (etcd's format); the command line and the environment are then ignored." },

  version: { type: 'boolean', default: 'false', help: 'Print the version and exit.' },
  help: { type: 'boolean', default: 'false', help: 'Show this help and exit.' },
};
