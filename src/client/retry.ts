/**
 * Optimistic-concurrency helper for writers: read, change, write with the read's resourceVersion,
 * and on 409 Conflict read again and retry (client-go's `retry.RetryOnConflict`).
 */
import { isApiError } from '../api/errors.ts';
import { type Clock, realClock, sleep } from './clock.ts';

/**
 * Runs `fn` until it succeeds or fails with something other than Conflict, at most `attempts`
 * times (default 5), waiting `delayMs`·2^n between tries. The last Conflict is rethrown.
 */
export async function retryOnConflict<T>(
  fn: () => Promise<T>,
  opts: { attempts?: number; delayMs?: number; clock?: Clock } = {},
): Promise<T> {
  const attempts = opts.attempts ?? 5;
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (!isApiError(e, 'Conflict') || i + 1 >= attempts) throw e;
      await sleep(opts.clock ?? realClock, (opts.delayMs ?? 10) * 2 ** i);
    }
  }
}
