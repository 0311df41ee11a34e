/**
 * Ingress router throughput and tail latency: requests/s and p99 with `wrk` through podnet's
 * router, compared in one run with the backend alone (the limit), nginx as a reverse proxy
 * (Debian's nginx, temp config, its own pid/log paths, keep-alive upstream) and a plain Node
 * reverse proxy: the `http-proxy` package (the peer the issue names) and a hand-written node:http
 * piping proxy (the "Node peers"). Same backend, same request, same
 * connection count; configurations alternate over several rounds and the median is reported.
 * Backend, router and peer each run in a child process of their own (`--role`), at nice -10,
 * started from an esbuild bundle of this file as `podnet up` starts the router.
 *
 *   npx tsx bench/ingress.ts [--seconds 4] [--rounds 3] [--conns 32] [--write]
 *   (--write updates bench/RESULTS-ingress.md)
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, setPriority, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { startIngressController } from '../proxy/ingress/controller.ts';
import { makeIngress, makeIngressClass, makeService, makeSlice } from '../proxy/ingress/testing.ts';
import { findResource } from '../src/api/resources.ts';
import { startTestServer } from '../src/apiserver/testing.ts';
import { InformerFactory } from '../src/client/factory.ts';
import { ApiClient } from '../src/client/rest.ts';
import { bundleEntry } from '../src/cluster/bundle.ts';
import { openStore } from '../src/store/index.ts';
import type { ObjectStore } from '../src/store/types.ts';

const run = promisify(execFile);
const args = process.argv.slice(2);
const opt = (name: string, d: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : d;
};
const SECONDS = opt('seconds', 4);
const ROUNDS = opt('rounds', 3);
const CONNS = opt('conns', 32);
const BODY = Buffer.from('hello from the backend\n'.repeat(4));
/** Kept under the generated table by --write (the hand-written reading of the latest run). */
const READING = (() => {
  try {
    const old = readFileSync(resolve(import.meta.dirname, 'RESULTS-ingress.md'), 'utf8');
    const i = old.indexOf('\n## Reading');
    return i >= 0 ? old.slice(i) : '';
  } catch {
    return '';
  }
})();

async function listen(s: http.Server, host: string, port = 0): Promise<number> {
  await new Promise<void>((r) => s.listen(port, host, () => r()));
  return (s.address() as AddressInfo).port;
}

/**
 * CPU time (user + system, clock ticks) of `pid` and all its descendants, from /proc. Under a
 * loaded shared machine requests/s mostly measures who got the cores; CPU time per request
 * measures the work each proxy does, which the load does not change much.
 */
function treeTicks(pid: number): number {
  let total = 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    total += Number(f[11]) + Number(f[12]);
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const kids = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      for (const k of kids ? kids.split(' ') : []) total += treeTicks(Number(k));
    }
  } catch {
    // The process went away: count nothing.
  }
  return total;
}
const TICK_US = 1e6 / 100; // USER_HZ is 100 on Linux

async function wrk(url: string): Promise<{ rps: number; p99ms: number; errors: number; requests: number }> {
  const { stdout } = await run('wrk', [
    '-t1',
    `-c${CONNS}`,
    `-d${SECONDS}s`,
    '--latency',
    '-H',
    'Host: bench.test',
    url,
  ]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
  const p = /99%\s+([\d.]+)(us|ms|s)/.exec(stdout);
  const p99ms = p ? Number(p[1]) * (p[2] === 'us' ? 0.001 : p[2] === 's' ? 1000 : 1) : Number.NaN;
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const errors = non2xx + (sock ? sock.slice(1).reduce((n, x) => n + Number(x), 0) : 0);
  const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0);
  return { rps, p99ms, errors, requests };
}

/** A plain Node reverse proxy: node:http server + keep-alive agent, piping both ways. */
async function startNodePeer(target: {
  host: string;
  port: number;
}): Promise<{ port: number; close(): void }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const s = http.createServer((req, res) => {
    const up = http.request(
      {
        host: target.host,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on('error', () => {
      res.statusCode = 502;
      res.end();
    });
    req.pipe(up);
  });
  const port = await listen(s, '127.0.0.1');
  return {
    port,
    close: () => {
      s.close();
      s.closeAllConnections();
      agent.destroy();
    },
  };
}

/**
 * The peer the issue names: the `http-proxy` package (node-http-proxy), as its README sets up a
 * reverse proxy — `createProxyServer({ target, agent })` behind node:http, a keep-alive Agent.
 */
async function startHttpProxyPeer(target: { host: string; port: number }): Promise<{ port: number }> {
  const { default: httpProxy } = await import('http-proxy');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const proxy = httpProxy.createProxyServer({
    target: `http://${target.host}:${target.port}`,
    agent,
    xfwd: true,
  });
  proxy.on('error', (_e, _req, res) => {
    if ('writeHead' in res && !res.headersSent) res.writeHead(502);
    res.end();
  });
  const s = http.createServer((req, res) => proxy.web(req, res));
  return { port: await listen(s, '127.0.0.1') };
}

async function startNginx(target: { host: string; port: number }, workers: string) {
  const dir = mkdtempSync(join(tmpdir(), 'pn-bench-nginx-'));
  const probe = http.createServer();
  const port = await listen(probe, '127.0.0.1');
  await new Promise<void>((r) => probe.close(() => r()));
  const conf = `
worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream backend { server ${target.host}:${target.port}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    server_name bench.test;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }
}`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child = spawn('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir, '-e', join(dir, 'error.log')], {
    stdio: 'ignore',
  });
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      http
        .get({ host: '127.0.0.1', port, path: '/', headers: { host: 'bench.test' } }, (res) => {
          res.resume();
          r(res.statusCode === 200);
        })
        .on('error', () => r(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    pid: child.pid!,
    close: async () => {
      child.kill('SIGQUIT');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs one part in its own process (so backend, router and peer do not share an event loop). */
async function role(name: string): Promise<void> {
  const bport = opt('backend-port', 0);
  let port = 0;
  if (name === 'backend') {
    const backend = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
      res.end(BODY);
    });
    port = await listen(backend, '127.0.0.2');
  } else if (name === 'peer') {
    port = (await startNodePeer({ host: '127.0.0.2', port: bport })).port;
  } else if (name === 'http-proxy') {
    port = (await startHttpProxyPeer({ host: '127.0.0.2', port: bport })).port;
  } else if (name === 'router') {
    port = Number(new URL((await startRouter(bport)).httpUrl).port);
  } else if (name === 'router-general') {
    port = Number(new URL((await startRouter(bport, false)).httpUrl).port);
  } else if (name === 'router-workers') {
    port = Number(new URL((await startRouterWorkers(bport, opt('workers', cpus().length))).httpUrl).port);
  }
  process.stdout.write(`PORT ${port}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

/**
 * How role processes start: this file bundled with esbuild, as a cluster runs the router (from a
 * bundle, not through tsx, whose per-function name wrappers cost the hot path); tsx if bundling
 * fails.
 */
let roleCommand: string[] | undefined;

/** Spawns `role` as a child at raised priority; resolves with its port and a stop function. */
async function spawnRole(name: string, bport = 0): Promise<{ port: number; pid: number; stop(): void }> {
  const [cmd, ...argv] = roleCommand ?? [process.execPath, '--import', 'tsx', import.meta.filename];
  const child = spawn(cmd!, [...argv, '--role', name, '--backend-port', String(bport)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  try {
    setPriority(child.pid!, -10);
  } catch {
    // Not root: run at normal priority.
  }
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (c) => reject(new Error(`${name} exited ${c}`)));
  });
  return { port, pid: child.pid!, stop: () => child.kill() };
}

/** The router with worker processes: they need an API server (each lists and watches). */
async function startRouterWorkers(bport: number, workers: number) {
  const api = await startTestServer();
  const client = new ApiClient(api.kubeconfigPath);
  await seed(api.store, bport);
  return startIngressController({
    client,
    workers,
    listen: { host: '127.0.0.1', httpPort: 0, httpsPort: 0 },
    log: () => {},
  });
}

async function seed(store: ObjectStore, bport: number) {
  const R = (g: string, p: string) => findResource(g, 'v1', p)!;
  await store.create(R('networking.k8s.io', 'ingressclasses'), makeIngressClass('podnet', true));
  await store.create(R('', 'services'), makeService('default', 'web', [['http', 80, 'http']]));
  await store.create(
    R('discovery.k8s.io', 'endpointslices'),
    makeSlice('default', 'web', [['127.0.0.2', true]], [['http', bport]]),
  );
  await store.create(
    R('networking.k8s.io', 'ingresses'),
    makeIngress('default', 'bench', { 'bench.test': [['/', 'Prefix', 'web', 80]] }),
  );
}

async function startRouter(bport: number, fastPath = true) {
  // The router, fed from an in-process store (no API server needed for a data-plane benchmark).
  const store = await openStore({ backend: 'memory' });
  await seed(store, bport);
  const informers = InformerFactory.forStore(store);
  return startIngressController({
    informers,
    fastPath,
    listen: { host: '127.0.0.1', httpPort: 0, httpsPort: 0 },
    log: () => {},
  });
}

async function main() {
  try {
    setPriority(-10);
  } catch {
    // Not root.
  }
  roleCommand = await bundleEntry(
    import.meta.filename,
    join(import.meta.dirname, '..', 'node_modules', '.cache', 'podnet', 'bench-ingress.mjs'),
    (l) => console.error(l),
  );
  const backend = await spawnRole('backend');
  const bport = backend.port;
  const target = { host: '127.0.0.2', port: bport };
  const router = await spawnRole('router', bport);
  const routerG = await spawnRole('router-general', bport);
  const routerW = await spawnRole('router-workers', bport);
  const peer = await spawnRole('peer', bport);
  const hpPeer = await spawnRole('http-proxy', bport);
  const nginx1 = await startNginx(target, '1');
  const nginxAuto = await startNginx(target, 'auto');

  // name, URL, the proxy's process (its tree is charged for CPU; none for the limit row).
  const configs: Array<[string, string, number | undefined]> = [
    ['backend direct (limit)', `http://127.0.0.2:${bport}/`, undefined],
    ['podnet router', `http://127.0.0.1:${router.port}/`, router.pid],
    ['podnet router, general path only', `http://127.0.0.1:${routerG.port}/`, routerG.pid],
    [`podnet router (workers: ${cpus().length})`, `http://127.0.0.1:${routerW.port}/`, routerW.pid],
    ['nginx (1 worker)', `http://127.0.0.1:${nginx1.port}/`, nginx1.pid],
    [`nginx (auto = ${cpus().length} workers)`, `http://127.0.0.1:${nginxAuto.port}/`, nginxAuto.pid],
    ['Node peer (http-proxy package)', `http://127.0.0.1:${hpPeer.port}/`, hpPeer.pid],
    ['Node peer (node:http, hand-written)', `http://127.0.0.1:${peer.port}/`, peer.pid],
  ];
  const results = new Map<string, Array<{ rps: number; p99ms: number; errors: number; cpuUs: number }>>();
  const load0 = loadavg()[0]!;
  try {
    for (const [, url] of configs) await wrk(url); // warm-up (JIT, pools)
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, url, pid] of configs) {
        const t0 = pid ? treeTicks(pid) : 0;
        const w = await wrk(url);
        const cpuUs = pid && w.requests > 0 ? ((treeTicks(pid) - t0) * TICK_US) / w.requests : Number.NaN;
        const x = { ...w, cpuUs };
        if (!results.has(name)) results.set(name, []);
        results.get(name)!.push(x);
        console.log(
          `round ${r + 1} ${name}: ${x.rps.toFixed(0)} req/s, p99 ${x.p99ms.toFixed(2)} ms, errors ${x.errors}, proxy CPU ${cpuUs.toFixed(0)} µs/req`,
        );
      }
    }
  } finally {
    router.stop();
    routerG.stop();
    routerW.stop();
    peer.stop();
    hpPeer.stop();
    await nginx1.close();
    await nginxAuto.close();
    backend.stop();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const summary = configs.map(([name]) => {
    const xs = results.get(name)!;
    return {
      name,
      rps: median(xs.map((x) => x.rps)),
      p99: median(xs.map((x) => x.p99ms)),
      errors: xs.reduce((n, x) => n + x.errors, 0),
      cpuUs: median(xs.map((x) => x.cpuUs)),
    };
  });
  const ours = summary[1]!;
  const oursW = summary[3]!;
  const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '—');
  const lines = [
    '| configuration | req/s (median) | p99 ms (median) | errors | proxy CPU µs/req (median) | router ÷ this (req/s) | router (workers) ÷ this (req/s) | this ÷ router (CPU per request) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...summary.map(
      (s) =>
        `| ${s.name} | ${s.rps.toFixed(0)} | ${s.p99.toFixed(2)} | ${s.errors} | ${Number.isFinite(s.cpuUs) ? s.cpuUs.toFixed(0) : '—'} | ${ratio(ours.rps, s.rps)} | ${ratio(oursW.rps, s.rps)} | ${ratio(s.cpuUs, ours.cpuUs)} |`,
    ),
  ];
  const table = lines.join('\n');
  console.log(`\n${table}\n`);
  if (args.includes('--write')) {
    const cpu = cpus()[0]?.model ?? 'unknown CPU';
    const text = `# Ingress router benchmark results

\`npx tsx bench/ingress.ts --write\` — \`wrk -t1 -c${CONNS} -d${SECONDS}s --latency\` against the same
Node backend on 127.0.0.2 (a ${BODY.length}-byte 200 answer) directly (the limit), through podnet's
ingress router (one process with its raw-socket fast path for plain bodiless requests — the
default; the same router with \`fastPath: false\`, i.e. Node's HTTP server + undici for every
request; and \`workers: ${cpus().length}\` processes sharing the listening sockets), through nginx 1.22 as a
reverse proxy (keep-alive upstream pool, access log off) once with 1 worker and once with
\`worker_processes auto\` (= ${cpus().length}), and through a plain Node reverse proxy (node:http server +
keep-alive Agent) twice: the \`http-proxy\` package (node-http-proxy 1.18, with \`xfwd\`), the peer the
issue names, and a hand-written node:http proxy that only pipes (no headers work at all). Fair pairs: the one-process router against
nginx with 1 worker, the ${cpus().length}-worker router against nginx \`auto\` (${cpus().length} workers). Configurations
alternate, ${ROUNDS} rounds after a warm-up pass; medians reported. wrk, the backend and every proxy share
the machine's cores, so the "limit" row is the backend alone with wrk. The backend, the routers
and the Node peer each run in their own process; the bench and everything it starts run at
nice -10 to reduce (not remove) the effect of other work on the machine.

"proxy CPU µs/req" is the user + system CPU time of the proxy's processes (from /proc, children
included) during a run, divided by the requests wrk completed: the work each proxy does per
request, which the machine's load changes much less than requests/s.

Machine: ${cpus().length} vCPU (${cpu}), Node ${process.version}, Linux. Date: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.
Load average at start: ${load0.toFixed(1)} (the machine is shared with other engineers' test runs:
absolute numbers are noisy, ratios within one run are the meaningful part).

${table}

Goals: ≥ 0.7× nginx, ≥ 1.5× the Node \`http-proxy\` peer.
${READING}`;
    writeFileSync(resolve(import.meta.dirname, 'RESULTS-ingress.md'), text);
    console.log('wrote bench/RESULTS-ingress.md');
  }
}

if (args.includes('--role')) await role(args[args.indexOf('--role') + 1]!);
else await main();
