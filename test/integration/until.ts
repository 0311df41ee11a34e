/**
 * Polling helpers shared by the cluster-level integration tests: real clusters converge on their
 * own schedule, so tests wait for a condition with a deadline instead of sleeping a fixed time.
 */

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Calls `fn` every `intervalMs` until it returns a truthy value, which is returned; errors thrown
 * by `fn` count as "not yet". After `ms` it throws, naming `what` and the last error seen.
 */
export async function until<T>(
  fn: () => Promise<T | undefined | false | null>,
  what: string,
  ms: number,
  intervalMs = 200,
): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end)
      throw new Error(
        `timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message ?? last})` : ''}`,
      );
    await sleep(intervalMs);
  }
}
