import { createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

/**
 * Self-signed certificates for `--auto-tls` and `--peer-auto-tls`, made as etcd 3.4's `transport.SelfCert` makes
 * them: in `<data-dir>/fixtures/client` (or `/peer`), `cert.pem` and `key.pem` (an "EC PRIVATE KEY", P-521),
 * reused when both exist; subject O=etcd; valid for a year from creation; key usage digital signature and key
 * encipherment, extended key usage server authentication; not a CA; the listen URLs' hosts as subject
 * alternative names (IP addresses as IPs, anything else as DNS names). Signed with ECDSA and SHA-512, as Go signs
 * with a P-521 key.
 *
 * Nobody can verify such a certificate, so a member that generated its peer certificate does not verify its
 * peers' either (as etcd), and clients connect with `--insecure-skip-tls-verify`.
 *
 * Node has no certificate builder; the DER below is written from X.509's structure (RFC 5280 §4.1):
 *
 *   Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
 *   TBSCertificate ::= SEQUENCE { [0] version(v3 = 2), serialNumber, signature, issuer, validity, subject,
 *                                 subjectPublicKeyInfo, [3] extensions }
 */

export interface SelfCert {
  cert: Buffer;
  key: Buffer;
  /** True when this call wrote the files (false: they were there already). */
  created: boolean;
}

/** Loads `cert.pem`/`key.pem` from `dir`, or makes them for `hosts` (host or host:port). */
export function selfCert(dir: string, hosts: readonly string[], now = new Date()): SelfCert {
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  if (existsSync(certPath) && existsSync(keyPath)) return { cert: readFileSync(certPath), key: readFileSync(keyPath), created: false };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-521' });
  const der = certificateDer(privateKey, hosts, now);
  const cert = Buffer.from(pem('CERTIFICATE', der));
  const key = Buffer.from(privateKey.export({ type: 'sec1', format: 'pem' }) as string);
  writeFileSync(certPath, cert);
  writeFileSync(keyPath, key, { mode: 0o600 });
  return { cert, key, created: true };
}

/** The hosts of URLs' `host:port` (brackets of IPv6 literals removed). */
export function hostOf(hostPort: string): string {
  const m = /^\[(.*)\](?::\d+)?$/.exec(hostPort);
  if (m) return m[1]!;
  const i = hostPort.lastIndexOf(':');
  return i >= 0 && hostPort.indexOf(':') === i ? hostPort.slice(0, i) : hostPort;
}

const OID = {
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  organization: '2.5.4.10',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  basicConstraints: '2.5.29.19',
  subjectAltName: '2.5.29.17',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};

/** The DER of a self-signed certificate for `key`'s public half. */
export function certificateDer(key: KeyObject, hosts: readonly string[], now: Date): Buffer {
  const notAfter = new Date(now.getTime() + 365 * 24 * 3600 * 1000);
  const name = seq(set(seq(oid(OID.organization), tlv(0x0c, Buffer.from('etcd')))));
  const algorithm = seq(oid(OID.ecdsaWithSha512));
  const altNames: Buffer[] = [];
  for (const h of hosts.map(hostOf)) {
    const family = isIP(h);
    if (family !== 0) altNames.push(tlv(0x87, ipBytes(h, family))); // [7] iPAddress
    else if (h !== '') altNames.push(tlv(0x82, Buffer.from(h, 'ascii'))); // [2] dNSName
  }
  const extensions = [
    extension(OID.keyUsage, true, bitString(Buffer.from([0xa0]), 5)), // digitalSignature (0), keyEncipherment (2)
    extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth))),
    extension(OID.basicConstraints, true, seq()), // cA defaults to false
    ...(altNames.length > 0 ? [extension(OID.subjectAltName, false, seq(...altNames))] : []),
  ];
  const serial = randomBytes(16);
  serial[0]! &= 0x7f; // a positive INTEGER below 2^128, as Go's
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))), // [0] EXPLICIT version v3
    integer(serial),
    algorithm,
    name,
    seq(time(now), time(notAfter)),
    name,
    createPublicKey(key).export({ type: 'spki', format: 'der' }),
    tlv(0xa3, seq(...extensions)), // [3] EXPLICIT extensions
  );
  const signature = sign('sha512', tbs, key); // DER-encoded ECDSA (r, s)
  return seq(tbs, algorithm, bitString(signature, 0));
}

function pem(label: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

// ------------------------------------------------------------------------------------------------ DER encoding

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, content]);
}

function seq(...items: Buffer[]): Buffer {
  return tlv(0x30, Buffer.concat(items));
}

function set(...items: Buffer[]): Buffer {
  return tlv(0x31, Buffer.concat(items));
}

/** A non-negative INTEGER from big-endian bytes (minimal: no leading zero unless the high bit needs one). */
function integer(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0 && (bytes[i + 1]! & 0x80) === 0) i++;
  const b = bytes.subarray(i);
  return tlv(0x02, (b[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const groups: number[] = [];
    for (let v = p; ; v = Math.floor(v / 128)) {
      groups.unshift((v & 0x7f) | (groups.length > 0 ? 0x80 : 0));
      if (v < 128) break;
    }
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}

function bitString(bytes: Buffer, unusedBits: number): Buffer {
  return tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), bytes]));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), tlv(0x04, value));
}

/** UTCTime before 2050, GeneralizedTime from then on (RFC 5280 §4.1.2.5). */
function time(d: Date): Buffer {
  const iso = d.toISOString(); // 2026-12-02T01:23:45.678Z
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(digits.slice(2))) : tlv(0x18, Buffer.from(digits));
}

function ipBytes(ip: string, family: number): Buffer {
  if (family === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand "::" and write the eight 16-bit groups (a trailing dotted IPv4 part is not expected here).
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), 2 * i));
  return out;
}
