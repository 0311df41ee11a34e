/**
 * The OpenAPI v2 document the API server serves at `/openapi/v2`, as JSON (`Accept:
 * application/json`) and as gnostic protobuf (`Accept:
 * application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, what kubectl asks for). kubectl uses
 * it for client-side validation of `apply`/`create` (unknown and missing fields) and for strategic
 * merge patches (list merge keys). Built once from the resource registry and the schema definitions.
 */
import { apiVersionOf, RESOURCES, type ResourceInfo } from '../../api/resources.ts';
import { DEFINITIONS, KIND_DEFINITIONS } from './definitions.ts';
import { encodeDocument } from './proto.ts';

export { DEFINITIONS, KIND_DEFINITIONS } from './definitions.ts';
export { decodeDocument, encodeDocument, GNOSTIC_OPENAPI_V2_PROTO } from './proto.ts';

/** Content type kubectl asks for to get the protobuf document. */
export const OPENAPI_V2_PROTOBUF_CONTENT_TYPE = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';

/**
 * Content-Type to answer that request with. Not the type asked for: Go's mime parser (which
 * client-go runs on every response) rejects the `@` in it, and kubectl then fails with "mime:
 * unexpected content after media subtype". kube-openapi's own handler sends octet-stream too.
 */
export const OPENAPI_V2_PROTOBUF_RESPONSE_TYPE = 'application/octet-stream';

/** The document in both encodings. */
export interface OpenApiV2 {
  /** Swagger 2.0 JSON. */
  json: Record<string, unknown>;
  /** The same document as a gnostic `openapi.v2.Document` message. */
  protobuf: Uint8Array;
  /** A strong ETag for both encodings (the content never changes while the process runs). */
  etag: string;
}

let cached: OpenApiV2 | undefined;

/** The OpenAPI v2 document (built on first call, then cached). */
export function openapiV2(): OpenApiV2 {
  if (cached) return cached;
  const json = buildDocument();
  const protobuf = encodeDocument(json);
  cached = { json, protobuf, etag: `"${fnv1a(protobuf)}"` };
  return cached;
}

function fnv1a(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/** `CoreV1`, `AppsV1`, `NetworkingV1`: the group/version part of upstream operation ids. */
function opIdPart(res: ResourceInfo): string {
  const g = res.group ? res.group.split('.')[0]! : 'core';
  const v = res.version;
  return g[0]!.toUpperCase() + g.slice(1) + v[0]!.toUpperCase() + v.slice(1);
}

function pathsFor(res: ResourceInfo): Record<string, unknown> {
  const prefix = res.group ? `/apis/${apiVersionOf(res)}` : `/api/${res.version}`;
  const ns = res.namespaced ? '/namespaces/{namespace}' : '';
  const scope = res.namespaced ? 'Namespaced' : '';
  const gvk = [{ group: res.group, kind: res.kind, version: res.version }];
  const defName = KIND_DEFINITIONS[`${res.group}/${res.version}/${res.kind}`];
  const listName = KIND_DEFINITIONS[`${res.group}/${res.version}/${res.listKind}`];
  if (!defName || !listName)
    throw new Error(`openapi: no schema definition for ${apiVersionOf(res)} ${res.kind}`);
  const item = { $ref: `#/definitions/${defName}` };
  const status = { $ref: '#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Status' };
  const id = opIdPart(res);
  const op = (verb: string, action: string, schema: object, summary: string) => ({
    description: summary,
    consumes: ['*/*'],
    produces: ['application/json', 'application/yaml'],
    schemes: ['https'],
    tags: [id[0]!.toLowerCase() + id.slice(1)],
    operationId: `${verb}${id}${scope}${res.kind}`,
    responses: { '200': { description: 'OK', schema }, '401': { description: 'Unauthorized' } },
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk,
  });
  return {
    [`${prefix}${ns}/${res.plural}`]: {
      get: op(
        'list',
        'list',
        { $ref: `#/definitions/${listName}` },
        `list or watch objects of kind ${res.kind}`,
      ),
      post: op('create', 'post', item, `create a ${res.kind}`),
      delete: op('deleteCollection', 'deletecollection', status, `delete collection of ${res.kind}`),
    },
    [`${prefix}${ns}/${res.plural}/{name}`]: {
      get: op('read', 'get', item, `read the specified ${res.kind}`),
      put: op('replace', 'put', item, `replace the specified ${res.kind}`),
      patch: op('patch', 'patch', item, `partially update the specified ${res.kind}`),
      delete: op('delete', 'delete', status, `delete a ${res.kind}`),
    },
  };
}

function buildDocument(): Record<string, unknown> {
  let paths: Record<string, unknown> = {};
  for (const res of RESOURCES) paths = { ...paths, ...pathsFor(res) };
  const definitions = Object.fromEntries(
    Object.keys(DEFINITIONS)
      .sort()
      .map((k) => [k, DEFINITIONS[k]]),
  );
  return {
    swagger: '2.0',
    info: { title: 'Kubernetes', version: 'v1.30.0-podnet' },
    paths,
    definitions,
    securityDefinitions: {
      BearerToken: { description: 'Bearer token.', type: 'apiKey', name: 'authorization', in: 'header' },
    },
    security: [{ BearerToken: [] }],
  };
}
