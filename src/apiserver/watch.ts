/**
 * Watch over HTTP, as Kubernetes streams it: a 200 response with chunked transfer encoding and
 * one JSON object per line, `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":{...}}`.
 * Errors discovered after the stream started — notably a resourceVersion older than the kept
 * history — are sent as an ERROR event carrying a Status (410 Expired), which is what makes
 * informers relist.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { apiVersionOf, type ResourceInfo } from '../api/resources.ts';
import type { KubeObject } from '../api/types.ts';
import type { ObjectStore, WatchOptions } from '../store/types.ts';
import type { Disposable } from '../util/disposable.ts';
import { toStatus } from './http.ts';

/** Longest watch when the client gives no timeoutSeconds (upstream picks 30–60 min at random). */
export const DEFAULT_WATCH_TIMEOUT_S = 1800;

/** Parameters of one HTTP watch. */
export interface HttpWatchOptions extends WatchOptions {
  /** Close the stream after this many seconds. */
  timeoutSeconds?: number;
  /**
   * For `sendInitialEvents=true`: objects sent as ADDED before the watch starts (at
   * `resourceVersion`), followed by a BOOKMARK annotated `k8s.io/initial-events-end`.
   */
  initialEvents?: { items: KubeObject[]; resourceVersion: string };
  /** Turns a stored object into what this client asked for (Table, metadata, or as is). */
  transform: (obj: KubeObject, type: string) => unknown;
}

/**
 * Streams a watch on `res` to the response until the client goes away, the timeout passes or
 * the returned Disposable is disposed (server shutdown).
 */
export function serveWatch(
  store: ObjectStore,
  res: ResourceInfo,
  req: IncomingMessage,
  out: ServerResponse,
  opts: HttpWatchOptions,
): Disposable {
  out.writeHead(200, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-cache, private',
    'Transfer-Encoding': 'chunked',
  });
  out.flushHeaders();
  let closed = false;
  let storeWatch: Disposable | undefined;
  let timer: NodeJS.Timeout | undefined;
  const finish = () => {
    if (closed) return;
    closed = true;
    if (timer) clearTimeout(timer);
    if (storeWatch) void storeWatch.dispose();
    if (!out.writableEnded) out.end();
  };
  const send = (type: string, object: unknown) => {
    if (closed) return;
    out.write(`${JSON.stringify({ type, object })}\n`);
  };
  req.on('close', finish);
  out.on('close', finish);
  try {
    if (opts.initialEvents) {
      for (const item of opts.initialEvents.items) send('ADDED', opts.transform(item, 'ADDED'));
      send('BOOKMARK', {
        apiVersion: apiVersionOf(res),
        kind: res.kind,
        metadata: {
          resourceVersion: opts.initialEvents.resourceVersion,
          annotations: { 'k8s.io/initial-events-end': 'true' },
        },
      });
    }
    storeWatch = store.watch(
      res,
      {
        namespace: opts.namespace,
        filter: opts.filter,
        resourceVersion: opts.resourceVersion,
        allowBookmarks: opts.allowBookmarks,
        bookmarkIntervalMs: opts.bookmarkIntervalMs,
      },
      (ev) => {
        try {
          send(ev.type, ev.type === 'BOOKMARK' ? ev.object : opts.transform(ev.object, ev.type));
        } catch (e) {
          send('ERROR', toStatus(e));
          finish();
        }
      },
    );
    if (closed) void storeWatch.dispose();
  } catch (e) {
    send('ERROR', toStatus(e));
    finish();
    return { dispose: finish };
  }
  const secs = opts.timeoutSeconds ?? DEFAULT_WATCH_TIMEOUT_S;
  timer = setTimeout(finish, Math.max(0, secs) * 1000);
  timer.unref?.();
  return { dispose: finish };
}
