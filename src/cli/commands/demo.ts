/**
 * `podnet demo`: the README's "main job".
 * As root it brings up a 2-node cluster, applies a sample manifest with a real kubectl, waits for
 * the pods, and shows the IP-per-Pod model at work: every pod its own IP inside its node's podCIDR,
 * the same port on every pod, and pod-to-pod traffic across nodes with no NAT (each server reports
 * the client address it saw). Then it tears everything down (or keeps it with --keep).
 * Without root (or with --api-only) it runs the API server alone over the durable embedded store
 * and shows what kubectl does against it.
 */
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { findResource } from '../../api/resources.ts';
import type { KubeObject } from '../../api/types.ts';
import { PodnetError } from '../../util/errors.ts';
import { clusterDir } from '../paths.ts';
import { untilSignal } from './apiserver.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const out = (s: string) => process.stdout.write(`${s}\n`);

/** The kubectl to drive: Debian's 1.20 from .tools/ (what the tests use), else one on PATH. */
export function findKubectl(): string {
  const local = join(repoRoot, '.tools', 'kubectl');
  return existsSync(local) ? local : 'kubectl';
}

function kubectl(bin: string, kubeconfig: string, args: string[]): Promise<void> {
  out(`\n$ kubectl ${args.join(' ')}`);
  return new Promise((res, rej) => {
    const child = spawn(bin, ['--kubeconfig', kubeconfig, ...args], { stdio: 'inherit' });
    child.on('error', (e) =>
      rej(
        new PodnetError('PN_ERR_NOT_FOUND', `cannot run kubectl (${bin}): ${e.message}; run npm run setup`),
      ),
    );
    child.on('close', (code) =>
      code === 0
        ? res()
        : rej(new PodnetError('PN_ERR_INTERNAL', `kubectl ${args.join(' ')} exited ${code}`)),
    );
  });
}

interface DemoFlags {
  file: string;
  keep?: boolean;
  apiOnly?: boolean;
  timeout: string;
}

/** API server alone: what exists before any node does. */
async function apiOnlyDemo(f: DemoFlags): Promise<void> {
  const stateDir = clusterDir('demo');
  rmSync(stateDir, { recursive: true, force: true });
  const { runApiServer } = await import('../../apiserver/index.ts');
  const server = await runApiServer({
    stateDir,
    store: { backend: 'embedded', dir: join(stateDir, 'store') },
  });
  try {
    out(`API server: ${server.url} (embedded durable store in ${stateDir}/store)`);
    const k = (args: string[]) => kubectl(findKubectl(), server.kubeconfigPath, args);
    await k(['version', '--short']);
    await k(['apply', '-f', f.file]);
    await k(['apply', '-f', f.file]);
    await k(['get', 'namespaces']);
    await k(['get', 'deployments,services,ingresses', '-n', 'demo', '-o', 'wide']);
    await k(['scale', 'deployment/hello', '-n', 'demo', '--replicas=5']);
    out('\nThe objects are stored; pods run once nodes exist: run `npm start` as root for the cluster demo.');
    if (f.keep) {
      out(`kubeconfig: ${server.kubeconfigPath}\nkeeping the server up; Ctrl-C to stop`);
      await untilSignal();
    }
  } finally {
    await server.dispose();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A 2-node cluster, the sample app, and the IP-per-Pod model checked with real traffic. */
async function clusterDemo(f: DemoFlags): Promise<void> {
  const timeoutMs = Number(f.timeout) * 1000;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw new PodnetError('PN_ERR_USAGE', `--timeout "${f.timeout}" is not a number of seconds`, 'timeout');
  const { resolveClusterSpec } = await import('../../cluster/spec.ts');
  const { runCluster, runningCluster } = await import('../../cluster/run.ts');
  const { podExec } = await import('../../node/index.ts');
  const spec = resolveClusterSpec({ name: 'demo', nodes: 2 });
  const stateDir = clusterDir('demo');
  if (runningCluster(stateDir))
    throw new PodnetError(
      'PN_ERR_CONFIG',
      'cluster "demo" is already running: podnet down --name demo',
      'name',
    );

  // The demo starts from nothing every time (its store included).
  rmSync(stateDir, { recursive: true, force: true });

  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  out('podnet demo: a 2-node cluster, a Deployment of echo servers, and pod-to-pod traffic across nodes');
  const cluster = await runCluster({
    spec,
    stateDir,
    log: out,
    signal: abort.signal,
    readyTimeoutMs: timeoutMs,
  });
  try {
    const k = (args: string[]) => kubectl(findKubectl(), cluster.kubeconfigPath, args);
    await k(['get', 'nodes', '-o', 'wide']);
    await k(['get', 'nodes', '-o', 'custom-columns=NODE:.metadata.name,POD-CIDR:.spec.podCIDR']);
    await k(['apply', '-f', f.file]);

    // Wait for the Deployment's pods (deadline, and abort on Ctrl-C).
    const deployments = findResource('apps', 'v1', 'deployments')!;
    const pods = findResource('', 'v1', 'pods')!;
    out('\nwaiting for the pods of deployment demo/hello to be Ready …');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (abort.signal.aborted) throw new PodnetError('PN_ERR_TIMEOUT', 'interrupted');
      const d = await cluster.client.get(deployments, 'demo', 'hello');
      if ((d.status?.readyReplicas ?? 0) >= (d.spec?.replicas ?? 1)) break;
      if (Date.now() > deadline)
        throw new PodnetError('PN_ERR_TIMEOUT', `deployment demo/hello not Ready after ${f.timeout}s`);
      await sleep(500);
    }
    await k(['get', 'pods', '-n', 'demo', '-o', 'wide']);
    await k(['get', 'services,endpointslices', '-n', 'demo']);

    const list = await cluster.client.list(pods, 'demo', { labelSelector: 'app=hello' });
    const running = list.items.filter((p: KubeObject) => p.status?.podIP);
    out('\nIP-per-Pod: each pod calls another pod on the other node at <podIP>:8080/clientip;');
    out("the server answers with the address it saw. No NAT means it saw the caller's own pod IP.");
    let checked = 0;
    let crossNode = 0;
    for (const a of running) {
      const b = running.find((p) => p.spec?.nodeName !== a.spec?.nodeName) ?? running.find((p) => p !== a);
      if (!b) continue;
      const r = await podExec({
        clusterName: spec.name,
        pod: a as any,
        command: ['curl', '-s', '--max-time', '5', `http://${b.status.podIP}:8080/clientip`],
        timeoutMs: 10_000,
      });
      const seen = r.stdout.trim();
      const ok = r.code === 0 && seen.split(':')[0] === a.status.podIP;
      out(
        `  ${a.metadata.name} (${a.status.podIP}, ${a.spec.nodeName}) → ${b.metadata.name} (${b.status.podIP}, ${b.spec.nodeName}): saw ${seen || r.stderr.trim() || `exit ${r.code}`}  ${ok ? 'no NAT ✓' : '✗'}`,
      );
      if (!ok)
        throw new PodnetError(
          'PN_ERR_INTERNAL',
          `pod-to-pod traffic from ${a.metadata.name} did not arrive unchanged`,
        );
      checked++;
      if (a.spec?.nodeName !== b.spec?.nodeName) crossNode++;
    }
    if (checked === 0) throw new PodnetError('PN_ERR_INTERNAL', 'no running pods to check');
    out(
      `\n${checked} pod-to-pod calls (${crossNode} across nodes), each arriving with the caller's own IP: the flat pod network works.`,
    );
    if (f.keep) {
      out(
        `\nkeeping the cluster up: kubectl --kubeconfig ${cluster.kubeconfigPath} get pods -A   (Ctrl-C to stop)`,
      );
      await new Promise<void>((res) => abort.signal.addEventListener('abort', () => res(), { once: true }));
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    out('\ntearing the cluster down …');
    await cluster.dispose();
    out('done: no namespace, link or process of the demo is left.');
  }
}

/** Registers the command. */
export function register(program: Command): void {
  program
    .command('demo')
    .description('bring up a 2-node cluster, apply a sample app with kubectl, show pod-to-pod traffic (root)')
    .option('-f, --file <path>', 'manifest to apply', join(repoRoot, 'scenarios/sample/hello.yaml'))
    .option('--keep', 'keep the cluster (or API server) running afterwards, until Ctrl-C')
    .option('--api-only', 'only the API server and kubectl (what runs without root)')
    .option('--timeout <seconds>', 'how long to wait for nodes and pods', '120')
    .action(async (f: DemoFlags) => {
      if (f.apiOnly || process.getuid?.() !== 0) return apiOnlyDemo(f);
      return clusterDemo(f);
    });
}
