/**
 * A fair readers-writer lock with etcd's `recipes.RWMutex` layout, so Go processes using that recipe and ours
 * exclude each other on the same name:
 *
 *   <name>/read/<lease hex>-<random>     a reader (holding or waiting), bound to its session's lease
 *   <name>/write/<lease hex>-<random>    a writer (holding or waiting), bound to its session's lease
 *
 * Order is the keys' create revision. A reader holds once no *write* key older than its own exists; a writer holds
 * once no key of either kind older than its own exists. So readers share with readers, a writer excludes
 * everyone, and nobody overtakes an earlier writer (no writer starvation: a reader arriving after a waiting writer
 * queues behind it). Each waiter watches one key — the newest blocking key older than its own (the latest earlier
 * writer for a reader, the latest earlier key for a writer) — and re-reads when it goes, checking in the same read
 * that its own key still exists (etcd's recipe does not: #16221).
 *
 * Holds are `LockHold`s (fencing token = the key's create revision, `signal`, guarded writes, `await using`).
 * Not provided: reentrancy, upgrade, downgrade (take a separate hold).
 */
import { leaseHex, toBytes } from '../bytes.js';
import { type Client } from '../client.js';
import { Cmp, Op } from '../ops.js';
import { LockHold } from './lock.js';
import { waitForTurn } from './queue-wait.js';
import { recipeContext, recipeError, uniqueSuffix, type RecipeOptions } from './wait.js';

export type RwMode = 'read' | 'write';

export class RwLock {
  constructor(
    private readonly client: Client,
    readonly name: string,
  ) {}

  /** Waits for a shared (read) hold. Rejects on `signal`/`timeoutMs`/session loss, removing its key first. */
  read(options: RecipeOptions = {}): Promise<LockHold> {
    return this.take('read', options, false) as Promise<LockHold>;
  }

  /** Waits for the exclusive (write) hold. */
  write(options: RecipeOptions = {}): Promise<LockHold> {
    return this.take('write', options, false) as Promise<LockHold>;
  }

  /** A read hold if no earlier writer exists right now, else undefined (no key left behind). */
  tryRead(options: RecipeOptions = {}): Promise<LockHold | undefined> {
    return this.take('read', options, true);
  }

  /** The write hold if nobody holds or waits right now, else undefined. */
  tryWrite(options: RecipeOptions = {}): Promise<LockHold | undefined> {
    return this.take('write', options, true);
  }

  /** Runs `fn` under a hold of `mode` and releases it afterwards. */
  async with<T>(mode: RwMode, fn: (hold: LockHold) => Promise<T> | T, options: RecipeOptions = {}): Promise<T> {
    const hold = (await this.take(mode, options, false))!;
    try {
      return await fn(hold);
    } finally {
      await hold.release().catch(() => undefined);
    }
  }

  private async take(mode: RwMode, options: RecipeOptions, tryOnly: boolean): Promise<LockHold | undefined> {
    const { session, signal } = await recipeContext(this.client, options);
    const key = toBytes(`${this.name}/${mode}/${leaseHex(session.leaseId)}-${uniqueSuffix()}`);
    // Readers are blocked by earlier writers only; writers by every earlier key.
    const blocking = toBytes(mode === 'read' ? `${this.name}/write/` : `${this.name}/`);
    let rev = 0n;
    try {
      // Create-if-absent on our own key (idempotent); the oldest blocking key tells whether we must wait at all.
      const oldest = Op.get(blocking, { prefix: true, keysOnly: true, sort: { target: 'create', order: 'ascend' }, limit: 1 });
      const r = await this.client.rawTxn([Cmp.absent(key)], [Op.put(key, '', { lease: session.leaseId }), oldest], [Op.get(key, { keysOnly: true }), oldest], {
        signal,
        idempotent: true,
      });
      const own = r.responses[0];
      rev = r.succeeded ? r.header.revision : ((own?.type === 'range' ? own.kvs[0]?.createRevision : undefined) ?? 0n);
      const first = r.responses[1];
      const head = first?.type === 'range' ? first.kvs[0] : undefined;
      const free = head === undefined || head.createRevision >= rev;
      if (!free) {
        if (tryOnly) {
          await this.withdraw(key, rev);
          return undefined;
        }
        await waitForTurn(this.client, blocking, { key, revision: rev }, signal);
      }
      return new LockHold(this.client, this.name, key, rev, session, (h) => this.release(h));
    } catch (err) {
      if (rev > 0n) await this.withdraw(key, rev).catch(() => undefined);
      throw recipeError(err, session, signal);
    }
  }

  private async release(h: LockHold): Promise<void> {
    await this.client.rawTxn([h.condition], [Op.delete(h.keyBytes)], [], { timeoutMs: 10_000, idempotent: true });
  }

  private async withdraw(key: Uint8Array, rev: bigint): Promise<void> {
    await this.client.rawTxn([Cmp.createRevision(key, '=', rev)], [Op.delete(key)], [], { timeoutMs: 5_000, idempotent: true });
  }
}
