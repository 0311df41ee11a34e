/**
 * The built-in workloads a pod container runs when its image has no real runtime here:
 *   netexec        agnhost-like echo server: HTTP on every --http-port / declared port (8080 when
 *                  none) with /hostname, /clientip, /echo?msg=, /healthz, /shell?cmd=, /exit?code=,
 *                  and a JSON description of the request on any other path; a UDP echo answering
 *                  `hostname`, `clientip` and `echo <text>` on the same ports and on --udp-port.
 *                  --delay-shutdown=N keeps it serving N seconds after SIGTERM (agnhost's flag), with
 *                  /readyz answering 503 from the SIGTERM on, so a pod can leave its Service first.
 *   serve-hostname answers the pod name on every request (agnhost serve-hostname, port 9376).
 *   static         nginx/httpd stand-in: a page naming the pod on the declared port (default 80).
 *   pause          sleeps until stopped.
 * Started as `node main.mjs <workload> [args…]` inside the pod's network namespace; the agent passes
 * POD_NAME, POD_NAMESPACE, NODE_NAME, POD_IP and PODNET_TCP_PORTS / PODNET_UDP_PORTS.
 */
import { exec } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

function flag(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === `--${name}` || a === `-${name}`) return args[i + 1];
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
    if (a.startsWith(`-${name}=`)) return a.slice(name.length + 2);
  }
  return undefined;
}

function ports(envName: string): number[] {
  return (process.env[envName] ?? '')
    .split(',')
    .map((s) => Number(s))
    .filter((n) => Number.isInteger(n) && n > 0 && n < 65536);
}

const pod = {
  name: process.env.POD_NAME ?? process.env.HOSTNAME ?? 'unknown',
  namespace: process.env.POD_NAMESPACE ?? '',
  node: process.env.NODE_NAME ?? '',
  ip: process.env.POD_IP ?? '',
};

function clientAddr(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? '';
  const host = a.startsWith('::ffff:') ? a.slice(7) : a;
  return host.includes(':') ? `[${host}]:${req.socket.remotePort}` : `${host}:${req.socket.remotePort}`;
}

function send(res: ServerResponse, code: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Set once SIGTERM has arrived under --delay-shutdown: /readyz then fails while serving goes on. */
let shuttingDown = false;

/**
 * agnhost's --delay-shutdown: on SIGTERM keep serving for `seconds`, then exit 0. Without it
 * SIGTERM keeps its default action, so the server vanishes at once, which is what makes a rolling
 * update drop requests while kube-proxy still sends traffic to the terminating pod.
 */
export function delayShutdownOnSigterm(seconds: number): void {
  process.on('SIGTERM', () => {
    if (shuttingDown) return;
    shuttingDown = true;
    console.log(`SIGTERM: serving ${seconds}s more before exiting (--delay-shutdown)`);
    setTimeout(() => process.exit(0), seconds * 1000);
  });
}

const netexecHandler: Handler = (req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  switch (url.pathname) {
    case '/hostname':
      return send(res, 200, pod.name);
    case '/clientip':
      return send(res, 200, clientAddr(req));
    case '/echo':
      return send(res, 200, url.searchParams.get('msg') ?? '');
    case '/healthz':
      return send(res, 200, 'ok');
    case '/readyz':
      return shuttingDown ? send(res, 503, 'shutting down') : send(res, 200, 'ok');
    case '/exit': {
      const code = Number(url.searchParams.get('code') ?? '0');
      send(res, 200, '');
      setTimeout(() => process.exit(Number.isInteger(code) ? code : 0), 50);
      return;
    }
    case '/shell': {
      const cmd = url.searchParams.get('cmd') ?? '';
      exec(cmd, { timeout: 10_000 }, (err, stdout, stderr) => {
        send(
          res,
          200,
          JSON.stringify({ output: stdout, error: err ? `${err.message}${stderr}` : undefined }),
          'application/json',
        );
      });
      return;
    }
  }
  const body = {
    pod: pod.name,
    namespace: pod.namespace,
    node: pod.node,
    podIP: pod.ip,
    client: clientAddr(req),
    method: req.method,
    path: req.url,
    host: req.headers.host ?? '',
    headers: req.headers,
  };
  send(res, 200, `${JSON.stringify(body, null, 2)}\n`, 'application/json');
};

function listenHttp(port: number, handler: Handler): void {
  const srv = createServer(handler);
  srv.keepAliveTimeout = 5000;
  srv.on('error', (e) => {
    console.error(`http :${port}: ${e.message}`);
    process.exit(1);
  });
  srv.listen(port, () => console.log(`listening on :${port} (http)`));
}

function listenUdp(port: number): void {
  const sock = createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    const text = msg.toString().trim();
    let reply: string;
    if (text === 'hostname') reply = pod.name;
    else if (text === 'clientip') reply = `${rinfo.address}:${rinfo.port}`;
    else if (text.startsWith('echo ')) reply = text.slice(5);
    else reply = text;
    sock.send(reply, rinfo.port, rinfo.address);
  });
  sock.on('error', (e) => {
    console.error(`udp :${port}: ${e.message}`);
    process.exit(1);
  });
  sock.bind(port, () => console.log(`listening on :${port} (udp)`));
}

function main(argv: string[]): void {
  const [workload, ...args] = argv;
  const tcp = ports('PODNET_TCP_PORTS');
  const udp = ports('PODNET_UDP_PORTS');
  // SIGTERM keeps its default action (exit by signal, status 143), as agnhost's Go servers do.
  switch (workload) {
    case 'netexec': {
      const httpPort = Number(flag(args, 'http-port') ?? 0);
      const udpPort = Number(flag(args, 'udp-port') ?? 0);
      const delayRaw = flag(args, 'delay-shutdown');
      if (delayRaw !== undefined) {
        const delay = Number(delayRaw);
        if (!Number.isInteger(delay) || delay < 0) {
          console.error(
            `--delay-shutdown: must be a whole number of seconds >= 0, got ${JSON.stringify(delayRaw)}`,
          );
          process.exit(2);
        }
        if (delay > 0) delayShutdownOnSigterm(delay);
      }
      const httpPorts = new Set(httpPort ? [httpPort] : tcp.length ? tcp : [8080]);
      const udpPorts = new Set([...httpPorts, ...udp, ...(udpPort ? [udpPort] : [])]);
      for (const p of httpPorts) listenHttp(p, netexecHandler);
      for (const p of udpPorts) listenUdp(p);
      return;
    }
    case 'serve-hostname': {
      const port = Number(flag(args, 'port') ?? tcp[0] ?? 9376);
      listenHttp(port, (_req, res) => send(res, 200, pod.name));
      if (args.includes('--udp') || args.includes('-udp')) listenUdp(port);
      return;
    }
    case 'static': {
      const port = tcp[0] ?? 80;
      const page = `<!DOCTYPE html>\n<html><head><title>Welcome</title></head><body><h1>Welcome to ${pod.name}</h1><p>Served by podnet's static web server for pod ${pod.namespace}/${pod.name} on node ${pod.node}.</p></body></html>\n`;
      listenHttp(port, (req, res) => {
        const url = new URL(req.url ?? '/', 'http://x');
        if (url.pathname === '/' || url.pathname === '/index.html') return send(res, 200, page, 'text/html');
        if (url.pathname === '/healthz') return send(res, 200, 'ok');
        send(res, 404, '<html><body><h1>404 Not Found</h1></body></html>\n', 'text/html');
      });
      return;
    }
    case 'pause':
      setInterval(() => {}, 1 << 30);
      return;
    default:
      console.error(`unknown workload ${JSON.stringify(workload)} (netexec, serve-hostname, static, pause)`);
      process.exit(2);
  }
}

main(process.argv.slice(2));
