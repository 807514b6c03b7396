import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { NoLeaderError } from '../node/errors.js';
import { CallMetadata, type ServerCall } from './grpc/h2-server.js';
import { NO_LEADER_CHECKS, RequireLeader } from './require-leader.js';

const desc = {
  Get: { path: '/x/Get', requestStream: false, responseStream: false },
  Watch: { path: '/x/Watch', requestStream: true, responseStream: true },
} as never;

function fakeCall(hasleader: boolean): ServerCall & { failedWith?: unknown; served: boolean } {
  const e = new EventEmitter() as EventEmitter & { metadata: CallMetadata; writable: boolean; failedWith?: unknown; served: boolean; fail(err: unknown): void };
  e.metadata = new CallMetadata(hasleader ? { hasleader: 'true' } : {});
  e.writable = true;
  e.served = false;
  e.fail = (err: unknown) => {
    e.failedWith = err;
    e.writable = false;
  };
  return e as never;
}

describe('require leader - etcd\'s "hasleader" metadata', () => {
  it('fails such calls at once without a leader, serves the others, and ends open streams after the checks', async () => {
    let leader = true;
    const r = new RequireLeader(() => leader);
    const impl = r.wrap(desc, {
      Get: async () => ({ ok: true }),
      Watch: (call: ServerCall & { served: boolean }) => {
        call.served = true;
      },
    } as never) as unknown as { Get: (req: unknown, ctx: { metadata: CallMetadata }) => Promise<unknown>; Watch: (c: ServerCall) => void };
    const open = fakeCall(true);
    impl.Watch(open);
    impl.Watch(fakeCall(false));
    expect([open.served, r.size]).toEqual([true, 1]);

    leader = false;
    await expect(impl.Get({}, { metadata: new CallMetadata({ hasleader: 'true' }) })).rejects.toBeInstanceOf(NoLeaderError);
    await expect(impl.Get({}, { metadata: new CallMetadata({}) })).resolves.toEqual({ ok: true });
    const late = fakeCall(true);
    impl.Watch(late);
    expect([late.served, late.failedWith instanceof NoLeaderError]).toEqual([false, true]);

    for (let i = 1; i < NO_LEADER_CHECKS; i++) r.check();
    expect(open.failedWith).toBeUndefined(); // a leader may still turn up
    r.check();
    expect(open.failedWith).toBeInstanceOf(NoLeaderError);
    expect(r.size).toBe(0);
  });

  it('a leader coming back resets the count; finished calls are dropped', () => {
    let leader = true;
    const r = new RequireLeader(() => leader);
    const impl = r.wrap(desc, { Get: async () => ({}), Watch: () => undefined } as never) as unknown as { Watch: (c: ServerCall) => void };
    const a = fakeCall(true);
    const b = fakeCall(true);
    impl.Watch(a);
    impl.Watch(b);
    (b as unknown as { writable: boolean }).writable = false; // ended normally, no 'close'
    leader = false;
    r.check();
    r.check();
    leader = true;
    r.check();
    leader = false;
    for (let i = 1; i < NO_LEADER_CHECKS; i++) r.check();
    expect(a.failedWith).toBeUndefined();
    expect(r.size).toBe(1);
  });
});
