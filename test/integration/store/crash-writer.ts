/**
 * Child process of crash.test.ts (bundled by esbuild at test start; also runs with tsx): opens the embedded store in argv[2] and writes as fast as it
 * can from several concurrent loops, printing one line per acknowledged write:
 *   C <name> <rv>        create acknowledged
 *   U <name> <rv> <n>    counter update acknowledged (spec.n = n)
 *   D <name> <rv>        delete acknowledged
 * The parent SIGKILLs it at a random moment and checks that every acknowledged write survived.
 */
import { RESOURCES } from '../../../src/api/resources.ts';
import { openEmbeddedKv } from '../../../src/store/embedded.ts';
import { KubeStore } from '../../../src/store/store.ts';

const PODS = RESOURCES.find((r) => r.plural === 'pods')!;
const [dir, tag] = [process.argv[2]!, process.argv[3] ?? 'r'];
// Imported without the etcd client so the bundle the parent builds stays small and starts fast.
const store = new KubeStore(
  await openEmbeddedKv({ dir, snapshotAfterBytes: 16 * 1024, historyRevisions: 200 }),
);
process.stdout.on('error', () => process.exit(0));
const out = (line: string) => process.stdout.write(`${line}\n`);
out('READY');

async function worker(w: number): Promise<void> {
  const ctr = `${tag}-ctr-${w}`;
  const c = await store.create(PODS, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: 'crash', name: ctr },
    spec: { n: 0 },
  });
  out(`C ${ctr} ${c.metadata.resourceVersion}`);
  for (let i = 1; ; i++) {
    // Names ending in -x are deleted right after their create: the parent knows they may vanish.
    const name = `${tag}-w${w}-${i}${i % 7 === 0 ? '-x' : ''}`;
    const o = await store.create(PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { namespace: 'crash', name },
      spec: { pad: 'p'.repeat(i % 200) },
    });
    out(`C ${name} ${o.metadata.resourceVersion}`);
    if (i % 3 === 0) {
      const u = await store.guaranteedUpdate(PODS, 'crash', ctr, (cur) => ({ ...cur, spec: { n: i } }));
      out(`U ${ctr} ${u.metadata.resourceVersion} ${i}`);
    }
    if (i % 7 === 0) {
      const d = await store.delete(PODS, 'crash', name);
      out(`D ${name} ${d.object.metadata.resourceVersion}`);
    }
  }
}

await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
