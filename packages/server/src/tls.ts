import { isIP } from 'node:net';
import { checkServerIdentity, type TLSSocket, type TlsOptions } from 'node:tls';
import type { TlsFiles } from './config.js';

/**
 * Node TLS server options for a listener (client port, metrics port, peer port) from the files the flags name.
 * With `clientCertAuth`, a connecting side must present a certificate signed by `ca` and not revoked by `crl`.
 */
export function tlsServerOptions(tls: TlsFiles): TlsOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    ...(tls.ca ? { ca: tls.ca } : {}),
    ...(tls.crl ? { crl: tls.crl } : {}),
    ...(tls.ciphers ? { ciphers: tls.ciphers } : {}),
    requestCert: tls.clientCertAuth,
    rejectUnauthorized: tls.clientCertAuth,
  };
}

/** What `tlsDialOptions` returns: a subset of Node's `ConnectionOptions`. */
export interface DialTls {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  ciphers?: string;
  servername?: string;
  rejectUnauthorized: boolean;
}

/**
 * Node TLS options for dialing a peer at `host` (Raft streams, peer RPCs) with our peer certificate. The peer's
 * certificate is verified against `ca` (the system's roots without one), except when ours was made by
 * --peer-auto-tls, as etcd does.
 */
export function tlsDialOptions(tls: TlsFiles, host: string): DialTls {
  return {
    cert: tls.cert,
    key: tls.key,
    ...(tls.ca ? { ca: tls.ca } : {}),
    ...(tls.ciphers ? { ciphers: tls.ciphers } : {}),
    ...(isIP(host) ? {} : { servername: host }),
    rejectUnauthorized: !tls.selfSigned,
  };
}

/**
 * Why the certificate a connecting side presented is not allowed (--peer-cert-allowed-cn, --*-cert-allowed-hostname),
 * or undefined when it is (or no restriction is set). The chain itself was verified by the handshake.
 */
export function certificateRefusal(socket: TLSSocket, tls: TlsFiles): string | undefined {
  if (tls.allowedCN === undefined && tls.allowedHostname === undefined) return undefined;
  const cert = socket.getPeerCertificate();
  if (tls.allowedCN !== undefined && cert.subject?.CN !== tls.allowedCN) return `CommonName authentication failed (want ${tls.allowedCN})`;
  if (tls.allowedHostname !== undefined && checkServerIdentity(tls.allowedHostname, cert) !== undefined) return `certificate is not valid for ${tls.allowedHostname}`;
  return undefined;
}

/** Go's TLS 1.2 cipher-suite names (etcd's --cipher-suites) and OpenSSL's names for the same suites. */
const GO_CIPHER_SUITES: Record<string, string> = {
  TLS_RSA_WITH_3DES_EDE_CBC_SHA: 'DES-CBC3-SHA',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_CBC_SHA256: 'AES128-SHA256',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA: 'ECDHE-RSA-DES-CBC3-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: 'ECDHE-ECDSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: 'ECDHE-RSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
};
/** Go's TLS 1.3 suites: accepted in the list, but Go (and so etcd) does not let them be configured. */
const GO_TLS13_SUITES = new Set(['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']);
/** OpenSSL's TLS 1.3 suites, kept enabled whatever --cipher-suites says (as in Go). */
const TLS13_DEFAULT = 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256';

/**
 * --cipher-suites (Go names, comma-separated) as a Node `ciphers` string: the TLS 1.2 suites named, and TLS 1.3's
 * defaults, since Go applies the list to TLS 1.2 and below only. Throws with etcd's message for an unknown name.
 */
export function opensslCiphers(goNames: readonly string[]): string {
  const out: string[] = [];
  for (const n of goNames) {
    if (GO_TLS13_SUITES.has(n)) continue;
    const o = GO_CIPHER_SUITES[n];
    if (o === undefined) throw new Error(`unexpected TLS cipher suite "${n}"`);
    if (!out.includes(o)) out.push(o);
  }
  return [TLS13_DEFAULT, ...out].join(':');
}
