/**
 * A small seeded PRNG for chaos and crash tests: the same seed gives the same schedule of kills, delays and
 * choices, so a failing run can be replayed. Not for cryptography.
 *
 * ```ts
 * const rng = new Rng(seedFromEnv('CRASH_SEED', 1234));   // CRASH_SEED=… overrides the default
 * rng.int(10);         // 0 ≤ n < 10
 * rng.between(5, 9);   // 5 ≤ n ≤ 9
 * rng.chance(0.25);    // true one time in four
 * ```
 */

/** mulberry32: 32-bit state, full period, good enough statistical quality for test schedules. */
export class Rng {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [lo, hi] (both inclusive). */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** The seed in environment variable `name` (decimal), or `fallback`. */
export function seedFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new Error(`${name} must be an integer, got ${raw}`);
  return n;
}
