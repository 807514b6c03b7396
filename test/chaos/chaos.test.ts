/**
 * The chaos suite end to end, as `npm run chaos` runs it (the built test/dist/chaos/main.js, `npx tsc -b` first):
 *  - a short run against a 3-member latchkey cluster: zero violations, faults of several kinds injected, and
 *    every checker checked operations;
 *  - a shorter run against 5 members: zero violations;
 *  - the negative control (`--unsafe-control`): every checker reports violations, and the run says so.
 * Replay a run with CHAOS_SEED=… (CHAOS_SEED5=… for the 5-member one; the seed is in the failure message).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { seedFromEnv } from '../harness/random.js';
import type { ChaosReport } from './run.js';

const MAIN = fileURLToPath(new URL('../dist/chaos/main.js', import.meta.url));

function chaos(args: string[]): Promise<{ code: number; report: ChaosReport; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'latchkey-chaos-test-'));
    const p = spawn(process.execPath, [MAIN, '--json', '--no-progress', '--out', out, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => {
      const last = stdout.trim().split('\n').at(-1) ?? '';
      try {
        resolve({ code: code ?? -1, report: JSON.parse(last) as ChaosReport, stdout, stderr });
      } catch {
        reject(new Error(`chaos printed no JSON report (exit ${code}):\n${stdout}\n${stderr.slice(-3000)}`));
      }
    });
  });
}

describe('chaos - a short run against latchkey', () => {
  it('injects faults of several kinds, checks every workload, and finds no violations', async () => {
    const seed = seedFromEnv('CHAOS_SEED', 8);
    const { code, report, stdout } = await chaos(['--duration', '50', '--seed', String(seed), '--members', '3', '--workers', '4']);
    const summary = `seed ${seed}:\n${stdout}`;
    expect(report.violations, summary).toBe(0);
    expect(code, summary).toBe(0);
    expect(report.ok, summary).toBe(true);
    const kinds = new Set(Object.keys(report.faults).map((k) => k.split('/')[0]));
    expect(kinds.size, summary).toBeGreaterThanOrEqual(4);
    expect(report.operations, summary).toBeGreaterThan(2_000);
    for (const name of ['lock', 'register', 'set', 'watch', 'election']) {
      expect(report.checkers[name]?.operations, `${name} ${summary}`).toBeGreaterThan(20);
    }
    expect(report.checkers['election']?.['leaderAfterHeal'], summary).toMatch(/^c\d+-\d+@\d+$/);
    // The lock's availability bound was checked against at least one holder kill under a healthy cluster.
    expect(report.checkers['lock']?.['handoffsChecked'], summary).toBeGreaterThanOrEqual(1);
    // Partitions hit the members' own connections: (almost) every peer connection was attributed to a member
    // (one whose process died while being looked up is the only excuse).
    expect(report.network, summary).toBeDefined();
    expect(report.network!.connections, summary).toBeGreaterThan(0);
    expect(report.network!.unidentified, summary).toBeLessThanOrEqual(Math.max(2, report.network!.connections * 0.02));
  }, 180_000);
});

describe('chaos - a short run against 5 members', () => {
  // Five members reach states three do not: a replaced member catching up by snapshot while another lags (the
  // watch bug of stop 18 showed only there), two members down at once with the cluster still available.
  it('finds no violations', async () => {
    const seed = seedFromEnv('CHAOS_SEED5', 41);
    const { code, report, stdout } = await chaos(['--duration', '40', '--seed', String(seed), '--members', '5', '--workers', '4']);
    const summary = `seed ${seed}:\n${stdout}`;
    expect(report.violations, summary).toBe(0);
    expect(code, summary).toBe(0);
    expect(report.ok, summary).toBe(true);
    expect(report.operations, summary).toBeGreaterThan(2_000);
    for (const name of ['lock', 'register', 'set', 'watch', 'election']) {
      expect(report.checkers[name]?.operations, `${name} ${summary}`).toBeGreaterThan(20);
    }
  }, 180_000);
});

describe('chaos - negative control', () => {
  it('--unsafe-control: every checker reports violations and the run succeeds only because it did', async () => {
    const seed = seedFromEnv('CHAOS_SEED', 9);
    const { code, report, stdout } = await chaos(['--duration', '15', '--seed', String(seed), '--unsafe-control']);
    const summary = `seed ${seed}:\n${stdout}`;
    expect(report.unsafeControl).toBe(true);
    for (const name of ['lock', 'register', 'set', 'watch', 'election']) {
      expect(report.checkers[name]?.violations, `${name} ${summary}`).toBeGreaterThan(0);
    }
    expect(report.violationFile, summary).toBeDefined();
    expect(report.ok, summary).toBe(true);
    expect(code, summary).toBe(0);
  }, 120_000);
});
