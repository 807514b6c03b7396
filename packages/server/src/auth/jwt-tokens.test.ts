import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { goDurationMs } from '../flags.js';
import { JwtTokens, parseJwtOption } from './jwt-tokens.js';

const dir = mkdtempSync(join(tmpdir(), 'latchkey-jwt-'));
function keyFiles(kind: 'rsa' | 'ec'): { pub: string; priv: string } {
  const { publicKey, privateKey } = kind === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pub = join(dir, `${kind}.pub`);
  const priv = join(dir, `${kind}.key`);
  writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  return { pub, priv };
}
const rsa = keyFiles('rsa');
const ec = keyFiles('ec');
const secret = join(dir, 'hmac.secret');
writeFileSync(secret, 'a shared secret');

const provider = (spec: string) => new JwtTokens(parseJwtOption(spec, goDurationMs));

describe('JWT tokens', () => {
  for (const [method, keys] of [
    ['RS256', `pub-key=${rsa.pub},priv-key=${rsa.priv}`],
    ['PS384', `pub-key=${rsa.pub},priv-key=${rsa.priv}`],
    ['ES256', `pub-key=${ec.pub},priv-key=${ec.priv}`],
    ['HS512', `priv-key=${secret}`],
  ] as const) {
    it(`${method}: a minted token is verified by another member with the same key, and carries its claims`, () => {
      const issuer = provider(`jwt,${keys},sign-method=${method},ttl=1m`);
      const token = issuer.mint('alice', 7n);
      expect(provider(`jwt,${keys},sign-method=${method}`).lookup(token)).toEqual({ user: 'alice', revision: 7n });
      const [h, p, sig] = token.split('.') as [string, string, string];
      expect(JSON.parse(Buffer.from(h, 'base64url').toString())).toEqual({ alg: method, typ: 'JWT' });
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as { username: string; revision: number; exp: number };
      expect([claims.username, claims.revision]).toEqual(['alice', 7]);
      expect(claims.exp * 1000 - Date.now()).toBeGreaterThan(55_000);
      // Another user's claims under this signature, or a flipped signature byte: refused.
      const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, username: 'root' })).toString('base64url')}.${sig}`;
      expect(issuer.lookup(forged)).toBeUndefined();
      const bad = Buffer.from(sig, 'base64url');
      bad[0]! ^= 1;
      expect(issuer.lookup(`${h}.${p}.${bad.toString('base64url')}`)).toBeUndefined();
    });
  }

  it('refuses an expired token, a token signed with another method, and garbage', () => {
    const rs = provider(`jwt,pub-key=${rsa.pub},priv-key=${rsa.priv},sign-method=RS256,ttl=1ms`);
    const t = rs.mint('alice', 1n);
    const until = Date.now() + 1000;
    while (Date.now() < until && rs.lookup(t) !== undefined); // exp has a 1-s resolution
    expect(rs.lookup(t)).toBeUndefined();
    const ps = provider(`jwt,pub-key=${rsa.pub},priv-key=${rsa.priv},sign-method=PS256`);
    expect(rs.lookup(ps.mint('alice', 1n))).toBeUndefined();
    expect(rs.lookup('not.a.token')).toBeUndefined();
    expect(rs.lookup('abc')).toBeUndefined();
  });

  it('a member with only the public key verifies but cannot issue', () => {
    const issuer = provider(`jwt,pub-key=${rsa.pub},priv-key=${rsa.priv},sign-method=RS256`);
    const verifier = provider(`jwt,pub-key=${rsa.pub},sign-method=RS256`);
    expect(verifier.lookup(issuer.mint('bob', 3n))).toEqual({ user: 'bob', revision: 3n });
    expect(() => verifier.mint('bob', 3n)).toThrow(/no JWT private key/);
  });
});
