import { existsSync } from 'node:fs';
import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { bcryptHash, bcryptRecompute } from './bcrypt.js';

/**
 * Password hashes, as etcd stores them: bcrypt (`$2a$<cost>$…`, see `bcrypt.ts`) at `--bcrypt-cost`, so a user
 * created on either server can log in on the other after a snapshot restore. The proposing member hashes; the hash
 * travels in the replicated request, so applying stays deterministic and no member stores a plain password.
 * Verification also accepts the scrypt format latchkey wrote before (`scrypt$<N>$<r>$<p>$<salt>$<hash>`), so
 * existing data directories keep their users.
 *
 * bcrypt takes about 2^cost × 0.08 ms of CPU (85 ms at etcd's default cost 10). It runs on worker threads (up to
 * two), so the event loop (heartbeats, reads, the Raft driver) never waits for it; each job goes to the thread
 * with the fewest jobs waiting.
 */
export class Passwords {
  private readonly threads: (BcryptThread | undefined)[];

  /** `cost`: bcrypt's work factor for new hashes (4–31). */
  constructor(readonly cost: number) {
    this.threads = new Array<BcryptThread | undefined>(Math.min(2, availableParallelism())).fill(undefined);
  }

  async hash(password: string): Promise<string> {
    const hash = await this.run({ op: 'hash', password, salt: randomBytes(16), cost: this.cost });
    if (hash === undefined) throw new Error('bcrypt: no hash computed');
    return hash;
  }

  /** True when `password` matches `stored` (bcrypt or latchkey's scrypt); false for anything else stored. */
  async verify(password: string, stored: string): Promise<boolean> {
    if (stored.startsWith('scrypt$')) return verifyScrypt(password, stored);
    const again = await this.run({ op: 'recompute', password, hash: stored });
    return again !== undefined && again.length === stored.length && timingSafeEqual(Buffer.from(again), Buffer.from(stored));
  }

  /** Stops the threads (pending calls reject). */
  async close(): Promise<void> {
    const all = this.threads.splice(0, this.threads.length, ...this.threads.map(() => undefined));
    await Promise.all(all.map((t) => t?.terminate()));
  }

  private run(job: BcryptJob): Promise<string | undefined> {
    if (!HAS_WORKER) return Promise.resolve(compute(job)); // running from TypeScript sources (tests)
    let best = 0;
    for (let i = 0; i < this.threads.length; i++) {
      const t = this.threads[i];
      if (t === undefined || t.dead) {
        best = i;
        break;
      }
      if (t.inFlight < this.threads[best]!.inFlight) best = i;
    }
    let thread = this.threads[best];
    if (thread === undefined || thread.dead) this.threads[best] = thread = new BcryptThread();
    return thread.run(job);
  }
}

/** One worker thread and the jobs it has been given, answered by id. */
class BcryptThread {
  private readonly worker = new Worker(WORKER_FILE);
  private readonly pending = new Map<number, { resolve: (s: string | undefined) => void; reject: (e: unknown) => void }>();
  private nextId = 1;
  /** Set once the thread failed or exited: the pool replaces it. */
  dead = false;

  constructor() {
    this.worker.unref(); // never what keeps a process alive
    this.worker.on('message', (m: BcryptReply) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (!p) return;
      if (m.error !== undefined) p.reject(new Error(`bcrypt: ${m.error}`));
      else p.resolve(m.result);
    });
    const fail = (err: unknown): void => {
      this.dead = true;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`bcrypt worker exited with code ${code}`)));
  }

  get inFlight(): number {
    return this.pending.size;
  }

  run(job: BcryptJob): Promise<string | undefined> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, job });
    });
  }

  async terminate(): Promise<void> {
    this.dead = true;
    await this.worker.terminate();
  }
}

/** The compiled worker next to this module (absent when this module runs from its TypeScript source). */
const WORKER_FILE = fileURLToPath(new URL('./bcrypt-worker.js', import.meta.url));
const HAS_WORKER = existsSync(WORKER_FILE);

/** One request to the bcrypt thread. */
export type BcryptJob = { op: 'hash'; password: string; salt: Uint8Array; cost: number } | { op: 'recompute'; password: string; hash: string };

export interface BcryptReply {
  id: number;
  result?: string | undefined;
  error?: string;
}

/** What the worker computes: a new hash, or the stored hash recomputed for the password (undefined: not bcrypt). */
export function compute(job: BcryptJob): string | undefined {
  const pw = Buffer.from(job.password);
  return job.op === 'hash' ? bcryptHash(pw, job.salt, job.cost) : bcryptRecompute(pw, job.hash);
}

async function verifyScrypt(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6) return false;
  const [, n, r, p, salt, hash] = parts as [string, string, string, string, string, string];
  const N = Number(n);
  const R = Number(r);
  const expected = Buffer.from(hash, 'base64');
  // Parameters scrypt refuses (a damaged entry) verify nothing.
  const key = await new Promise<Buffer | undefined>((resolve) => {
    try {
      scryptCb(password, Buffer.from(salt, 'base64'), expected.length, { N, r: R, p: Number(p), maxmem: 256 * N * R + 1024 * 1024 }, (err, k) => resolve(err ? undefined : k));
    } catch {
      resolve(undefined);
    }
  });
  return key !== undefined && key.length === expected.length && timingSafeEqual(key, expected);
}
