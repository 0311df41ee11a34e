/**
 * The JSON Schema of scenario files (scenarios/schema.json), built from the step registry so it
 * never drifts from the parser: every registered step kind contributes its own body schema.
 * Editors with YAML language support complete and check scenario files against it
 * (`# yaml-language-server: $schema=./schema.json`). `npx tsx src/scenario/schema.ts` rewrites it.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMMON_STEP_FIELDS } from './format.ts';
import { STEP_KINDS } from './steps/index.ts';
import type { JsonSchema } from './types.ts';

const duration = { type: ['string', 'number'], description: 'a duration: 500ms, 10s, 2m, or seconds' };

/** The cluster section: the fields of a `podnet up` cluster file (README.md). */
const clusterSchema: JsonSchema = {
  type: 'object',
  description: 'the cluster to build; every field has the default of `podnet up`',
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$' },
    nodes: {
      oneOf: [
        { type: 'integer', minimum: 1, maximum: 64 },
        {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              name: { type: 'string' },
              labels: { type: 'object', additionalProperties: { type: 'string' } },
              capacity: {
                type: 'object',
                properties: {
                  cpu: { type: 'string' },
                  memory: { type: 'string' },
                  pods: { type: 'integer' },
                },
                additionalProperties: false,
              },
              taints: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    key: { type: 'string' },
                    value: { type: 'string' },
                    effect: { enum: ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] },
                  },
                  required: ['key', 'effect'],
                  additionalProperties: false,
                },
              },
            },
            additionalProperties: false,
          },
        },
      ],
      default: 2,
    },
    clusterCIDR: { type: 'string', default: '10.244.0.0/16' },
    nodeCIDRMaskSize: { type: 'integer', minimum: 16, maximum: 28, default: 24 },
    serviceCIDR: { type: 'string', default: '10.96.0.0/12' },
    nodeCIDR: { type: 'string', default: '172.31.0.0/24' },
    proxyMode: { enum: ['iptables', 'nftables', 'userspace'], default: 'iptables' },
    overlay: { enum: ['host-gw', 'vxlan'], default: 'host-gw' },
    loadBalancerPool: { type: 'string' },
    mtu: { type: 'integer', minimum: 1280, maximum: 9000, default: 1500 },
    ingressWorkers: { type: 'integer', minimum: 1, maximum: 16, default: 1 },
    ingressReplicas: { type: 'integer', minimum: 1, maximum: 64, default: 1 },
  },
  additionalProperties: false,
};

/** Builds the whole schema. */
export function buildSchema(): JsonSchema {
  const common: Record<string, JsonSchema> = {
    name: { type: 'string', description: 'label of the step in the report' },
    eventually: { ...duration, description: 'retry the step until it passes, for up to this long' },
    interval: { ...duration, description: 'pause between retries (default 500ms)' },
    expectFailure: { type: 'boolean', description: 'the step passes when its check fails' },
  };
  const stepVariants = STEP_KINDS.map((k) => ({
    type: 'object',
    description: k.summary,
    properties: { ...common, [k.kind]: k.schema },
    required: [k.kind],
    additionalProperties: false,
  }));
  if (Object.keys(common).sort().join() !== [...COMMON_STEP_FIELDS].sort().join())
    throw new Error('schema.ts: common step fields differ from format.ts');
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://podnet.dev/schemas/scenario.json',
    title: 'podnet scenario',
    description: 'A networking story to run against an emulated Kubernetes cluster: `podnet run FILE`.',
    type: 'object',
    properties: {
      name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
      description: { type: 'string' },
      cluster: clusterSchema,
      namespace: { type: 'string', default: 'default' },
      timeout: { ...duration, default: '5m', description: 'deadline of the whole scenario' },
      manifests: {
        type: 'array',
        items: {
          oneOf: [
            { type: 'string', description: 'inline YAML (one or more documents)' },
            {
              type: 'object',
              properties: { file: { type: 'string' } },
              required: ['file'],
              additionalProperties: false,
            },
            { type: 'object', required: ['apiVersion', 'kind'], description: 'a Kubernetes object' },
          ],
        },
      },
      steps: { type: 'array', minItems: 1, items: { oneOf: stepVariants } },
    },
    required: ['name', 'steps'],
    additionalProperties: false,
  };
}

/** The schema as the text of scenarios/schema.json. */
export function schemaText(): string {
  return `${JSON.stringify(buildSchema(), null, 2)}\n`;
}

/** Where the schema lives in the repository. */
export const SCHEMA_PATH = join(dirname(fileURLToPath(import.meta.url)), '../../scenarios/schema.json');

if (process.argv[1] && /schema\.ts$/.test(process.argv[1])) {
  writeFileSync(SCHEMA_PATH, schemaText());
  process.stdout.write(`wrote ${SCHEMA_PATH}\n`);
}
