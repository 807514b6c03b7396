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
