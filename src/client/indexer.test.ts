// Indexer cache: pods in namespaces "a"/"b", on nodes "n1"/"n2".
import { describe, expect, it } from 'vitest';
import { Indexer, metaNamespaceKey, nodeNameIndexFunc, splitMetaNamespaceKey } from './indexer.ts';
import { makePod } from './testutil.ts';

const onNode = (ns: string, name: string, node?: string) =>
  makePod(ns, name, (p) => {
    if (node) p.spec = { nodeName: node };
  });

describe('Indexer', () => {
  it('keys namespaced objects ns/name and cluster-scoped ones by name', () => {
    expect(metaNamespaceKey(makePod('a', 'p'))).toBe('a/p');
    expect(metaNamespaceKey({ metadata: { name: 'n1' } })).toBe('n1');
    expect(splitMetaNamespaceKey('a/p')).toEqual({ namespace: 'a', name: 'p' });
    expect(splitMetaNamespaceKey('n1')).toEqual({ namespace: '', name: 'n1' });
    expect(() => metaNamespaceKey({ metadata: {} })).toThrow(/metadata.name/);
  });

  it('keeps indexes in step with upserts, moves and deletes', () => {
    const ix = new Indexer({ byNode: nodeNameIndexFunc });
    ix.upsert(onNode('a', 'p1', 'n1'));
    ix.upsert(onNode('b', 'p2', 'n1'));
    ix.upsert(onNode('a', 'p3'));
    expect(ix.indexKeys('byNode', 'n1').sort()).toEqual(['a/p1', 'b/p2']);
    expect(
      ix
        .listByNamespace('a')
        .map((p) => p.metadata.name)
        .sort(),
    ).toEqual(['p1', 'p3']);

    const old = ix.upsert(onNode('a', 'p1', 'n2'));
    expect(old?.spec.nodeName).toBe('n1');
    expect(ix.indexKeys('byNode', 'n1')).toEqual(['b/p2']);
    expect(ix.indexKeys('byNode', 'n2')).toEqual(['a/p1']);

    ix.deleteKey('b/p2');
    expect(ix.indexKeys('byNode', 'n1')).toEqual([]);
    expect(ix.indexValues('byNode')).toEqual(['n2']);
    expect(ix.size).toBe(2);
    expect(() => ix.byIndex('nope', 'x')).toThrow(/index "nope"/);
  });

  it('replace swaps the whole content and rebuilds indexes; late indexers index existing objects', () => {
    const ix = new Indexer();
    ix.upsert(onNode('a', 'p1', 'n1'));
    ix.replace([onNode('a', 'p2', 'n2')]);
    expect(ix.listKeys()).toEqual(['a/p2']);
    expect(ix.listByNamespace('a')).toHaveLength(1);
    ix.addIndexers({ byNode: nodeNameIndexFunc });
    expect(ix.indexKeys('byNode', 'n2')).toEqual(['a/p2']);
    expect(() => ix.addIndexers({ byNode: nodeNameIndexFunc })).toThrow(/already exists/);
  });
});
