/**
 * The SDK with authentication on, against a real etcd 3.4 and against latchkey: what happens to watches, locks
 * and sessions when the server stops taking the client's simple token — after the member restarts (simple tokens
 * live in its memory) or after the token's TTL (`--auth-token-ttl`) runs out while only a watch stream used it.
 * or, with JWT tokens, after any auth change (a token older than the auth revision is refused). The client must
 * log in again and go on: no watch ends, no event is missed or repeated, no held lock reports a loss it did not
 * suffer.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, PermissionDeniedError, type WatchEvent } from '@latchkey/client';
import { describe, expect, it } from 'vitest';
import { etcdctl } from '../harness/etcdctl.js';
import { type Member, type MemberKind } from '../harness/processes.js';
import { useMembers } from '../harness/vitest.js';
import { until, within } from '../harness/wait.js';

const targets: MemberKind[] = process.env['TARGET'] ? [process.env['TARGET'] as MemberKind] : ['etcd', 'latchkey'];
const members = useMembers();
const root = { username: 'root', password: 'rootpw' };

/** A member with a root user and authentication enabled. */
async function authMember(kind: MemberKind, extraArgs: string[] = []): Promise<Member> {
  const m = await members.start({ kind, extraArgs });
  for (const args of [['user', 'add', 'root:rootpw', '--interactive=false'], ['auth', 'enable']]) {
    const r = await etcdctl(m.endpoint, args);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  }
  return m;
}

/** The next event of `it`, within 10 s, as `type key value`; a watch that ends or fails is reported as such. */
async function nextEvent(it: AsyncIterator<WatchEvent>, what: string): Promise<string> {
  const r = await within(
    it.next().catch((e: unknown) => ({ done: true as const, value: `failed: ${String(e)}` })),
    10_000,
    what,
  );
  if (r.done) return typeof r.value === 'string' ? r.value : 'ended';
  return `${r.value.type} ${r.value.key} ${r.value.value}`;
}

/** Restarts `m` (auth on: etcdctl's health check would need a user) and waits until `client` reads through it. */
async function restartAndWait(m: Member, client: Client): Promise<void> {
  await m.restart({ waitHealthy: false });
  await until(async () => (await client.get('probe', { timeoutMs: 2_000 }).then(() => true, () => false)), `${m.kind} back up`, 20_000);
}

/** A simple token fresh from the member's HTTP gateway (etcd's and latchkey's /v3/auth/authenticate). */
async function freshToken(m: Member): Promise<string> {
  const res = await fetch(`http://${m.endpoint}/v3/auth/authenticate`, { method: 'POST', body: JSON.stringify({ name: root.username, password: root.password }), signal: AbortSignal.timeout(5_000) });
  const json = (await res.json()) as { token?: string };
  if (!json.token) throw new Error(`no token from ${m.kind}: ${JSON.stringify(json)}`);
  return json.token;
}

/** Whether the member still takes `token` (a range through the gateway; using a simple token renews its TTL). */
async function tokenTaken(m: Member, token: string): Promise<boolean> {
  const res = await fetch(`http://${m.endpoint}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('probe').toString('base64') }), headers: { authorization: token }, signal: AbortSignal.timeout(5_000) });
  return res.status === 200;
}

describe.each(targets)('%s', (kind) => {
  it('sdk auth - a watch goes on through a member restart (the member forgot the token): no event missed or repeated', async () => {
    const m = await authMember(kind);
    const client = new Client({ endpoints: [m.endpoint], auth: root });
    try {
      const ac = new AbortController();
      const w = client.watch('w/', { prefix: true, signal: ac.signal });
      await w.created;
      const events = w[Symbol.asyncIterator]();
      await client.put('w/1', 'a');
      expect(await nextEvent(events, 'the first event')).toBe('put w/1 a');
      await restartAndWait(m, client);
      // One change made while the watch was re-created (by another client), one after, by this client.
      const other = await etcdctl(m.endpoint, ['put', 'w/2', 'b', '--user', 'root:rootpw']);
      expect(other.code, other.stderr).toBe(0);
      await client.put('w/3', 'c');
      expect(await nextEvent(events, 'the event after the restart')).toBe('put w/2 b');
      expect(await nextEvent(events, 'the second event after the restart')).toBe('put w/3 c');
      ac.abort();
      expect(await nextEvent(events, 'the end')).toBe('ended');
    } finally {
      client.close();
    }
  }, 60_000);

  it('sdk auth - a held lock keeps its signal through a member restart, and still sees its key deleted', async () => {
    const m = await authMember(kind);
    const client = new Client({ endpoints: [m.endpoint], auth: root });
    try {
      const hold = await client.lock.acquire('locks/a', { ttl: 30 });
      const signal = hold.signal; // starts watching the lock key
      // A watch on the same stream, made after the hold's: its events prove the hold's watcher was re-created.
      const ac = new AbortController();
      const probe = client.watch('p', { signal: ac.signal });
      await probe.created;
      const events = probe[Symbol.asyncIterator]();
      await restartAndWait(m, client);
      await client.put('p', 'after');
      expect(await nextEvent(events, 'the probe event after the restart')).toBe('put p after');
      expect(signal.aborted ? String(signal.reason) : 'held').toBe('held');
      expect(await hold.isHeld()).toBe(true);
      // The hold's watcher is alive: deleting the key from outside is seen as such (not as "lost track").
      const del = await etcdctl(m.endpoint, ['del', hold.key, '--user', 'root:rootpw']);
      expect(del.code, del.stderr).toBe(0);
      await until(() => signal.aborted, 'the hold to see its key deleted', 10_000);
      expect(String((signal.reason as Error).message)).toBe(`lock key ${hold.key} was deleted`);
      ac.abort();
    } finally {
      await client.lock.close();
      client.close();
    }
  }, 60_000);

  it('sdk auth - after the simple token expired (--auth-token-ttl 2), new watches, reads and keep-alives go on', async () => {
    const m = await authMember(kind, ['--auth-token-ttl', '2']);
    const client = new Client({ endpoints: [m.endpoint], auth: root });
    try {
      const session = await client.session({ ttl: 10 });
      const ac = new AbortController();
      // The first watch opens the client's watch stream with the client's token; nothing else uses the token.
      const first = client.watch('a', { signal: ac.signal });
      await first.created;
      // Tokens issued after the client's last use: once the member refuses one, it refuses the client's too.
      // Each probe token is tried once (trying a live simple token renews it).
      const probes = await Promise.all(Array.from({ length: 40 }, () => freshToken(m)));
      let tried = 0;
      let lastTry = 0;
      await until(
        async () => {
          if (Date.now() - lastTry < 200) return false; // one probe per 200 ms: 40 of them cover 8 s
          lastTry = Date.now();
          return !(await tokenTaken(m, probes[tried++]!));
        },
        `${kind}: the tokens to expire`,
        8_000,
      );
      // A new watch on the open stream (created with the expired token), then a read and a write.
      const second = client.watch('b', { signal: ac.signal });
      const events = second[Symbol.asyncIterator]();
      await within(second.created, 10_000, 'the second watch to be created');
      await client.put('b', 'v');
      expect(await nextEvent(events, 'the second watch’s event')).toBe('put b v');
      expect(await client.getString('b')).toBe('v');
      // Keep-alives go on: an acknowledgement after this point moves the session's earliest expiry on, so the
      // remaining time rises above the lowest seen since (it only falls between acknowledgements, which come every
      // ttl/3; comparing with the first reading instead would miss one that came just before it).
      let lowest = session.remainingMs();
      await until(
        () => {
          const now = session.remainingMs();
          lowest = Math.min(lowest, now);
          return now > lowest + 500;
        },
        `${kind}: a keep-alive acknowledged after the token expired`,
        10_000,
      );
      expect(session.state).toBe('live');
      ac.abort();
      await session.close();
    } finally {
      client.close();
    }
  }, 60_000);

  it('sdk auth - with JWT tokens, a watch created on an open stream after an auth change gets its events', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'latchkey-sdk-jwt-'));
    try {
      const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      writeFileSync(path.join(dir, 'jwt.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
      writeFileSync(path.join(dir, 'jwt.key'), privateKey.export({ type: 'pkcs1', format: 'pem' }));
      const m = await authMember(kind, ['--auth-token', `jwt,pub-key=${dir}/jwt.pub,priv-key=${dir}/jwt.key,sign-method=RS256,ttl=10m`]);
      const client = new Client({ endpoints: [m.endpoint], auth: root });
      try {
        const ac = new AbortController();
        // The watch stream is opened with a token carrying the current auth revision.
        const first = client.watch('a', { signal: ac.signal });
        await first.created;
        const change = await etcdctl(m.endpoint, ['user', 'add', 'other:otherpw', '--interactive=false', '--user', 'root:rootpw']);
        expect(change.code, change.stderr).toBe(0);
        const second = client.watch('b', { signal: ac.signal });
        const events = second[Symbol.asyncIterator]();
        await within(second.created, 10_000, 'the second watch to be created');
        await client.put('b', 'v');
        expect(await nextEvent(events, 'the second watch’s event')).toBe('put b v');
        ac.abort();
      } finally {
        client.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('sdk auth - a watch on a range the user may not read ends with PermissionDeniedError, typed the same on both', async () => {
    const m = await authMember(kind);
    for (const args of [['user', 'add', 'alice:alicepw', '--interactive=false'], ['role', 'add', 'app'], ['role', 'grant-permission', 'app', 'read', 'app/', '--prefix=true'], ['user', 'grant-role', 'alice', 'app']]) {
      const r = await etcdctl(m.endpoint, [...args, '--user', 'root:rootpw']);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    const client = new Client({ endpoints: [m.endpoint], auth: { username: 'alice', password: 'alicepw' } });
    try {
      const ac = new AbortController();
      const allowed = client.watch('app/', { prefix: true, signal: ac.signal });
      await allowed.created;
      const denied = client.watch('secret', { signal: ac.signal });
      const err = await within(denied.created.then(() => undefined, (e: unknown) => e), 10_000, 'the denied watch to end');
      expect(err).toBeInstanceOf(PermissionDeniedError);
      expect((err as Error).message).toBe('etcdserver: permission denied');
      expect(allowed.isEnded).toBe(false);
      ac.abort();
    } finally {
      client.close();
    }
  }, 30_000);
});
