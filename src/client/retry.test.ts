// retryOnConflict with scripted failures.
import { describe, expect, it } from 'vitest';
import { errors } from '../api/errors.ts';
import { retryOnConflict } from './retry.ts';

describe('retryOnConflict', () => {
  it('retries Conflicts until success', async () => {
    let n = 0;
    const r = await retryOnConflict(
      async () => {
        if (++n < 3) throw errors.conflict('pods', 'p', 'the object has been modified');
        return n;
      },
      { delayMs: 1 },
    );
    expect(r).toBe(3);
  });

  it('gives up after the attempts and rethrows other errors at once', async () => {
    let n = 0;
    await expect(
      retryOnConflict(
        async () => {
          n++;
          throw errors.conflict('pods', 'p', 'stale');
        },
        { attempts: 2, delayMs: 1 },
      ),
    ).rejects.toMatchObject({ reason: 'Conflict' });
    expect(n).toBe(2);
    let m = 0;
    await expect(
      retryOnConflict(async () => {
        m++;
        throw errors.notFound('pods', 'p');
      }),
    ).rejects.toMatchObject({ reason: 'NotFound' });
    expect(m).toBe(1);
  });
});
