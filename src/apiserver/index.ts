/**
 * The public face of src/apiserver: the Kubernetes-compatible API server, its PKI and kubeconfig
 * helpers, and `runApiServer`, the one call the CLI makes to bring up a server with its state
 * (certificates, token, kubeconfig) under a directory.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openStore, type StoreOptions } from '../store/index.ts';
import type { ObjectStore } from '../store/types.ts';
import { generatePki, newToken, writeKubeconfig } from './pki.ts';
import { type ApiServer, startApiServer } from './server.ts';

export { SERVER_VERSION } from './discovery.ts';
export {
  generatePki,
  type KubeconfigOptions,
  newToken,
  type Pki,
  type PkiOptions,
  writeKubeconfig,
} from './pki.ts';
export { DEFAULT_NAMESPACES } from './registry.ts';
export { type ApiServer, type ApiServerOptions, startApiServer } from './server.ts';

/** Options for runApiServer. */
export interface RunApiServerOptions {
  /** Directory for pki/, the token and the kubeconfig (created if missing). */
  stateDir: string;
  /** Where objects live (default: the embedded durable store under `<stateDir>/store`). */
  store?: StoreOptions;
  /** Listen port (default 0 = random). */
  port?: number;
  host?: string;
  /** Name of the cluster/context in the kubeconfig (default `podnet`). */
  clusterName?: string;
  log?: (line: string) => void;
  /** Service ClusterIP range (default 10.96.0.0/12). */
  serviceCIDR?: string;
}

/** A running API server with its client credentials. */
export interface RunningApiServer {
  url: string;
  kubeconfigPath: string;
  token: string;
  store: ObjectStore;
  server: ApiServer;
  /** Stops the server, then closes the store. */
  dispose(): Promise<void>;
}

async function loadOrCreateToken(path: string): Promise<string> {
  try {
    const t = (await readFile(path, 'utf8')).trim();
    if (t) return t;
  } catch {
    // First run: no token yet.
  }
  const token = newToken();
  await writeFile(path, `${token}\n`, { mode: 0o600 });
  return token;
}

/**
 * Creates (or reuses) the PKI and token under `stateDir`, opens the store, starts the server and
 * writes `<stateDir>/kubeconfig` pointing at it.
 */
export async function runApiServer(o: RunApiServerOptions): Promise<RunningApiServer> {
  const pki = await generatePki(join(o.stateDir, 'pki'));
  const token = await loadOrCreateToken(join(o.stateDir, 'token'));
  const store = await openStore(o.store ?? { backend: 'embedded', dir: join(o.stateDir, 'store') });
  let server: ApiServer;
  try {
    server = await startApiServer({
      store,
      host: o.host,
      port: o.port,
      tls: { certPem: pki.certPem, keyPem: pki.keyPem },
      token,
      log: o.log,
      serviceCIDR: o.serviceCIDR,
    });
  } catch (e) {
    await store.dispose();
    throw e;
  }
  const kubeconfigPath = join(o.stateDir, 'kubeconfig');
  await writeKubeconfig(kubeconfigPath, {
    server: server.url,
    caPem: pki.caPem,
    token,
    clusterName: o.clusterName ?? 'podnet',
  });
  let disposed = false;
  return {
    url: server.url,
    kubeconfigPath,
    token,
    store,
    server,
    async dispose() {
      if (disposed) return;
      disposed = true;
      try {
        await server.dispose();
      } finally {
        await store.dispose();
      }
    },
  };
}
