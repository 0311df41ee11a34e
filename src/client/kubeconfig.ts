/**
 * Reads a kubeconfig file (the same YAML kubectl reads) into the connection settings the REST
 * client needs: server URL, CA, and a bearer token or client certificate. Only the fields podnet
 * writes and common tools use are understood; anything else is ignored.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import { PodnetError } from '../util/errors.ts';

/** Where and how to reach an API server. */
export interface ConnectionConfig {
  /** Base URL, e.g. `https://127.0.0.1:6443`. */
  server: string;
  /** PEM of the CA that signed the server certificate. */
  caPem?: string;
  /** Bearer token sent as `Authorization: Bearer …`. */
  token?: string;
  /** Client certificate and key (PEM) for mutual TLS. */
  certPem?: string;
  keyPem?: string;
  /** Skip server certificate verification (kubeconfig `insecure-skip-tls-verify`). */
  insecureSkipTlsVerify?: boolean;
  /** Default namespace of the context, if any. */
  namespace?: string;
}

function fail(path: string, field: string, reason: string): never {
  throw new PodnetError('PN_ERR_CONFIG', `kubeconfig ${path}: ${field}: ${reason}`, field);
}

function readRef(base: string, p: string): string {
  return readFileSync(isAbsolute(p) ? p : resolve(base, p), 'utf8');
}

/**
 * Loads `path` and resolves `context` (default: `current-context`). Relative file references are
 * resolved against the kubeconfig's directory, as kubectl does.
 */
export function loadKubeconfig(path: string, context?: string): ConnectionConfig {
  let doc: any;
  try {
    doc = parse(readFileSync(path, 'utf8'));
  } catch (e) {
    fail(path, 'file', `cannot read or parse: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== 'object') fail(path, 'file', 'not a YAML mapping');
  const base = dirname(path);
  const ctxName = context ?? doc['current-context'];
  const contexts: any[] = Array.isArray(doc.contexts) ? doc.contexts : [];
  const clusters: any[] = Array.isArray(doc.clusters) ? doc.clusters : [];
  const users: any[] = Array.isArray(doc.users) ? doc.users : [];
  let ctx: any;
  if (ctxName) {
    ctx = contexts.find((c) => c?.name === ctxName)?.context;
    if (!ctx) fail(path, 'current-context', `context "${ctxName}" not found`);
  } else if (contexts.length === 1) {
    ctx = contexts[0].context;
  } else if (clusters.length === 1) {
    ctx = { cluster: clusters[0].name, user: users[0]?.name };
  } else {
    fail(path, 'current-context', 'not set and the file has no single context');
  }
  const cluster = clusters.find((c) => c?.name === ctx.cluster)?.cluster;
  if (!cluster) fail(path, 'contexts[].context.cluster', `cluster "${ctx.cluster}" not found`);
  if (typeof cluster.server !== 'string' || !cluster.server)
    fail(path, 'clusters[].cluster.server', 'required');
  const user = ctx.user ? (users.find((u) => u?.name === ctx.user)?.user ?? {}) : {};
  const cfg: ConnectionConfig = { server: cluster.server };
  if (cluster['certificate-authority-data']) {
    cfg.caPem = Buffer.from(cluster['certificate-authority-data'], 'base64').toString('utf8');
  } else if (cluster['certificate-authority']) {
    cfg.caPem = readRef(base, cluster['certificate-authority']);
  }
  if (cluster['insecure-skip-tls-verify'] === true) cfg.insecureSkipTlsVerify = true;
  if (typeof user.token === 'string') cfg.token = user.token;
  else if (typeof user.tokenFile === 'string') cfg.token = readRef(base, user.tokenFile).trim();
  if (user['client-certificate-data']) {
    cfg.certPem = Buffer.from(user['client-certificate-data'], 'base64').toString('utf8');
  } else if (user['client-certificate']) {
    cfg.certPem = readRef(base, user['client-certificate']);
  }
  if (user['client-key-data']) cfg.keyPem = Buffer.from(user['client-key-data'], 'base64').toString('utf8');
  else if (user['client-key']) cfg.keyPem = readRef(base, user['client-key']);
  if (typeof ctx.namespace === 'string' && ctx.namespace) cfg.namespace = ctx.namespace;
  return cfg;
}
