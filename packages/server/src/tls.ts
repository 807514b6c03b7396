import type { TlsOptions } from 'node:tls';
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
    requestCert: tls.clientCertAuth,
    rejectUnauthorized: tls.clientCertAuth,
  };
}
