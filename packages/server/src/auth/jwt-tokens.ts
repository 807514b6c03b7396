import { createHmac, createPrivateKey, createPublicKey, sign, timingSafeEqual, verify, constants, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TokenProvider } from './tokens.js';

/**
 * JWT tokens (etcd's `--auth-token jwt,pub-key=…,priv-key=…,sign-method=…,ttl=…`): signed, self-contained
 * `{ username, revision, exp }` claims, so any member holding the public key (or the HMAC secret) accepts a
 * token without having seen it issued, and tokens outlive restarts. A member without the private key only
 * verifies. A token carries the auth revision it was issued at, and the guard refuses one older than the newest
 * auth change (a deleted user, a changed password) with etcd's ErrAuthOldRevision: clients then authenticate
 * again. (etcd refuses it so only for key-value requests; latchkey for every request.)
 */

const HASH = { '256': 'sha256', '384': 'sha384', '512': 'sha512' } as const;
type Family = 'RS' | 'PS' | 'ES' | 'HS';

export interface JwtOptions {
  signMethod: string;
  /** PEM public key (RS/PS/ES). */
  publicKey?: Buffer;
  /** PEM private key (RS/PS/ES), or the HMAC secret (HS). */
  privateKey?: Buffer;
  ttlMs: number;
}

/** Parses etcd's `jwt,pub-key=PATH,priv-key=PATH,sign-method=ALG,ttl=DURATION` (reads the key files). */
export function parseJwtOption(spec: string, durationMs: (v: string) => number | undefined): JwtOptions {
  const fields = new Map<string, string>();
  for (const part of spec.split(',').slice(1)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`invalid auth token option "${part}"`);
    fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  for (const k of fields.keys()) if (!['pub-key', 'priv-key', 'sign-method', 'ttl'].includes(k)) throw new Error(`unknown auth token option "${k}"`);
  const signMethod = fields.get('sign-method') ?? '';
  if (!/^(RS|PS|ES|HS)(256|384|512)$/.test(signMethod)) throw new Error(`unsupported sign-method "${signMethod}" (RS, PS, ES or HS with 256, 384 or 512)`);
  const ttlMs = fields.has('ttl') ? durationMs(fields.get('ttl')!) : 5 * 60_000;
  if (ttlMs === undefined || ttlMs <= 0) throw new Error(`invalid ttl "${fields.get('ttl')}"`);
  const read = (k: string): Buffer | undefined => (fields.has(k) ? readFileSync(fields.get(k)!) : undefined);
  const publicKey = read('pub-key');
  const privateKey = read('priv-key');
  if (signMethod.startsWith('HS') ? !privateKey : !publicKey) throw new Error(signMethod.startsWith('HS') ? 'HS sign methods need priv-key (the secret)' : 'pub-key is required');
  return { signMethod, ...(publicKey ? { publicKey } : {}), ...(privateKey ? { privateKey } : {}), ttlMs };
}

const b64 = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export class JwtTokens implements TokenProvider {
  private readonly family: Family;
  private readonly hash: string;
  private readonly verifyKey: KeyObject | Buffer;
  private readonly signKey: KeyObject | Buffer | undefined;
  readonly selfContained = true;

  constructor(private readonly opts: JwtOptions) {
    this.family = opts.signMethod.slice(0, 2) as Family;
    this.hash = HASH[opts.signMethod.slice(2) as keyof typeof HASH];
    if (this.family === 'HS') {
      this.verifyKey = opts.privateKey!;
      this.signKey = opts.privateKey;
    } else {
      this.verifyKey = createPublicKey(opts.publicKey!);
      this.signKey = opts.privateKey ? createPrivateKey(opts.privateKey) : undefined;
    }
  }

  mint(user: string, revision: bigint): string {
    if (!this.signKey) throw new Error('auth: this member has no JWT private key and cannot issue tokens');
    const nowMs = Date.now();
    // etcd's claims, in etcd's order.
    const claims = { exp: Math.floor((nowMs + this.opts.ttlMs) / 1000), revision: Number(revision), username: user };
    const head = `${b64(JSON.stringify({ alg: this.opts.signMethod, typ: 'JWT' }))}.${b64(JSON.stringify(claims))}`;
    return `${head}.${b64(this.signature(head))}`;
  }

  assign(): void {
    // Self-contained: nothing to record.
  }

  lookup(token: string): { user: string; revision: bigint } | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const [h, p, s] = parts as [string, string, string];
    let header: { alg?: unknown };
    let claims: { username?: unknown; revision?: unknown; exp?: unknown };
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString()) as typeof header;
      claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as typeof claims;
    } catch {
      return undefined;
    }
    if (header.alg !== this.opts.signMethod || !this.validSignature(`${h}.${p}`, Buffer.from(s, 'base64url'))) return undefined;
    if (typeof claims.username !== 'string' || typeof claims.exp !== 'number' || claims.exp * 1000 <= Date.now()) return undefined;
    return { user: claims.username, revision: BigInt(typeof claims.revision === 'number' ? claims.revision : 0) };
  }

  revokeUser(): void {
    // A user's change bumps the auth revision, which retires the user's tokens (see selfContained).
  }

  private signature(input: string): Buffer {
    const key = this.signKey!;
    switch (this.family) {
      case 'HS':
        return createHmac(this.hash, key as Buffer).update(input).digest();
      case 'RS':
        return sign(this.hash, Buffer.from(input), key as KeyObject);
      case 'PS':
        return sign(this.hash, Buffer.from(input), { key: key as KeyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
      case 'ES':
        return sign(this.hash, Buffer.from(input), { key: key as KeyObject, dsaEncoding: 'ieee-p1363' });
    }
  }

  private validSignature(input: string, sig: Buffer): boolean {
    try {
      switch (this.family) {
        case 'HS': {
          const want = createHmac(this.hash, this.verifyKey as Buffer).update(input).digest();
          return want.length === sig.length && timingSafeEqual(want, sig);
        }
        case 'RS':
          return verify(this.hash, Buffer.from(input), this.verifyKey as KeyObject, sig);
        case 'PS':
          return verify(this.hash, Buffer.from(input), { key: this.verifyKey as KeyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, sig);
        case 'ES':
          return verify(this.hash, Buffer.from(input), { key: this.verifyKey as KeyObject, dsaEncoding: 'ieee-p1363' }, sig);
      }
    } catch {
      return false;
    }
  }
}
