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
    requestCert: tls.clientCertAuth,
    rejectUnauthorized: tls.clientCertAuth,
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
