#!/usr/bin/env node
/**
 * A worker pool: every worker registers itself in the service registry and campaigns for leadership; the leader
 * creates the jobs and assigns each one to a live worker (round-robin over the registry's live set); a worker
 * takes a lock per job and records the job as done with a write guarded by that lock. When a worker dies, its
 * registration disappears after its TTL, the leader gives its unfinished jobs to others, and its locks free
 * themselves — if the leader itself dies, another worker takes over. Every job is done exactly once: the "done"
 * record is written only by a worker holding the job's lock, and only if no record exists yet.
 *
 *   node examples/worker-pool.mjs [--endpoints 127.0.0.1:2379] [--workers 3] [--jobs 12] [--crash w1]
 *
 * `--crash w1` makes worker w1 SIGKILL itself in the middle of its second job (lock held, work half done), to
 * show the hand-over; `--crash leader` does the same to whichever worker leads at that moment. The supervisor (this process without --role) starts the workers as child processes, prints
 * their output, and at the end checks the done records: one per job, each by the worker that held the job's lock.
 *
 * Keys (under --prefix, default /examples/pool): workers/<id> (registry), leader/ (election), jobs/<job>,
 * assign/<job> = worker id, lock/<job>/ (lock), done/<job> = {"worker","token","lease"}, finished.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, Cmp, leaseHex, LockLostError, Op } from '@latchkey/client';

const { values: opt } = parseArgs({
  options: {
    endpoints: { type: 'string', default: process.env.ENDPOINTS ?? '127.0.0.1:2379' },
    workers: { type: 'string', default: '3' },
    jobs: { type: 'string', default: '12' },
    prefix: { type: 'string', default: '/examples/pool' },
    crash: { type: 'string', default: '' },
    ttl: { type: 'string', default: '2' },
    role: { type: 'string', default: 'supervisor' },
    id: { type: 'string', default: '' },
  },
});
const P = opt.prefix;
const endpoints = opt.endpoints.split(',');
const jobCount = Number(opt.jobs);
const ttl = Number(opt.ttl);
const jobName = (i) => `job-${String(i).padStart(2, '0')}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (opt.role === 'worker') await worker(opt.id);
else await supervise();

// ---- supervisor ---------------------------------------------------------------------------------------------

async function supervise() {
  const client = new Client({ endpoints });
  await client.delete(`${P}/`, { prefix: true }); // a fresh pool each run
  console.log(`pool: ${opt.workers} workers, ${jobCount} jobs on ${endpoints.join(',')} under ${P}`);
  const self = fileURLToPath(import.meta.url);
  const children = Array.from({ length: Number(opt.workers) }, (_, i) => {
    const id = `w${i}`;
    const child = spawn(process.execPath, [self, '--role', 'worker', '--id', id, '--endpoints', opt.endpoints, '--jobs', opt.jobs, '--prefix', P, '--crash', opt.crash, '--ttl', opt.ttl, '--workers', opt.workers], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    createInterface({ input: child.stdout }).on('line', (line) => console.log(line));
    return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ id, code, signal })));
  });
  for (const r of await Promise.all(children)) if (r.code !== 0) console.log(`${r.id} exited (${r.signal ?? `code ${r.code}`})`);

  // Check: one done record per job, written by the holder of the job's lock (its key existed at the token).
  const done = await client.range(`${P}/done/`, { prefix: true });
  let ok = done.kvs.length === jobCount;
  const perWorker = new Map();
  for (const kv of done.kvs) {
    const job = Buffer.from(kv.key).toString().slice(`${P}/done/`.length);
    const rec = JSON.parse(Buffer.from(kv.value).toString());
    const lockKey = `${P}/lock/${job}/${rec.lease}`;
    const atToken = await client.get(lockKey, { revision: BigInt(rec.token) });
    if (!atToken || atToken.createRevision > BigInt(rec.token) || kv.version !== 1n) {
      ok = false;
      console.log(`check: ${job} done by ${rec.worker} without holding ${lockKey} at revision ${rec.token}`);
    }
    perWorker.set(rec.worker, (perWorker.get(rec.worker) ?? 0) + 1);
  }
  const split = [...perWorker].sort().map(([w, n]) => `${w}=${n}`).join(' ');
  console.log(`summary: ${done.kvs.length}/${jobCount} jobs done exactly once (${split})${ok ? '' : ' — CHECK FAILED'}`);
  client.close();
  process.exitCode = ok ? 0 : 1;
}

// ---- worker -------------------------------------------------------------------------------------------------

async function worker(id) {
  const client = new Client({ endpoints });
  const session = await client.session({ ttl });
  const lease = leaseHex(session.leaseId);
  const log = (msg) => console.log(`${id} ${msg}`);
  const stop = new AbortController();
  const registration = await client.registry.register(`${P}/workers`, { id, addr: `pid:${process.pid}` }, { ttl });
  log(`up (pid ${process.pid}, lease ${lease})`);
  session.signal.addEventListener('abort', () => {
    if (stop.signal.aborted) return; // we are shutting down
    log(`session lost: ${session.signal.reason?.message}`);
    stop.abort();
  });

  // Stop when the leader says everything is done.
  void (async () => {
    const r = await client.range(`${P}/finished`);
    if (r.kvs.length > 0) return stop.abort();
    for await (const ev of client.watch(`${P}/finished`, { startRevision: r.header.revision + 1n, signal: stop.signal })) {
      void ev;
      return stop.abort();
    }
  })();

  const leading = { now: false };
  const leaderLoop = client
    .election(`${P}/leader`)
    .runWhileLeader(
      id,
      async (term) => {
        leading.now = true;
        try {
          await lead(client, id, term, log);
        } finally {
          leading.now = false;
        }
      },
      { session, signal: stop.signal },
    )
    .catch((err) => log(`leader loop ended: ${err.message}`));

  // Work through our assignments one at a time, in the order they arrive.
  let jobsStarted = 0;
  const queue = [];
  const queued = new Set();
  let wake = () => {};
  const enqueue = (job) => {
    if (queued.has(job)) return;
    queued.add(job);
    queue.push(job);
    wake();
  };
  void (async () => {
    const r = await client.range(`${P}/assign/`, { prefix: true });
    for (const kv of r.kvs) if (Buffer.from(kv.value).toString() === id) enqueue(Buffer.from(kv.key).toString().slice(`${P}/assign/`.length));
    for await (const ev of client.watch(`${P}/assign/`, { prefix: true, startRevision: r.header.revision + 1n, signal: stop.signal })) {
      if (ev.type === 'put' && ev.value === id) enqueue(ev.key.slice(`${P}/assign/`.length));
    }
  })().catch(() => stop.abort());

  while (!stop.signal.aborted) {
    const job = queue.shift();
    if (job === undefined) {
      await new Promise((r) => {
        wake = r;
        stop.signal.addEventListener('abort', r, { once: true });
      });
      continue;
    }
    queued.delete(job);
    await doJob(job).catch((err) => log(`${job} failed: ${err.message}`));
  }
  await leaderLoop;
  await registration.close();
  await client.lock.close();
  await session.close().catch(() => undefined);
  client.close();

  async function doJob(job) {
    const doneKey = `${P}/done/${job}`;
    const held = await client.lock.acquire(`${P}/lock/${job}`, { session, signal: stop.signal });
    try {
      if (await client.get(doneKey)) return log(`skips ${job}: already done`);
      jobsStarted++;
      if ((opt.crash === id || (opt.crash === 'leader' && leading.now)) && jobsStarted === 2) {
        log(`crashes in the middle of ${job} (lock held, token ${held.fencingToken})`);
        process.kill(process.pid, 'SIGKILL');
      }
      await sleep(20 + Math.floor(Math.random() * 40)); // the work
      const r = await held
        .txn()
        .if(Cmp.absent(doneKey))
        .success(Op.put(doneKey, JSON.stringify({ worker: id, token: String(held.fencingToken), lease })), Op.delete(`${P}/assign/${job}`))
        .commit();
      log(r.succeeded ? `done ${job} token=${held.fencingToken}` : `finds ${job} already done`);
    } catch (err) {
      if (err instanceof LockLostError) log(`lost the lock on ${job}; the leader will reassign it`);
      else throw err;
    } finally {
      await held.release().catch(() => undefined);
    }
  }
}

// ---- leader -------------------------------------------------------------------------------------------------

async function lead(client, id, term, log) {
  log(`leads (term ${term.term})`);
  const leaderStill = Cmp.createRevision(term.keyBytes, '=', term.term);
  for (let i = 1; i <= jobCount; i++) {
    const key = `${P}/jobs/${jobName(i)}`;
    await client.txn().if(leaderStill, Cmp.absent(key)).success(Op.put(key, '')).commit();
  }
  const workers = client.registry.discover(`${P}/workers`, { signal: term.signal });
  // On a fresh pool, let the workers come up so the first assignments spread (go on with whoever is there
  // after 5 s); a leader taking over a running pool starts at once.
  const started = await client.txn().success(Op.get(`${P}/assign/`, { prefix: true, countOnly: true }), Op.get(`${P}/done/`, { prefix: true, countOnly: true })).commit();
  if (started.responses.every((x) => x.count === 0n)) await workers.waitFor((s) => s.instances.length >= Number(opt.workers), { timeoutMs: 5_000 }).catch(() => undefined);
  try {
    while (!term.signal.aborted) {
      const r = await client.txn().success(Op.get(`${P}/jobs/`, { prefix: true, keysOnly: true }), Op.get(`${P}/assign/`, { prefix: true }), Op.get(`${P}/done/`, { prefix: true, keysOnly: true })).commit();
      const [jobs, assigns, dones] = r.responses.map((x) => x.kvs.map((kv) => [Buffer.from(kv.key).toString().split('/').pop(), Buffer.from(kv.value).toString()]));
      const done = new Set(dones.map(([j]) => j));
      if (done.size === jobCount) {
        await client.txn().if(leaderStill).success(Op.put(`${P}/finished`, id)).commit();
        log(`all ${jobCount} jobs done`);
        return;
      }
      const assigned = new Map(assigns);
      const live = new Set(workers.instances.map((w) => w.id));
      for (const [job] of jobs) {
        if (done.has(job) || live.has(assigned.get(job))) continue;
        const to = workers.pick('round-robin')?.id;
        if (to === undefined) break;
        const w = await client.txn().if(leaderStill).success(Op.put(`${P}/assign/${job}`, to)).commit();
        if (!w.succeeded) return; // no longer leader
        log(assigned.has(job) ? `reassigns ${job} from ${assigned.get(job)} (gone) -> ${to}` : `assigns ${job} -> ${to}`);
      }
      // Wait for anything to change: a job done, a worker joining or leaving.
      const ac = new AbortController();
      const abort = () => ac.abort();
      term.signal.addEventListener('abort', abort, { once: true });
      try {
        await Promise.race([
          (async () => {
            for await (const ev of client.watch(`${P}/done/`, { prefix: true, startRevision: r.header.revision + 1n, signal: ac.signal })) return ev;
          })(),
          workers.waitFor((s) => s.revision > r.header.revision, { signal: ac.signal }).catch(() => undefined),
        ]);
      } finally {
        ac.abort();
        term.signal.removeEventListener('abort', abort);
      }
    }
  } finally {
    workers.close();
  }
}
