/**
 * The DNS server as a process inside a test network namespace: `ip netns exec <ns> node --import
 * tsx dns-child.ts <host> <port>`. Its informers read scripted sources that the parent test drives
 * over the IPC channel ({ op: 'add' | 'modify' | 'delete', kind, obj }), so the test checks that a
 * change reaches resolvers in the namespace. It prints nothing; it reports `{ ready, port }` once
 * it listens and exits on `{ op: 'stop' }` or when the parent goes away.
 */
import { startDnsServer } from '../../../src/dns/server.ts';
import { fakeInformers } from '../../../src/dns/testing.ts';

const [host = '10.96.0.10', port = '53'] = process.argv.slice(2);
const f = fakeInformers();
const sources = { services: f.services, slices: f.slices, pods: f.pods } as const;

const srv = await startDnsServer({ informers: f.informers, listen: [{ host, port: Number(port) }] });
const stop = async () => {
  await srv.dispose();
  await f.informers.dispose();
  process.exit(0);
};
process.on('disconnect', () => void stop());
process.on('message', (m: any) => {
  if (m.op === 'stop') return void stop();
  const src = sources[m.kind as keyof typeof sources] as any;
  if (m.op === 'add') src.add(m.obj);
  else if (m.op === 'modify') src.modify(m.obj);
  else if (m.op === 'delete') src.delete(src.get(`${m.obj.metadata.namespace}/${m.obj.metadata.name}`));
  process.send!({ done: m.seq });
});
process.send!({ ready: true, port: srv.addresses[0]!.port });
