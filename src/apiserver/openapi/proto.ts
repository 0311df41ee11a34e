/**
 * The OpenAPI v2 document in gnostic's protobuf form, which is what kubectl asks for
 * (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`) before it validates a manifest
 * or computes a strategic merge patch. Only the messages podnet's document uses are declared, with
 * gnostic's own field numbers (openapiv2/OpenAPIv2.proto, package `openapi.v2`), so the bytes decode
 * with the real schema. The JSON document is converted to that message shape here, the way gnostic's
 * compiler does: `$ref` → `_ref`, `type` → TypeItem, maps → ordered (name, value) pairs, and every
 * value of a vendor extension (`x-…`) or enum as YAML text in `Any.yaml`.
 */
import protobuf from 'protobufjs';
import { stringify } from 'yaml';

/** The subset of gnostic's OpenAPIv2.proto that podnet encodes (field numbers are gnostic's). */
export const GNOSTIC_OPENAPI_V2_PROTO = `
syntax = "proto3";
package openapi.v2;

message Any { string yaml = 2; }
message NamedAny { string name = 1; Any value = 2; }
message Info { string title = 1; string version = 2; string description = 3; repeated NamedAny vendor_extension = 7; }
message Document {
  string swagger = 1;
  Info info = 2;
  string host = 3;
  string base_path = 4;
  repeated string schemes = 5;
  repeated string consumes = 6;
  repeated string produces = 7;
  Paths paths = 8;
  Definitions definitions = 9;
  repeated NamedAny vendor_extension = 16;
}
message Paths { repeated NamedAny vendor_extension = 1; repeated NamedPathItem path = 2; }
message NamedPathItem { string name = 1; PathItem value = 2; }
message PathItem {
  string _ref = 1;
  Operation get = 2;
  Operation put = 3;
  Operation post = 4;
  Operation delete = 5;
  Operation options = 6;
  Operation head = 7;
  Operation patch = 8;
  repeated NamedAny vendor_extension = 10;
}
message Operation {
  repeated string tags = 1;
  string summary = 2;
  string description = 3;
  string operation_id = 5;
  repeated string produces = 6;
  repeated string consumes = 7;
  Responses responses = 9;
  repeated string schemes = 10;
  bool deprecated = 11;
  repeated NamedAny vendor_extension = 13;
}
message Responses { repeated NamedResponseValue response_code = 1; repeated NamedAny vendor_extension = 2; }
message NamedResponseValue { string name = 1; ResponseValue value = 2; }
message ResponseValue { oneof oneof { Response response = 1; JsonReference json_reference = 2; } }
message JsonReference { string _ref = 1; string description = 2; }
message Response { string description = 1; SchemaItem schema = 2; repeated NamedAny vendor_extension = 5; }
message SchemaItem { oneof oneof { Schema schema = 1; } }
message Definitions { repeated NamedSchema additional_properties = 1; }
message NamedSchema { string name = 1; Schema value = 2; }
message Properties { repeated NamedSchema additional_properties = 1; }
message AdditionalPropertiesItem { oneof oneof { Schema schema = 1; bool boolean = 2; } }
message TypeItem { repeated string value = 1; }
message ItemsItem { repeated Schema schema = 1; }
message Schema {
  string _ref = 1;
  string format = 2;
  string title = 3;
  string description = 4;
  Any default = 5;
  double multiple_of = 6;
  double maximum = 7;
  bool exclusive_maximum = 8;
  double minimum = 9;
  bool exclusive_minimum = 10;
  int64 max_length = 11;
  int64 min_length = 12;
  string pattern = 13;
  int64 max_items = 14;
  int64 min_items = 15;
  bool unique_items = 16;
  int64 max_properties = 17;
  int64 min_properties = 18;
  repeated string required = 19;
  repeated Any enum = 20;
  AdditionalPropertiesItem additional_properties = 21;
  TypeItem type = 22;
  ItemsItem items = 23;
  repeated Schema all_of = 24;
  Properties properties = 25;
  string discriminator = 26;
  bool read_only = 27;
  repeated NamedAny vendor_extension = 31;
}
`;

let root: protobuf.Root | undefined;

/** The parsed schema (parsed once). Message names are `openapi.v2.<Name>`. */
export function gnosticRoot(): protobuf.Root {
  root ??= protobuf.parse(GNOSTIC_OPENAPI_V2_PROTO, { keepCase: true }).root;
  return root;
}

type Json = Record<string, any>;

/** A value as gnostic stores it: YAML text. */
function anyOf(value: unknown): Json {
  return { yaml: stringify(value) };
}

function vendorExtensions(obj: Json): Json[] {
  return Object.keys(obj)
    .filter((k) => k.startsWith('x-'))
    .map((k) => ({ name: k, value: anyOf(obj[k]) }));
}

const SCHEMA_SCALARS: Record<string, string> = {
  format: 'format',
  title: 'title',
  description: 'description',
  pattern: 'pattern',
  discriminator: 'discriminator',
  readOnly: 'read_only',
  uniqueItems: 'unique_items',
  minimum: 'minimum',
  maximum: 'maximum',
  exclusiveMinimum: 'exclusive_minimum',
  exclusiveMaximum: 'exclusive_maximum',
  multipleOf: 'multiple_of',
  maxLength: 'max_length',
  minLength: 'min_length',
  maxItems: 'max_items',
  minItems: 'min_items',
  maxProperties: 'max_properties',
  minProperties: 'min_properties',
};

/** Converts one JSON Schema (Swagger 2 dialect) to a gnostic `Schema` message object. */
export function schemaToMessage(s: Json): Json {
  const m: Json = {};
  for (const [key, value] of Object.entries(s)) {
    if (key.startsWith('x-')) continue;
    if (key in SCHEMA_SCALARS) {
      m[SCHEMA_SCALARS[key]!] = value;
      continue;
    }
    switch (key) {
      case '$ref':
        m._ref = value;
        break;
      case 'type':
        m.type = { value: Array.isArray(value) ? value : [value] };
        break;
      case 'required':
        m.required = value;
        break;
      case 'enum':
        m.enum = (value as unknown[]).map(anyOf);
        break;
      case 'default':
        m.default = anyOf(value);
        break;
      case 'items':
        m.items = { schema: (Array.isArray(value) ? value : [value]).map(schemaToMessage) };
        break;
      case 'allOf':
        m.all_of = (value as Json[]).map(schemaToMessage);
        break;
      case 'properties':
        m.properties = {
          additional_properties: Object.entries(value as Json).map(([name, sub]) => ({
            name,
            value: schemaToMessage(sub),
          })),
        };
        break;
      case 'additionalProperties':
        m.additional_properties =
          typeof value === 'boolean' ? { boolean: value } : { schema: schemaToMessage(value) };
        break;
      default:
        throw new Error(`openapi: schema keyword ${JSON.stringify(key)} has no protobuf mapping`);
    }
  }
  const ext = vendorExtensions(s);
  if (ext.length) m.vendor_extension = ext;
  return m;
}

const OPERATIONS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch'] as const;

function operationToMessage(op: Json): Json {
  const m: Json = {};
  if (op.tags) m.tags = op.tags;
  if (op.summary) m.summary = op.summary;
  if (op.description) m.description = op.description;
  if (op.operationId) m.operation_id = op.operationId;
  if (op.produces) m.produces = op.produces;
  if (op.consumes) m.consumes = op.consumes;
  if (op.schemes) m.schemes = op.schemes;
  if (op.deprecated) m.deprecated = true;
  if (op.responses) {
    m.responses = {
      response_code: Object.entries(op.responses as Json).map(([code, r]) => ({
        name: code,
        value: {
          response: {
            description: r.description ?? '',
            ...(r.schema ? { schema: { schema: schemaToMessage(r.schema) } } : {}),
          },
        },
      })),
    };
  }
  const ext = vendorExtensions(op);
  if (ext.length) m.vendor_extension = ext;
  return m;
}

/** Converts a whole Swagger 2 JSON document to a gnostic `Document` message object. */
export function documentToMessage(doc: Json): Json {
  const m: Json = { swagger: doc.swagger };
  if (doc.info) m.info = { title: doc.info.title ?? '', version: doc.info.version ?? '' };
  for (const [json, proto] of [
    ['host', 'host'],
    ['basePath', 'base_path'],
    ['schemes', 'schemes'],
    ['consumes', 'consumes'],
    ['produces', 'produces'],
  ] as const) {
    if (doc[json] !== undefined) m[proto] = doc[json];
  }
  m.paths = {
    path: Object.entries((doc.paths ?? {}) as Json).map(([name, item]) => {
      const value: Json = {};
      for (const op of OPERATIONS) if (item[op]) value[op] = operationToMessage(item[op]);
      const ext = vendorExtensions(item);
      if (ext.length) value.vendor_extension = ext;
      return { name, value };
    }),
  };
  m.definitions = {
    additional_properties: Object.entries((doc.definitions ?? {}) as Json).map(([name, s]) => ({
      name,
      value: schemaToMessage(s),
    })),
  };
  return m;
}

/** Encodes a Swagger 2 JSON document as gnostic `openapi.v2.Document` protobuf bytes. */
export function encodeDocument(doc: Json): Uint8Array {
  const Document = gnosticRoot().lookupType('openapi.v2.Document');
  const msg = documentToMessage(doc);
  const problem = Document.verify(msg);
  if (problem) throw new Error(`openapi: document does not fit the gnostic schema: ${problem}`);
  return Document.encode(Document.fromObject(msg)).finish();
}

/** Decodes gnostic `openapi.v2.Document` bytes into a plain object (field names as in the .proto). */
export function decodeDocument(bytes: Uint8Array): Json {
  const Document = gnosticRoot().lookupType('openapi.v2.Document');
  return Document.toObject(Document.decode(bytes), { longs: Number, defaults: false, arrays: true }) as Json;
}
