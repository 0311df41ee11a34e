// recordEvent: a burst of events from one client goes out EVENT_WRITES_IN_FLIGHT at a time, every
// one is written, and a failing write neither rejects nor holds up the rest. Fake client, no network.
import { describe, expect, it } from 'vitest';
import type { Pod } from '../api/kinds/core.ts';
import type { ApiClient } from '../client/rest.ts';
import { EVENT_WRITES_IN_FLIGHT, recordEvent } from './base.ts';

const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default', uid: 'u' } };

function fakeClient(failEvery = 0) {
  let running = 0;
  let peak = 0;
  const written: string[] = [];
  const client = {
    create: async (_r: unknown, ev: { message: string }) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 2));
      running--;
      if (failEvery && (written.length + 1) % failEvery === 0) {
        written.push('(failed)');
        throw new Error('server error');
      }
      written.push(ev.message);
      return ev;
    },
  };
  return { client: client as unknown as ApiClient, written, peak: () => peak };
}

describe('recordEvent', () => {
  it('writes a burst of 30 events with at most EVENT_WRITES_IN_FLIGHT at once', async () => {
    const f = fakeClient();
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => recordEvent(f.client, pod, 'Normal', 'Test', `m${i}`, 'test')),
    );
    expect(f.written).toHaveLength(30);
    expect(new Set(f.written).size).toBe(30);
    expect(f.peak()).toBe(EVENT_WRITES_IN_FLIGHT);
  });

  it('swallows failed writes and still writes the others', async () => {
    const f = fakeClient(3);
    await Promise.all(
      Array.from({ length: 9 }, (_, i) => recordEvent(f.client, pod, 'Warning', 'Test', `m${i}`, 'test')),
    );
    expect(f.written.filter((m) => m === '(failed)')).toHaveLength(3);
    expect(f.written.filter((m) => m !== '(failed)')).toHaveLength(6);
  });

  it('gates each client on its own', async () => {
    const a = fakeClient();
    const b = fakeClient();
    await Promise.all([
      ...Array.from({ length: 8 }, () => recordEvent(a.client, pod, 'Normal', 'T', 'a', 'test')),
      ...Array.from({ length: 8 }, () => recordEvent(b.client, pod, 'Normal', 'T', 'b', 'test')),
    ]);
    expect(a.peak()).toBe(EVENT_WRITES_IN_FLIGHT);
    expect(b.peak()).toBe(EVENT_WRITES_IN_FLIGHT);
  });
});
