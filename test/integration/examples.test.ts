/**
 * The programs in examples/ run end to end against a latchkey member (as `node examples/<name>.mjs` would, from
 * the workspace build: `npx tsc -b` first, npm test does), each bounded in time, and their output is checked:
 *  - worker-pool with a worker SIGKILLed mid-job: every job has exactly one "done" line and one done record, by
 *    the worker whose lock key existed at the printed fencing token (the supervisor's own check must pass too),
 *    and the dead worker's jobs were reassigned;
 *  - service-discovery and config-watch run to completion and print the states they promise.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@latchkey/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Member } from '../harness/processes.js';
import { useMembers } from '../harness/vitest.js';

const examples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples');

function run(script: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(examples, script), ...args], { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

describe('examples', () => {
  const members = useMembers({ scope: 'file' });
  let member: Member;
  let client: Client;
  beforeAll(async () => {
    member = await members.start({ kind: 'latchkey' });
    client = new Client({ endpoints: [member.endpoint] });
  }, 60_000);
  afterAll(() => client?.close());

  it('worker-pool - a leader assigns 12 jobs to 3 workers, one dies mid-job, every job is done exactly once by its lock holder', async () => {
    const prefix = '/ex/pool';
    const r = await run('worker-pool.mjs', ['--endpoints', member.endpoint, '--workers', '3', '--jobs', '12', '--crash', 'w1', '--prefix', prefix], 45_000);
    const out = r.stdout;
    expect(r.code, `${out}\n${r.stderr}`).toBe(0);
    const done = [...out.matchAll(/^(w\d) done (job-\d\d) token=(\d+)$/gm)].map((m) => ({ worker: m[1]!, job: m[2]!, token: m[3]! }));
    const jobs = Array.from({ length: 12 }, (_, i) => `job-${String(i + 1).padStart(2, '0')}`);
    expect(done.map((d) => d.job).sort(), out).toEqual(jobs);
    expect(out).toMatch(/^w1 crashes in the middle of (job-\d\d)/m);
    const crashed = /^w1 crashes in the middle of (job-\d\d)/m.exec(out)![1]!;
    expect(out).toMatch(new RegExp(`^w\\d reassigns ${crashed} from w1 \\(gone\\) -> w[02]$`, 'm'));
    expect(done.find((d) => d.job === crashed)!.worker).not.toBe('w1');
    expect(out).toMatch(/^summary: 12\/12 jobs done exactly once \(.*\)$/m);
    expect(out).not.toMatch(/CHECK FAILED/);
    // The records agree with the output: written once (version 1) by the printed worker, at its lock token,
    // while its lock key existed (the key's create revision is the token).
    for (const d of done) {
      const kv = (await client.get(`${prefix}/done/${d.job}`))!;
      const rec = JSON.parse(Buffer.from(kv.value).toString()) as { worker: string; token: string; lease: string };
      expect([rec.worker, rec.token, kv.version]).toEqual([d.worker, d.token, 1n]);
      const lock = await client.get(`${prefix}/lock/${d.job}/${rec.lease}`, { revision: BigInt(d.token) });
      expect(lock?.createRevision).toBe(BigInt(d.token));
      expect(kv.modRevision > BigInt(d.token)).toBe(true);
    }
  }, 60_000);

  it('service-discovery - the live set follows a close and a revoked lease, and the instance re-registers', async () => {
    const r = await run('service-discovery.mjs', ['--endpoints', member.endpoint, '--service', '/ex/services/api'], 30_000);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/^requests: api-1 api-2 api-3 api-1 api-2 api-3$/m);
    expect(r.stdout).toMatch(/^live set @\d+: api-1@10\.0\.0\.1:8080 api-3@10\.0\.0\.3:8080$/m);
    expect(r.stdout).toMatch(/^live set @\d+: api-1@10\.0\.0\.1:8080$/m);
    expect(r.stdout).toMatch(/^api-3 registered 2 times; requests: (api-[13] ?){4}$/m);
    expect(await client.registry.list('/ex/services/api')).toEqual([]);
  }, 40_000);

  it('config-watch - sees every change, a two-key transaction as one batch', async () => {
    const r = await run('config-watch.mjs', ['--endpoints', member.endpoint, '--prefix', '/ex/config/', '--demo'], 20_000);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => l.replace(/@\d+/, '@R'));
    expect(lines.slice(-3)).toEqual([
      'config @R [log-level]: log-level=info',
      'config @R [max-connections]: log-level=info max-connections=100',
      'config @R [log-level,max-connections]: log-level=debug',
    ]);
  }, 30_000);
});
