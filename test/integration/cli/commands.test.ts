// The cluster commands of the podnet CLI (get, describe, apply, delete, rollout undo, logs, exec),
// run as a user runs them (`node bin/podnet.mjs …`) against an API server and controller manager
// started here, in the state directory of cluster "clitest" under a temporary PODNET_HOME, so the
// CLI finds the kubeconfig where `podnet up` would write it. No nodes run: logs reads a log file
// laid out as a node agent writes it; exec (root only) enters a network namespace made here.
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findResource } from '../../../src/api/resources.ts';
import type { KubeObject } from '../../../src/api/types.ts';
import { type RunningApiServer, runApiServer } from '../../../src/apiserver/index.ts';
import { clusterDir } from '../../../src/cli/paths.ts';
import { ApiClient } from '../../../src/client/index.ts';
import { type ControllerManager, startControllerManager } from '../../../src/controllers/index.ts';
import { containerLogPath, sandboxName } from '../../../src/node/names.ts';

const root = resolve(__dirname, '../../..');
const bin = join(root, 'bin/podnet.mjs');
const home = mkdtempSync(join(tmpdir(), 'podnet-cli-'));
const env = { ...process.env, PODNET_HOME: home };
const CLUSTER = 'clitest';
const PODS = findResource('', 'v1', 'pods')!;
const DEPLOYMENTS = findResource('apps', 'v1', 'deployments')!;
const REPLICASETS = findResource('apps', 'v1', 'replicasets')!;

let api: RunningApiServer;
let client: ApiClient;
let cm: ControllerManager;

/** Runs the CLI without blocking this process (the API server answers from this event loop). */
function podnet(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    // `--name` goes before a `--`, after which everything is the exec'd command.
    const dash = args.indexOf('--');
    const argv =
      dash < 0
        ? [...args, '--name', CLUSTER]
        : [...args.slice(0, dash), '--name', CLUSTER, ...args.slice(dash)];
    const child = spawn(process.execPath, [bin, ...argv], { env, cwd: root });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b));
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    child.on('error', rej);
    child.on('close', (code) => res({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

async function until<T>(fn: () => Promise<T | undefined | false>, what: string, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const deployment = (image: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: ${image}
        ports: [{containerPort: 8080}]
`;

const service = `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`;

beforeAll(async () => {
  api = await runApiServer({ stateDir: clusterDir(CLUSTER, env), store: { backend: 'memory' }, port: 0 });
  client = ApiClient.fromKubeconfig(api.kubeconfigPath);
  cm = await startControllerManager({ client, disable: ['node-lifecycle-controller'] });
}, 30_000);

afterAll(async () => {
  await cm?.dispose();
  await client?.dispose();
  await api?.dispose();
  rmSync(home, { recursive: true, force: true });
});

describe('podnet get / apply / describe / delete', () => {
  it('applies a multi-document file, then reports unchanged and configured', async () => {
    const file = join(home, 'app.yaml');
    writeFileSync(file, `${deployment('podnet/http-echo')}---\n${service}`);
    const first = await podnet(['apply', '-f', file]);
    expect(first.stderr).toBe('');
    expect(first.stdout).toBe('deployment.apps/web created\nservice/web created\n');
    const again = await podnet(['apply', '-f', file]);
    expect(again.stdout).toBe('deployment.apps/web unchanged\nservice/web unchanged\n');
    // From stdin, with the replica count changed.
    const scaled = await podnet(
      ['apply', '-f', '-'],
      deployment('podnet/http-echo').replace('replicas: 1', 'replicas: 2'),
    );
    expect(scaled.stdout).toBe('deployment.apps/web configured\n');
    const live = await client.get(DEPLOYMENTS, 'default', 'web');
    expect(live.spec.replicas).toBe(2);
  }, 30_000);

  it('gets tables, wide, -A, names and yaml/json', async () => {
    const [svc, wide, all, one] = await Promise.all([
      podnet(['get', 'svc']),
      podnet(['get', 'services', '-o', 'wide']),
      podnet(['get', 'svc', '-A']),
      podnet(['get', 'deploy/web', '-o', 'json']),
    ]);
    expect(svc.code).toBe(0);
    expect(svc.stdout.split('\n')[0]).toMatch(/^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$/);
    expect(svc.stdout).toMatch(/^web\s+ClusterIP\s+10\.96\.\d+\.\d+\s+<none>\s+80\/TCP\s+\d+s$/m);
    expect(svc.stdout).toMatch(/^kubernetes\s+ClusterIP\s+10\.96\.0\.1\s/m);
    expect(wide.stdout).toMatch(/SELECTOR\n/);
    expect(wide.stdout).toMatch(/^web\s.*app=web$/m);
    expect(all.stdout).toMatch(/^NAMESPACE\s+NAME\s+TYPE/);
    expect(all.stdout).toMatch(/^default\s+web\s+ClusterIP/m);
    const obj = JSON.parse(one.stdout) as KubeObject;
    expect(obj.kind).toBe('Deployment');
    expect(obj.metadata.name).toBe('web');
    expect(obj.metadata.managedFields).toBeUndefined();
    // The deployment controller runs: its ReplicaSet shows up, selectable by label.
    const rs = await until(async () => {
      const r = await podnet(['get', 'rs', '-l', 'app=web', '-o', 'name']);
      return /^replicaset\.apps\/web-\S+$/m.test(r.stdout) && r.stdout;
    }, 'the ReplicaSet');
    expect(rs.trim().split('\n').length).toBe(1);
    const none = await podnet(['get', 'pods', '-l', 'app=nothing']);
    expect(none.code).toBe(0);
    expect(none.stdout).toBe('');
    expect(none.stderr).toBe('No resources found in default namespace.\n');
  }, 40_000);

  it('describes a deployment with its events', async () => {
    const r = await podnet(['describe', 'deployment', 'web']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Name:\s+web$/m);
    expect(r.stdout).toMatch(/^Replicas:\s+2 desired \|/m);
    expect(r.stdout).toMatch(/Image:\s+podnet\/http-echo/);
    expect(r.stdout).toMatch(/ScalingReplicaSet/);
  }, 20_000);

  it('fails in one line with a non-zero exit', async () => {
    const [missing, badType, noCluster] = await Promise.all([
      podnet(['get', 'pod', 'nope']),
      podnet(['get', 'widgets']),
      new Promise<{ code: number; stderr: string }>((res) => {
        const c = spawn(process.execPath, [bin, 'get', 'pods', '--name', 'absent'], { env, cwd: root });
        let stderr = '';
        c.stderr.on('data', (b: Buffer) => (stderr += b));
        c.on('close', (code) => res({ code: code ?? -1, stderr }));
      }),
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('error: pods "nope" not found\n');
    expect(badType.code).toBe(1);
    expect(badType.stderr).toBe('error: the server doesn\'t have a resource type "widgets"\n');
    expect(noCluster.code).toBe(1);
    expect(noCluster.stderr).toMatch(/^error: cluster "absent" has no kubeconfig at .*\n$/);
  }, 20_000);

  it('deletes by TYPE NAME and by -f', async () => {
    const file = join(home, 'cm.yaml');
    writeFileSync(file, 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c1}\ndata: {k: v}\n');
    expect((await podnet(['apply', '-f', file])).stdout).toBe('configmap/c1 created\n');
    const [byName, byFile] = await Promise.all([
      podnet(['delete', 'svc', 'web']),
      podnet(['delete', '-f', file]),
    ]);
    expect(byName.stdout).toBe('service "web" deleted\n');
    expect(byFile.stdout).toBe('configmap "c1" deleted\n');
    const [again, ignored] = await Promise.all([
      podnet(['delete', 'svc/web']),
      podnet(['delete', 'svc/web', '--ignore-not-found']),
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('error: services "web" not found\n');
    expect(ignored.code).toBe(0);
  }, 20_000);
});

describe('podnet rollout undo', () => {
  it('rolls the deployment back to the previous template', async () => {
    const revisions = async (n: number) => {
      const l = await client.list(REPLICASETS, 'default');
      return (
        l.items.filter((rs) => rs.metadata.annotations?.['deployment.kubernetes.io/revision']).length >= n
      );
    };
    await until(() => revisions(1), 'revision 1');
    const file = join(home, 'v2.yaml');
    writeFileSync(file, deployment('podnet/http-echo:v2').replace('replicas: 1', 'replicas: 2'));
    expect((await podnet(['apply', '-f', file])).stdout).toBe('deployment.apps/web configured\n');
    await until(() => revisions(2), 'revision 2');
    const r = await podnet(['rollout', 'undo', 'deployment/web']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('deployment.apps/web rolled back\n');
    const d = await client.get(DEPLOYMENTS, 'default', 'web');
    expect(d.spec.template.spec.containers[0].image).toBe('podnet/http-echo');
    const bad = await podnet(['rollout', 'undo', 'deploy/web', '--to-revision', '99']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/revision 99/);
    const wrongType = await podnet(['rollout', 'undo', 'svc/web']);
    expect(wrongType.stderr).toMatch(/deployments only/);
  }, 40_000);
});

describe('podnet logs / exec', () => {
  let pod: KubeObject;
  beforeAll(async () => {
    pod = await client.create(PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'logger', namespace: 'default' },
      spec: {
        nodeName: 'node-1',
        containers: [
          { name: 'main', image: 'busybox' },
          { name: 'side', image: 'busybox' },
        ],
      },
    });
  });
  const key = () => ({ namespace: 'default', name: 'logger', uid: pod.metadata.uid! });
  const stateDir = () => join(clusterDir(CLUSTER, env), 'nodes', 'node-1');

  it('prints the container log from the node state dir, with --tail, -c and --previous', async () => {
    const write = (c: string, run: number, text: string) => {
      const p = containerLogPath(stateDir(), key(), c, run);
      mkdirSync(resolve(p, '..'), { recursive: true });
      writeFileSync(p, text);
    };
    write('main', 0, 'old run\n');
    write('main', 1, 'one\ntwo\nthree\n');
    write('side', 0, 'from side\n');
    const [all, tail, side, prev, bad] = await Promise.all([
      podnet(['logs', 'logger']),
      podnet(['logs', 'logger', '--tail', '2']),
      podnet(['logs', 'pod/logger', '-c', 'side']),
      podnet(['logs', 'logger', '--previous']),
      podnet(['logs', 'logger', '-c', 'nope']),
    ]);
    expect(all.stdout).toBe('one\ntwo\nthree\n');
    expect(tail.stdout).toBe('two\nthree\n');
    expect(side.stdout).toBe('from side\n');
    expect(prev.stdout).toBe('old run\n');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: container nope is not valid for pod logger/);
  }, 20_000);

  it('follows a growing log with -f until SIGTERM', async () => {
    const p = containerLogPath(stateDir(), key(), 'side', 0);
    const dash = ['logs', 'logger', '-c', 'side', '-f', '--name', CLUSTER];
    const child = spawn(process.execPath, [bin, ...dash], { env, cwd: root });
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b));
    const closed = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    try {
      await until(async () => stdout.includes('from side\n'), 'the existing log');
      appendFileSync(p, 'appended later\n');
      await until(async () => stdout.includes('appended later\n'), 'the appended line');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await closed).toBe(0);
    expect(stdout).toBe('from side\nappended later\n');
  }, 20_000);

  it('exec fails in one line when the pod has no sandbox here', async () => {
    const r = await podnet(['exec', 'logger', '--', 'true']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: exec: pod default\/logger has no sandbox on this machine/);
  }, 20_000);

  it.skipIf(process.getuid?.() !== 0)(
    'exec runs in the pod netns and passes the exit code through',
    async () => {
      const ns = sandboxName(CLUSTER, key());
      execFileSync('ip', ['netns', 'add', ns]);
      try {
        const ok = await podnet([
          'exec',
          'logger',
          '--',
          'sh',
          '-c',
          'ip -o link show | wc -l; echo $POD_NAME',
        ]);
        expect(ok.code, ok.stderr).toBe(0);
        // A fresh namespace has only its loopback: the command ran inside it, not on the host.
        expect(ok.stdout).toBe('1\nlogger\n');
        const fail = await podnet(['exec', 'logger', '--', 'sh', '-c', 'exit 7']);
        expect(fail.code).toBe(7);
        expect(fail.stderr).toBe('');
      } finally {
        execFileSync('ip', ['netns', 'del', ns]);
      }
    },
    20_000,
  );
});

// A real 1-node cluster (netns pn-pncli-*, LAN 172.31.0.0/24 as `podnet up` plans it): logs and
// exec against a pod the node agent actually runs.
describe.skipIf(process.getuid?.() !== 0)('podnet logs / exec on a running cluster', () => {
  const upHome = mkdtempSync(join(tmpdir(), 'podnet-cli-up-'));
  const upEnv = { ...process.env, PODNET_HOME: upHome };
  const run = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((res, rej) => {
      const c = spawn(process.execPath, [bin, ...args], { env: upEnv, cwd: root });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (b: Buffer) => (stdout += b));
      c.stderr.on('data', (b: Buffer) => (stderr += b));
      c.on('error', rej);
      c.on('close', (code) => res({ code: code ?? -1, stdout, stderr }));
    });
  afterAll(async () => {
    await run(['down', '--name', 'pncli']);
    rmSync(upHome, { recursive: true, force: true });
  }, 60_000);

  it('reads the log of a running pod and execs in its namespace', async () => {
    const up = await run(['up', '--name', 'pncli', '--nodes', '1', '--detach', '--timeout', '90']);
    expect(up.code, up.stderr).toBe(0);
    const file = join(upHome, 'pod.yaml');
    writeFileSync(
      file,
      'apiVersion: v1\nkind: Pod\nmetadata: {name: echo}\nspec:\n  containers:\n  - {name: main, image: podnet/echo}\n',
    );
    expect((await run(['apply', '--name', 'pncli', '-f', file])).stdout).toBe('pod/echo created\n');
    const podIP = await until(
      async () => {
        const r = await run(['get', 'pod', 'echo', '--name', 'pncli', '-o', 'json']);
        const p = r.code === 0 ? JSON.parse(r.stdout) : undefined;
        return p?.status?.phase === 'Running' && (p.status.podIP as string);
      },
      'pod echo Running',
      60_000,
    );
    const logs = await until(async () => {
      const r = await run(['logs', 'echo', '--name', 'pncli']);
      return r.code === 0 && /listening on :8080/.test(r.stdout) && r.stdout;
    }, 'the echo server log');
    expect(logs).toMatch(/listening on :8080/);
    const ex = await run([
      'exec',
      'echo',
      '--name',
      'pncli',
      '--',
      'ip',
      '-4',
      '-o',
      'addr',
      'show',
      'dev',
      'eth0',
    ]);
    expect(ex.code, ex.stderr).toBe(0);
    expect(ex.stdout).toContain(`inet ${podIP}/`);
    expect((await run(['exec', 'echo', '--name', 'pncli', '--', 'sh', '-c', 'exit 4'])).code).toBe(4);
  }, 150_000);
});
