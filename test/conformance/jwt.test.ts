/**
 * --auth-token jwt,…, latchkey against etcd 3.4 with the same RSA key pair: etcdctl works with auth enabled on
 * both, the tokens carry the same header and claims, and — the strongest check of the format — a token issued by
 * etcd is accepted by latchkey and one issued by latchkey by etcd (same key, same auth revision). A token signed
 * with another key is refused by both.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@latchkey/client';
import { describe, expect, it } from 'vitest';
import { etcdctl } from '../harness/etcdctl.js';
import type { Member } from '../harness/processes.js';
import { useMembers } from '../harness/vitest.js';
import { until } from '../harness/wait.js';

const members = useMembers();

function keyPair(dir: string, name: string): { pub: string; priv: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pub = path.join(dir, `${name}.pub`);
  const priv = path.join(dir, `${name}.key`);
  writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(priv, privateKey.export({ type: 'pkcs1', format: 'pem' }));
  return { pub, priv };
}

async function post(m: Member, route: string, body: unknown, token?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`http://${m.endpoint}${route}`, { method: 'POST', body: JSON.stringify(body), headers: token ? { authorization: token } : {}, signal: AbortSignal.timeout(5000) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const decode = (token: string): unknown[] => token.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()) as unknown);

describe('JWT auth tokens - the same as etcd 3.4', () => {
  it('same header and claims; each server accepts the other’s token; a foreign key’s token is refused', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-jwt-'));
    const keys = keyPair(dir, 'jwt');
    const foreign = keyPair(dir, 'foreign');
    const flag = ['--auth-token', `jwt,pub-key=${keys.pub},priv-key=${keys.priv},sign-method=RS256,ttl=10m`];
    const [etcd, latchkey] = await Promise.all([members.start({ kind: 'etcd', extraArgs: flag }), members.start({ kind: 'latchkey', extraArgs: flag })]);
    const tokens: Record<string, string> = {};
    for (const m of [etcd, latchkey]) {
      for (const args of [['user', 'add', 'root:rootpw', '--interactive=false'], ['auth', 'enable'], ['put', 'k', m.kind, '--user', 'root:rootpw']]) {
        const r = await etcdctl(m.endpoint, args);
        expect(r.code, `${m.kind} ${args.join(' ')}: ${r.stderr}`).toBe(0);
      }
      const auth = await post(m, '/v3/auth/authenticate', { name: 'root', password: 'rootpw' });
      expect(auth.status, m.kind).toBe(200);
      tokens[m.kind] = auth.json['token'] as string;
    }
    const shape = (t: string) => {
      const [header, claims] = decode(t) as [Record<string, unknown>, Record<string, unknown>];
      return { header, claimKeys: Object.keys(claims).sort(), username: claims['username'], revision: claims['revision'] };
    };
    expect(shape(tokens['latchkey']!)).toEqual(shape(tokens['etcd']!));
    // Cross-acceptance: each server reads its own key "k" with the other's token.
    const read = async (m: Member, token: string) => {
      const r = await post(m, '/v3/kv/range', { key: Buffer.from('k').toString('base64') }, token);
      const kvs = r.json['kvs'] as { value: string }[] | undefined;
      return [r.status, kvs ? Buffer.from(kvs[0]!.value, 'base64').toString() : r.json['error']];
    };
    expect(await read(latchkey, tokens['etcd']!)).toEqual([200, 'latchkey']);
    expect(await read(etcd, tokens['latchkey']!)).toEqual([200, 'etcd']);
    // The same claims signed with another key.
    const other = await members.start({ kind: 'latchkey', extraArgs: ['--auth-token', `jwt,pub-key=${foreign.pub},priv-key=${foreign.priv},sign-method=RS256`] });
    await etcdctl(other.endpoint, ['user', 'add', 'root:rootpw', '--interactive=false']);
    await etcdctl(other.endpoint, ['auth', 'enable']);
    const forged = (await post(other, '/v3/auth/authenticate', { name: 'root', password: 'rootpw' })).json['token'] as string;
    const refused = await Promise.all([read(etcd, forged), read(latchkey, forged)]);
    expect(refused[1]).toEqual(refused[0]);
    expect(refused[0]![0]).not.toBe(200);
    rmSync(dir, { recursive: true, force: true });
  }, 90_000);

  it('after an auth change, an old token is refused the same way on both, and the SDK logs in again and goes on', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-jwt-'));
    const keys = keyPair(dir, 'jwt');
    const flag = ['--auth-token', `jwt,pub-key=${keys.pub},priv-key=${keys.priv},sign-method=RS256,ttl=10m`];
    const [etcd, latchkey] = await Promise.all([members.start({ kind: 'etcd', extraArgs: flag }), members.start({ kind: 'latchkey', extraArgs: flag })]);
    const seen: Record<string, unknown> = {};
    for (const m of [etcd, latchkey]) {
      for (const args of [['user', 'add', 'root:rootpw', '--interactive=false'], ['auth', 'enable']]) {
        const r = await etcdctl(m.endpoint, args);
        expect(r.code, `${m.kind} ${args.join(' ')}: ${r.stderr}`).toBe(0);
      }
      const client = new Client({ endpoints: [m.endpoint], auth: { username: 'root', password: 'rootpw' } });
      try {
        await client.put('k', 'before');
        const old = (await post(m, '/v3/auth/authenticate', { name: 'root', password: 'rootpw' })).json['token'] as string;
        // Any auth change moves the auth revision past the one both tokens carry.
        const change = await etcdctl(m.endpoint, ['user', 'add', 'other:otherpw', '--interactive=false', '--user', 'root:rootpw']);
        expect(change.code, change.stderr).toBe(0);
        const stale = await post(m, '/v3/kv/range', { key: Buffer.from('k').toString('base64') }, old);
        await client.put('k', 'after', { timeoutMs: 5_000 });
        // A watch opened after the change gets its events too.
        const ac = new AbortController();
        const events = client.watch('w', { signal: ac.signal })[Symbol.asyncIterator]();
        const first = events.next();
        await until(async () => {
          await client.put('w', 'event');
          return Promise.race([first.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 200))]);
        }, `${m.kind}: a watch event`, 10_000);
        const ev = (await first).value as { value: Uint8Array } | undefined;
        ac.abort();
        seen[m.kind] = { stale: [stale.status, stale.json['error']], value: await client.getString('k'), watched: ev ? Buffer.from(ev.value).toString() : undefined };
      } finally {
        client.close();
      }
    }
    expect(seen['etcd']).toEqual({ stale: [400, 'etcdserver: revision of auth store is old'], value: 'after', watched: 'event' });
    expect(seen['latchkey']).toEqual(seen['etcd']);
    rmSync(dir, { recursive: true, force: true });
  }, 90_000);
});
