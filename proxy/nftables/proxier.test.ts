// Address plan: proxy/testing/fixtures.ts (node-1 192.168.0.2, pods 10.244.0.0/16, services 10.96.0.0/12).
import { describe, expect, it } from 'vitest';
import { runBackendConformance } from '../conformance/suite.ts';
import { NftablesProxier } from './proxier.ts';
import { FakeNftRunner } from './runner.ts';

runBackendConformance({
  name: 'nftables (fake runner)',
  newBackend: (cfg) => new NftablesProxier({ runner: new FakeNftRunner(), ...cfg }),
});

describe('FakeNftRunner', () => {
  it('refuses a goto to a missing chain and keeps the previous state', async () => {
    const r = new FakeNftRunner();
    await r.run('table ip t {\n\tchain a {\n\t\taccept\n\t}\n}\n');
    await expect(r.run('table ip t {\n\tchain b {\n\t\tgoto nope\n\t}\n}\n')).rejects.toThrow(/chain nope/);
    expect([...r.ruleset.table('ip', 't')!.chains.keys()]).toEqual(['a']);
  });

  it('refuses deleting a table that does not exist', async () => {
    await expect(new FakeNftRunner().run('delete table ip nope\n')).rejects.toThrow(/No such file/);
  });
});
