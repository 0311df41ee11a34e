/**
 * Discovery documents, built from the resource registry (src/api/resources.ts): /version, /api,
 * /apis, /apis/<group>, /api/v1 and /apis/<group>/<version>. These are what kubectl and client
 * libraries read to map kinds to URLs, short names and verbs. Aggregated discovery (apidiscovery
 * v2) is not served: clients that ask for it also accept plain JSON and fall back.
 */
import { groupVersions, RESOURCES, type ResourceInfo } from '../api/resources.ts';

/** The Kubernetes version the API server reports (the API surface follows 1.28). */
export const SERVER_VERSION = {
  major: '1',
  minor: '28',
  gitVersion: 'v1.28.0-podnet',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'node',
  compiler: 'podnet',
  platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
};

/** `GET /api`: the core group's versions. */
export function apiVersions(serverAddress: string): object {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function apiGroup(name: string): object {
  const versions = groupVersions()
    .filter((gv) => gv.group === name)
    .map((gv) => ({ groupVersion: `${name}/${gv.version}`, version: gv.version }));
  return { kind: 'APIGroup', apiVersion: 'v1', name, versions, preferredVersion: versions[0] };
}

/** The named (non-core) groups we serve. */
export function namedGroups(): string[] {
  return [...new Set(groupVersions().map((gv) => gv.group))].filter((g) => g !== '');
}

/** `GET /apis`: every named group. */
export function apiGroupList(): object {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: namedGroups().map((g) => {
      const { kind: _k, apiVersion: _a, ...rest } = apiGroup(g) as any;
      return rest;
    }),
  };
}

/** `GET /apis/<group>`, or undefined when the group is not served. */
export function apiGroupDoc(group: string): object | undefined {
  return namedGroups().includes(group) ? apiGroup(group) : undefined;
}

const SUB_VERBS = ['get', 'patch', 'update'];

function resourceEntries(res: ResourceInfo): object[] {
  const out: object[] = [
    {
      name: res.plural,
      singularName: res.singular,
      namespaced: res.namespaced,
      kind: res.kind,
      verbs: res.verbs,
      ...(res.shortNames.length ? { shortNames: res.shortNames } : {}),
      ...(res.categories.length ? { categories: res.categories } : {}),
    },
  ];
  for (const sub of res.subresources) {
    if (sub === 'status') {
      out.push({
        name: `${res.plural}/status`,
        singularName: '',
        namespaced: res.namespaced,
        kind: res.kind,
        verbs: SUB_VERBS,
      });
    } else if (sub === 'scale') {
      out.push({
        name: `${res.plural}/scale`,
        singularName: '',
        namespaced: res.namespaced,
        group: 'autoscaling',
        version: 'v1',
        kind: 'Scale',
        verbs: SUB_VERBS,
      });
    } else if (sub === 'binding') {
      out.push({
        name: `${res.plural}/binding`,
        singularName: '',
        namespaced: res.namespaced,
        kind: 'Binding',
        verbs: ['create'],
      });
    }
  }
  return out;
}

/** `GET /api/v1` or `/apis/<g>/<v>`: the APIResourceList, or undefined when not served. */
export function apiResourceList(group: string, version: string): object | undefined {
  const list = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (list.length === 0) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: group ? `${group}/${version}` : version,
    resources: list.flatMap(resourceEntries),
  };
}
