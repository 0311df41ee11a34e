/**
 * Entry point of one ingress worker process (see workers.ts): receives its options and the two
 * listening sockets over IPC, runs the controller on them, reports ready, and stops on request.
 */
import type net from 'node:net';
import { ApiClient } from '../../src/client/rest.ts';
import { type IngressController, startIngressController } from './controller.ts';
import type { WorkerStart } from './workers.ts';

let start: WorkerStart | undefined;
const handles: { http?: net.Server; https?: net.Server } = {};
let ctl: IngressController | undefined;
let client: ApiClient | undefined;

async function maybeStart(): Promise<void> {
  if (!start || !handles.http || !handles.https || ctl) return;
  try {
    client = new ApiClient(start.clientConfig as any);
    ctl = await startIngressController({
      ...(start.opts as any),
      client,
      handles: {
        http: handles.http,
        https: handles.https,
        httpPort: start.httpPort,
        httpsPort: start.httpsPort,
      },
    });
    process.send?.({ type: 'ready' });
  } catch (e) {
    process.send?.({ type: 'error', message: (e as Error).message });
    process.exit(1);
  }
}

process.on('message', (m: any, handle: unknown) => {
  if (m?.type === 'start') start = m;
  else if (m?.type === 'handle') handles[m.which as 'http' | 'https'] = handle as net.Server;
  else if (m?.type === 'stop') {
    void (async () => {
      await ctl?.dispose();
      client?.dispose();
      process.exit(0);
    })();
    return;
  }
  void maybeStart();
});
// The parent went away: do not linger.
process.on('disconnect', () => process.exit(0));
