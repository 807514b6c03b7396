/**
 * Waiting on an observable condition in a test: polls `cond` (every 10 ms) until it holds, and fails with
 * `timed out waiting for <what>` after `ms`. For conditions no event announces (a metric, a client's state).
 */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** `p`, or a rejection `timed out waiting for <what>` after `ms`: a bound on a wait for an event, not a pause. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)));
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
