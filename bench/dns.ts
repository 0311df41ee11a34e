/**
 * Cluster DNS throughput and latency over UDP on loopback, against the floor of any DNS server
 * written on Node's UDP stack: a responder that sends back a canned answer without decoding
 * anything. Both are driven by the same load generator (a separate process, 64 queries in
 * flight, a mix of A, SRV, PTR and NXDOMAIN names) in alternating rounds, with 2 000 Services
 * in the zone; the ratio shows what parsing, resolving and encoding cost on top of the socket.
 *
 *   npx tsx bench/dns.ts [--seconds 3] [--rounds 2]
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { startDnsServer } from '../src/dns/server.ts';
import { fakeInformers, loadCluster, makeService, sampleCluster } from '../src/dns/testing.ts';

const args = process.argv.slice(2);
const SECONDS = Number(args[args.indexOf('--seconds') + 1]) || 3;
const ROUNDS = Number(args[args.indexOf('--rounds') + 1]) || 2;
const INFLIGHT = 64;

const NAMES: Array<[string, string]> = [
  ['web.default.svc.cluster.local', 'A'],
  ['svc-1234.bench.svc.cluster.local', 'A'],
  ['db.default.svc.cluster.local', 'A'],
  ['_http._tcp.web.default.svc.cluster.local', 'SRV'],
  ['20.0.96.10.in-addr.arpa', 'PTR'],
  ['nope.default.svc.cluster.local', 'A'],
];

// The load generator runs in its own process so it does not share the server's event loop.
const GENERATOR = `
const dgram = require('node:dgram');
const dnsPacket = require('dns-packet');
const [port, seconds, inflight, names] = [Number(process.argv[1]), Number(process.argv[2]), Number(process.argv[3]), JSON.parse(process.argv[4])];
const queries = names.map(([name, type], i) => dnsPacket.encode({ type: 'query', id: i, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type }] }));
const sock = dgram.createSocket('udp4');
const sent = new Map();
const lat = [];
let next = 0, done = 0, id = 0;
const end = Date.now() + seconds * 1000;
function send() {
  const q = Buffer.from(queries[next++ % queries.length]);
  id = (id + 1) & 0xffff; q.writeUInt16BE(id, 0); sent.set(id, process.hrtime.bigint());
  sock.send(q, port, '127.0.0.1');
}
sock.on('message', (m) => {
  const t0 = sent.get(m.readUInt16BE(0)); if (t0 === undefined) return;
  sent.delete(m.readUInt16BE(0)); done++; lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  if (Date.now() < end) send();
  else if (sent.size === 0) finish();
});
function finish() {
  lat.sort((a, b) => a - b);
  const p = (x) => lat[Math.min(lat.length - 1, Math.floor(lat.length * x))];
  console.log(JSON.stringify({ qps: done / seconds, p50: p(0.5), p99: p(0.99) }));
  process.exit(0);
}
// Lost datagrams would stall a window slot; stop waiting for them after the run.
setTimeout(finish, seconds * 1000 + 2000);
for (let i = 0; i < inflight; i++) send();
`;

function generate(port: number): Promise<{ qps: number; p50: number; p99: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['-e', GENERATOR, String(port), String(SECONDS), String(INFLIGHT), JSON.stringify(NAMES)],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: import.meta.dirname },
    );
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.on('error', reject);
    child.on('close', () => {
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`generator printed: ${out}`));
      }
    });
  });
}

async function cannedResponder(): Promise<{ port: number; close: () => void }> {
  const answer = dnsPacket.encode({
    type: 'response',
    id: 0,
    flags: dnsPacket.AUTHORITATIVE_ANSWER,
    questions: [{ name: 'web.default.svc.cluster.local', type: 'A' }],
    answers: [{ name: 'web.default.svc.cluster.local', type: 'A', ttl: 5, data: '10.96.0.20' }],
  });
  const sock = dgram.createSocket('udp4');
  sock.on('message', (m, r) => {
    const a = Buffer.from(answer);
    m.copy(a, 0, 0, 2);
    sock.send(a, r.port, r.address);
  });
  await new Promise<void>((res) => sock.bind(0, '127.0.0.1', () => res()));
  return { port: sock.address().port, close: () => sock.close() };
}

const f = fakeInformers();
const c = sampleCluster();
for (let i = 0; i < 2000; i++)
  c.services.push(makeService('bench', `svc-${i}`, `10.97.${i >> 8}.${i & 255}`));
loadCluster(f, c);
const dns = await startDnsServer({ informers: f.informers, listen: [{ host: '127.0.0.1', port: 0 }] });
const canned = await cannedResponder();
const ours: number[] = [];
const floor: number[] = [];
try {
  for (let r = 0; r < ROUNDS; r++) {
    const a = await generate(dns.addresses[0]!.port);
    const b = await generate(canned.port);
    ours.push(a.qps);
    floor.push(b.qps);
    console.log(
      `round ${r + 1}: podnet dns ${a.qps.toFixed(0)} q/s (p50 ${a.p50.toFixed(2)} ms, p99 ${a.p99.toFixed(2)} ms)` +
        ` | canned UDP responder ${b.qps.toFixed(0)} q/s (p50 ${b.p50.toFixed(2)} ms, p99 ${b.p99.toFixed(2)} ms)`,
    );
  }
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  console.log(
    `podnet dns / canned responder throughput: ${(mean(ours) / mean(floor)).toFixed(2)} ` +
      `(${mean(ours).toFixed(0)} vs ${mean(floor).toFixed(0)} q/s, ${INFLIGHT} in flight, ${SECONDS} s rounds)`,
  );
} finally {
  canned.close();
  await dns.dispose();
  await f.informers.dispose();
}
