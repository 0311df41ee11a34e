/**
 * The OpenAPI v2 document, decoded from its own protobuf with the gnostic schema: every served kind
 * is there under its upstream name with `x-kubernetes-group-version-kind`, merge keys sit on the
 * lists that have them upstream, references resolve, and JSON and protobuf say the same thing.
 * (kubectl's own reading of the document is proved in test/integration/kubectl-openapi.)
 */

import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { apiVersionOf, RESOURCES } from '../../api/resources.ts';
import { decodeDocument, encodeDocument, openapiV2 } from './index.ts';

type Msg = Record<string, any>;

const decoded = decodeDocument(openapiV2().protobuf);
const defs = new Map<string, Msg>(
  decoded.definitions.additional_properties.map((d: Msg) => [d.name, d.value]),
);

function ext(schema: Msg, name: string): unknown {
  const e = (schema.vendor_extension ?? []).find((x: Msg) => x.name === name);
  return e ? parse(e.value.yaml) : undefined;
}
function prop(schema: Msg, name: string): Msg {
  const p = schema.properties?.additional_properties?.find((x: Msg) => x.name === name);
  if (!p) throw new Error(`no property ${name}`);
  return p.value;
}

describe('openapiV2 protobuf', () => {
  it('decodes as a gnostic Document with swagger 2.0 and paths', () => {
    expect(decoded.swagger).toBe('2.0');
    expect(decoded.info.title).toBe('Kubernetes');
    const paths = decoded.paths.path.map((p: Msg) => p.name);
    expect(paths).toContain('/api/v1/namespaces/{namespace}/pods');
    expect(paths).toContain('/apis/apps/v1/namespaces/{namespace}/deployments/{name}');
    expect(paths).toContain('/api/v1/nodes/{name}');
  });

  it.each(RESOURCES.map((r) => [apiVersionOf(r), r.kind, r]))(
    'defines %s %s and its List with the GVK',
    (_, __, r) => {
      for (const kind of [r.kind, r.listKind]) {
        const found = [...defs.values()].filter((d) =>
          ((ext(d, 'x-kubernetes-group-version-kind') as Msg[] | undefined) ?? []).some(
            (g) => g.group === r.group && g.version === r.version && g.kind === kind,
          ),
        );
        expect(found, `${kind}`).toHaveLength(1);
        expect(found[0]!.type.value).toEqual(['object']);
        for (const f of ['apiVersion', 'kind', 'metadata']) expect(prop(found[0]!, f)).toBeDefined();
      }
    },
  );

  it('uses upstream definition names', () => {
    for (const name of [
      'io.k8s.api.core.v1.Pod',
      'io.k8s.api.core.v1.PodTemplateSpec',
      'io.k8s.api.core.v1.Container',
      'io.k8s.api.apps.v1.Deployment',
      'io.k8s.api.networking.v1.Ingress',
      'io.k8s.api.discovery.v1.EndpointSlice',
      'io.k8s.api.autoscaling.v1.Scale',
      'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta',
      'io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector',
      'io.k8s.apimachinery.pkg.apis.meta.v1.Status',
      'io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions',
      'io.k8s.apimachinery.pkg.util.intstr.IntOrString',
      'io.k8s.apimachinery.pkg.api.resource.Quantity',
    ]) {
      expect(defs.has(name), name).toBe(true);
    }
    expect(ext(defs.get('io.k8s.api.autoscaling.v1.Scale')!, 'x-kubernetes-group-version-kind')).toEqual([
      { group: 'autoscaling', kind: 'Scale', version: 'v1' },
    ]);
    expect(defs.get('io.k8s.apimachinery.pkg.util.intstr.IntOrString')!.format).toBe('int-or-string');
  });

  it.each([
    ['io.k8s.api.core.v1.PodSpec', 'containers', 'name', 'merge'],
    ['io.k8s.api.core.v1.PodSpec', 'initContainers', 'name', 'merge'],
    ['io.k8s.api.core.v1.PodSpec', 'volumes', 'name', 'merge,retainKeys'],
    ['io.k8s.api.core.v1.Container', 'ports', 'containerPort', 'merge'],
    ['io.k8s.api.core.v1.Container', 'env', 'name', 'merge'],
    ['io.k8s.api.core.v1.Container', 'volumeMounts', 'mountPath', 'merge'],
    ['io.k8s.api.core.v1.ServiceSpec', 'ports', 'port', 'merge'],
    ['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta', 'ownerReferences', 'uid', 'merge'],
  ])('%s.%s merges by %s (%s)', (def, field, key, strategy) => {
    const p = prop(defs.get(def)!, field);
    expect(p.type.value).toEqual(['array']);
    expect(ext(p, 'x-kubernetes-patch-merge-key')).toBe(key);
    expect(ext(p, 'x-kubernetes-patch-strategy')).toBe(strategy);
  });

  it('marks required fields like upstream', () => {
    expect(defs.get('io.k8s.api.core.v1.Container')!.required).toEqual(['name']);
    expect(defs.get('io.k8s.api.core.v1.PodSpec')!.required).toEqual(['containers']);
    expect(defs.get('io.k8s.api.apps.v1.DeploymentSpec')!.required).toEqual(['selector', 'template']);
    expect(defs.get('io.k8s.api.networking.v1.HTTPIngressPath')!.required).toEqual(['pathType', 'backend']);
  });

  it('makes unmodelled subtrees arbitrary: no type and no properties', () => {
    const sc = prop(defs.get('io.k8s.api.core.v1.Container')!, 'securityContext');
    expect(sc.type).toBeUndefined();
    expect(sc.properties).toBeUndefined();
    expect(sc._ref).toBeUndefined();
    // ... while modelled objects are closed: they have properties.
    expect(defs.get('io.k8s.api.core.v1.Probe')!.properties.additional_properties.length).toBeGreaterThan(5);
  });

  it('has no dangling references', () => {
    const refs: string[] = [];
    const walk = (s: Msg) => {
      if (s._ref) refs.push(s._ref);
      for (const p of s.properties?.additional_properties ?? []) walk(p.value);
      for (const i of s.items?.schema ?? []) walk(i);
      if (s.additional_properties?.schema) walk(s.additional_properties.schema);
    };
    for (const d of defs.values()) walk(d);
    expect(refs.length).toBeGreaterThan(100);
    for (const r of refs) {
      expect(r.startsWith('#/definitions/')).toBe(true);
      expect(defs.has(r.slice('#/definitions/'.length)), r).toBe(true);
    }
  });

  it('encodes the same definitions as the JSON document', () => {
    const json = openapiV2().json as Msg;
    expect([...defs.keys()].sort()).toEqual(Object.keys(json.definitions).sort());
    const jsonContainers = json.definitions['io.k8s.api.core.v1.PodSpec'].properties.containers;
    expect(jsonContainers['x-kubernetes-patch-merge-key']).toBe('name');
    expect(jsonContainers.items.$ref).toBe('#/definitions/io.k8s.api.core.v1.Container');
  });

  it('is built once', () => {
    expect(openapiV2()).toBe(openapiV2());
    expect(openapiV2().etag).toMatch(/^"[0-9a-f]{8}"$/);
  });

  it('refuses a schema keyword it cannot encode, naming it', () => {
    expect(() =>
      encodeDocument({ swagger: '2.0', definitions: { X: { type: 'object', oneOf: [] } } }),
    ).toThrow(/"oneOf"/);
  });
});
