import { randomBytes, scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bcryptHash, bcryptRecompute, parseBcrypt } from './bcrypt.js';
import { Passwords } from './password.js';

/**
 * Hashes written by Go's golang.org/x/crypto/bcrypt (Debian's, the one etcd 3.4 is built with), for the passwords
 * beside them: an independent implementation's answers, which ours must reproduce bit for bit.
 */
const GO_HASHES: Array<[string, string]> = [
  ['', '$2a$04$MQyHgd0NIHXBmGR7nl5OYOExb1FNMJg7dgjjSeK3Yu4AlPiPwu.tG'],
  ['rootpw', '$2a$04$XfQd9tIud78W6h/yUim2VuZwceWFbURZm3RtI8mMQTuBR2x1Ul0uK'],
  ['pässwörd✓', '$2a$04$IUDsmHN1WGFL/koWj9W0WOGJVCGp5O3pnrAFZCpnvfH5xSsu9wpr2'],
  ['x'.repeat(72), '$2a$04$BsxsY4x7vu4jgavZKjGVTOYFceC0UJaex4luspiez15layrJOnWC.'],
  ['x'.repeat(100), '$2a$04$POOVSGI47j7FI64e4tHDOO33fJMZaAugJ.ZgXGOoC3ZqdiAXPYkwW'],
  ['bobpw', '$2a$05$PozOOV8UtiispoUmaowSIu/UZioc2iXFTQWUQFRRoJoTN0mVj841.'],
];

describe('bcrypt', () => {
  it('bcrypt - reproduces the hashes of Go\'s bcrypt, and no other password does', () => {
    for (const [pw, hash] of GO_HASHES) {
      expect(bcryptRecompute(Buffer.from(pw), hash), pw).toBe(hash);
      expect(bcryptRecompute(Buffer.from(`!${pw}`), hash), `!${pw}`).not.toBe(hash);
    }
  });

  it('bcrypt - only the first 72 bytes count (as in Go and C), and the trailing NUL makes shorter ones differ', () => {
    const hash = GO_HASHES[4]![1];
    expect(bcryptRecompute(Buffer.from('x'.repeat(72)), hash)).toBe(hash);
    expect(bcryptRecompute(Buffer.from('x'.repeat(71)), hash)).not.toBe(hash);
  });

  it('bcrypt - hashes in Go\'s format; $2b$ and $2y$ versions verify as $2a$', () => {
    const salt = randomBytes(16);
    const h = bcryptHash(Buffer.from('secret'), salt, 4);
    expect(h).toMatch(/^\$2a\$04\$[./A-Za-z0-9]{53}$/);
    expect(parseBcrypt(h)).toEqual({ cost: 4, salt: new Uint8Array(salt) });
    for (const v of ['2b', '2y']) {
      const other = `$${v}${h.slice(3)}`;
      expect(bcryptRecompute(Buffer.from('secret'), other)).toBe(other);
    }
  });

  it('bcrypt - anything else is not a hash: wrong version, cost out of range, bad length or alphabet', () => {
    const h = GO_HASHES[1]![1];
    for (const bad of ['', 'rootpw', `$2x${h.slice(3)}`, `$2a$03${h.slice(6)}`, `$2a$32${h.slice(6)}`, h.slice(0, -1), `${h.slice(0, -1)}-`, `${h}A`]) {
      expect(parseBcrypt(bad), bad).toBeUndefined();
      expect(bcryptRecompute(Buffer.from('rootpw'), bad), bad).toBeUndefined();
    }
    expect(() => bcryptHash(Buffer.from('x'), randomBytes(16), 3)).toThrow(RangeError);
    expect(() => bcryptHash(Buffer.from('x'), randomBytes(8), 4)).toThrow(RangeError);
  });
});

describe('passwords', () => {
  it('passwords - new hashes are bcrypt at the configured cost and verify; a wrong password does not', async () => {
    const p = new Passwords(5);
    try {
      const h = await p.hash('hunter2');
      expect(h.startsWith('$2a$05$')).toBe(true);
      expect(await p.verify('hunter2', h)).toBe(true);
      expect(await p.verify('hunter3', h)).toBe(false);
      expect(await p.verify('rootpw', GO_HASHES[1]![1])).toBe(true);
      expect(await p.verify('rootpw', 'garbage')).toBe(false);
    } finally {
      await p.close();
    }
  });

  it('passwords - hashes in latchkey\'s earlier scrypt format still verify', async () => {
    const salt = randomBytes(16);
    const key = scryptSync('old-pw', salt, 32, { N: 1024, r: 8, p: 1 });
    const stored = `scrypt$1024$8$1$${salt.toString('base64')}$${key.toString('base64')}`;
    const p = new Passwords(4);
    expect(await p.verify('old-pw', stored)).toBe(true);
    expect(await p.verify('new-pw', stored)).toBe(false);
    // A damaged entry (N not a power of two) verifies nothing instead of failing the call.
    expect(await p.verify('old-pw', stored.replace('$1024$', '$1000$'))).toBe(false);
  });
});
