import { performance } from 'node:perf_hooks';

/** A monotonic clock in milliseconds. The node layer is the only place that reads time; tests inject a fake. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => performance.now() };

/** A clock tests advance by hand. */
export class FakeClock implements Clock {
  constructor(private t = 0) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
