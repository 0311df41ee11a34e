// Graceful pod deletion in the registry: a bound, running pod is only marked (deletionTimestamp =
// now + grace, deletionGracePeriodSeconds = grace) until a DELETE with grace 0 removes it; unbound
// and terminal pods go at once; a repeated DELETE may only shorten the grace. No root; the server
// runs over a memory store on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestServer, type TestServer } from './testing.ts';

const PODS = '/api/v1/namespaces/default/pods';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
});
afterAll(async () => {
  await s.dispose();
});

async function createPod(name: string, spec: Record<string, unknown> = {}) {
  const r = await s.req('POST', PODS, {
    body: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name },
      spec: { containers: [{ name: 'c', image: 'busybox' }], ...spec },
    },
  });
  expect(r.status).toBe(201);
  return r.body;
}

/** Seconds between an RFC 3339 timestamp and now (positive: in the future). */
function secondsFromNow(ts: string): number {
  return (Date.parse(ts) - Date.now()) / 1000;
}

describe('graceful pod deletion', () => {
  it('marks a bound pod with deletionTimestamp = now + 30 s and keeps it', async () => {
    await createPod('bound', { nodeName: 'n1' });
    const r = await s.req('DELETE', `${PODS}/bound`);
    // As upstream: 200 with the marked object.
    expect(r.status).toBe(200);
    expect(r.body.kind).toBe('Pod');
    expect(r.body.metadata.deletionGracePeriodSeconds).toBe(30);
    const left = secondsFromNow(r.body.metadata.deletionTimestamp);
    expect(left).toBeGreaterThan(27);
    expect(left).toBeLessThanOrEqual(31);
    const g = await s.req('GET', `${PODS}/bound`);
    expect(g.status).toBe(200);
    expect(g.body.metadata.deletionTimestamp).toBe(r.body.metadata.deletionTimestamp);
  });

  it('removes the pod on a DELETE with gracePeriodSeconds=0 and a uid precondition', async () => {
    const pod = (await s.req('GET', `${PODS}/bound`)).body;
    const wrong = await s.req('DELETE', `${PODS}/bound`, {
      body: { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0, preconditions: { uid: 'x' } },
    });
    expect(wrong.status).toBe(409);
    const r = await s.req('DELETE', `${PODS}/bound`, {
      body: {
        kind: 'DeleteOptions',
        apiVersion: 'v1',
        gracePeriodSeconds: 0,
        preconditions: { uid: pod.metadata.uid },
      },
    });
    expect(r.status).toBe(200);
    expect(r.body.kind).toBe('Status');
    expect((await s.req('GET', `${PODS}/bound`)).status).toBe(404);
  });

  it('deletes an unbound pod at once', async () => {
    await createPod('unbound');
    const r = await s.req('DELETE', `${PODS}/unbound`);
    expect(r.status).toBe(200);
    expect(r.body.kind).toBe('Status');
    expect((await s.req('GET', `${PODS}/unbound`)).status).toBe(404);
  });

  it('deletes a terminal (Succeeded) bound pod at once', async () => {
    await createPod('done', { nodeName: 'n1' });
    const st = await s.req('PATCH', `${PODS}/done/status`, {
      body: { status: { phase: 'Succeeded' } },
      headers: { 'content-type': 'application/merge-patch+json' },
    });
    expect(st.status).toBe(200);
    const r = await s.req('DELETE', `${PODS}/done`);
    expect(r.status).toBe(200);
    expect((await s.req('GET', `${PODS}/done`)).status).toBe(404);
  });

  it('deletes a bound pod at once with ?gracePeriodSeconds=0 (kubectl --force)', async () => {
    await createPod('forced', { nodeName: 'n1' });
    const r = await s.req('DELETE', `${PODS}/forced?gracePeriodSeconds=0`);
    expect(r.status).toBe(200);
    expect((await s.req('GET', `${PODS}/forced`)).status).toBe(404);
  });

  it('uses spec.terminationGracePeriodSeconds, and a DeleteOptions body overrides it', async () => {
    await createPod('spec-grace', { nodeName: 'n1', terminationGracePeriodSeconds: 10 });
    const a = await s.req('DELETE', `${PODS}/spec-grace`);
    expect(a.body.metadata.deletionGracePeriodSeconds).toBe(10);
    await createPod('body-grace', { nodeName: 'n1', terminationGracePeriodSeconds: 10 });
    // What kubectl 1.2x sends for `kubectl delete pod x --grace-period=7`.
    const b = await s.req('DELETE', `${PODS}/body-grace`, {
      body: {
        kind: 'DeleteOptions',
        apiVersion: 'v1',
        gracePeriodSeconds: 7,
        propagationPolicy: 'Background',
      },
    });
    expect(b.body.metadata.deletionGracePeriodSeconds).toBe(7);
    expect(secondsFromNow(b.body.metadata.deletionTimestamp)).toBeGreaterThan(4);
  });

  it('never lengthens the grace of a terminating pod; a grace-0 DELETE ends it', async () => {
    await createPod('shorten', { nodeName: 'n1', terminationGracePeriodSeconds: 100 });
    const first = await s.req('DELETE', `${PODS}/shorten`);
    expect(first.body.metadata.deletionGracePeriodSeconds).toBe(100);

    const longer = await s.req('DELETE', `${PODS}/shorten?gracePeriodSeconds=500`);
    expect(longer.body.metadata.deletionGracePeriodSeconds).toBe(100);
    expect(longer.body.metadata.deletionTimestamp).toBe(first.body.metadata.deletionTimestamp);
    const same = await s.req('DELETE', `${PODS}/shorten`);
    expect(same.body.metadata.deletionGracePeriodSeconds).toBe(100);
    // Writes to a terminating pod (the node agent's status updates) do not end it early.
    const st = await s.req('PATCH', `${PODS}/shorten/status`, {
      body: { status: { phase: 'Running' } },
      headers: { 'content-type': 'application/merge-patch+json' },
    });
    expect(st.status).toBe(200);
    const kept = await s.req('GET', `${PODS}/shorten`);
    expect(kept.status).toBe(200);
    // No synthetic finalizer: the grace period alone keeps the pod, as upstream.
    expect(kept.body.metadata.finalizers).toBeUndefined();

    // A shorter non-zero grace moves the deadline earlier, measured from the first request.
    const shorter = await s.req('DELETE', `${PODS}/shorten?gracePeriodSeconds=20`);
    expect(shorter.status).toBe(200);
    expect(shorter.body.metadata.deletionGracePeriodSeconds).toBe(20);
    const moved =
      Date.parse(first.body.metadata.deletionTimestamp) - Date.parse(shorter.body.metadata.deletionTimestamp);
    expect(moved).toBeGreaterThanOrEqual(79_000);
    expect(moved).toBeLessThanOrEqual(81_000);
    // A plain update cannot move it back.
    const put = await s.req('PATCH', `${PODS}/shorten`, {
      body: { metadata: { labels: { touched: 'yes' } } },
      headers: { 'content-type': 'application/merge-patch+json' },
    });
    expect(put.body.metadata.deletionTimestamp).toBe(shorter.body.metadata.deletionTimestamp);
    expect(put.body.metadata.deletionGracePeriodSeconds).toBe(20);

    const gone = await s.req('DELETE', `${PODS}/shorten?gracePeriodSeconds=0`);
    expect(gone.status).toBe(200);
    expect((await s.req('GET', `${PODS}/shorten`)).status).toBe(404);
  });

  it('keeps a terminating pod with a Foreground delete through its grace period', async () => {
    await createPod('fg', { nodeName: 'n1' });
    const a = await s.req('DELETE', `${PODS}/fg`, {
      body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Foreground' },
    });
    expect(a.body.metadata.finalizers).toEqual(['foregroundDeletion']);
    expect(a.body.metadata.deletionGracePeriodSeconds).toBe(30);
    // The garbage collector drops foregroundDeletion (no dependents); the grace period still holds.
    await eventually(async () => {
      const g = await s.req('GET', `${PODS}/fg`);
      expect(g.status).toBe(200);
      expect(g.body.metadata.finalizers ?? []).toEqual([]);
      return true;
    });
    const b = await s.req('DELETE', `${PODS}/fg?gracePeriodSeconds=0`);
    expect(b.status).toBe(200);
    expect((await s.req('GET', `${PODS}/fg`)).status).toBe(404);
  });

  it('rejects a gracePeriodSeconds that is not a number', async () => {
    await createPod('bad-grace', { nodeName: 'n1' });
    const r = await s.req('DELETE', `${PODS}/bad-grace`, { body: { gracePeriodSeconds: 'soon' } });
    expect(r.status).toBe(400);
    expect((await s.req('GET', `${PODS}/bad-grace`)).status).toBe(200);
  });
});
