/**
 * `podnet get`, `describe`, `apply` and `delete`: a small kubectl for a podnet cluster, talking to
 * the cluster's API server through the kubeconfig in its state directory. The parsing and layout
 * live in ../kubectl.ts; heavy modules load lazily inside the actions so `podnet --help` is fast.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { ResourceInfo } from '../../api/resources.ts';
import type { KubeObject } from '../../api/types.ts';
import type { ApiClient } from '../../client/index.ts';
import { PodnetError } from '../../util/errors.ts';
import { clusterDir } from '../paths.ts';

/** Flags every cluster command shares. */
export interface ClusterFlags {
  name: string;
  namespace: string;
}

/** Adds `--name` and `-n/--namespace` to a command. */
export function clusterFlags(cmd: Command, namespace = true): Command {
  cmd.option('--name <cluster>', 'cluster name', 'default');
  if (namespace) cmd.option('-n, --namespace <ns>', 'namespace', 'default');
  return cmd;
}

/** A client for cluster `name`, from `<clusterDir>/kubeconfig` (a clear error when there is none). */
export async function connect(name: string): Promise<ApiClient> {
  const path = join(clusterDir(name), 'kubeconfig');
  if (!existsSync(path))
    throw new PodnetError(
      'PN_ERR_NOT_FOUND',
      `cluster "${name}" has no kubeconfig at ${path}: start it with podnet up --name ${name}`,
      'name',
    );
  const { ApiClient } = await import('../../client/index.ts');
  return ApiClient.fromKubeconfig(path);
}

/** Runs `fn` with a client for the cluster and disposes it afterwards. */
export async function withClient<T>(name: string, fn: (c: ApiClient) => Promise<T>): Promise<T> {
  const client = await connect(name);
  try {
    return await fn(client);
  } finally {
    await client.dispose();
  }
}

const out = (s: string) => process.stdout.write(s);

async function get(
  args: string[],
  f: ClusterFlags & { output?: string; allNamespaces?: boolean; selector?: string; noHeaders?: boolean },
): Promise<void> {
  const { parseTarget, outputFormat, formatObjects, formatTable } = await import('../kubectl.ts');
  // `get deploy,svc`: each type in turn, as kubectl (tables separated by a blank line).
  if (args.length === 1 && args[0]!.includes(',') && !args[0]!.includes('/')) {
    const types = args[0]!.split(',').filter(Boolean);
    for (const [i, t] of types.entries()) {
      if (i > 0 && outputFormat(f.output) !== 'name') out('\n');
      await get([t], f);
    }
    return;
  }
  const { res, names } = parseTarget(args);
  const format = outputFormat(f.output);
  const ns = res.namespaced ? (f.allNamespaces ? undefined : f.namespace) : undefined;
  await withClient(f.name, async (client) => {
    let objs: KubeObject[];
    if (names.length) {
      objs = [];
      for (const n of names) objs.push(await client.get(res, ns ?? f.namespace, n));
    } else {
      objs = (await client.listAll(res, ns, { labelSelector: f.selector })).items;
    }
    if (format === 'yaml' || format === 'json') {
      out(formatObjects(objs, format, names.length === 1));
      return;
    }
    if (format === 'name') {
      const { resourceRef } = await import('../kubectl.ts');
      for (const o of objs) out(`${resourceRef(res)}/${o.metadata.name}\n`);
      return;
    }
    if (objs.length === 0) {
      process.stderr.write(
        res.namespaced && ns ? `No resources found in ${ns} namespace.\n` : 'No resources found\n',
      );
      return;
    }
    out(
      formatTable(res, objs, {
        wide: format === 'wide',
        allNamespaces: ns === undefined,
        noHeaders: f.noHeaders,
      }),
    );
  });
}

async function describe(args: string[], f: ClusterFlags): Promise<void> {
  const { parseTarget, describeObject } = await import('../kubectl.ts');
  const { findResource } = await import('../../api/resources.ts');
  const eventsRes = findResource('', 'v1', 'events')!;
  const { res, names } = parseTarget(args);
  await withClient(f.name, async (client) => {
    const objs: KubeObject[] = names.length
      ? await Promise.all(names.map((n) => client.get(res, f.namespace, n)))
      : (await client.listAll(res, res.namespaced ? f.namespace : undefined)).items;
    if (objs.length === 0) {
      process.stderr.write(`No resources found in ${f.namespace} namespace.\n`);
      return;
    }
    const events = (await client.listAll(eventsRes, res.namespaced ? f.namespace : undefined)).items;
    out(objs.map((o) => describeObject(o, events)).join('\n'));
  });
}

/** Reads `-f` sources: a file, every .yaml/.yml/.json file of a directory (sorted), or `-` (stdin). */
function readSources(files: string[]): Array<{ text: string; source: string }> {
  const outList: Array<{ text: string; source: string }> = [];
  for (const f of files) {
    if (f === '-') {
      outList.push({ text: readFileSync(0, 'utf8'), source: '<stdin>' });
      continue;
    }
    if (!existsSync(f))
      throw new PodnetError('PN_ERR_NOT_FOUND', `-f ${f}: no such file or directory`, 'filename');
    if (statSync(f).isDirectory()) {
      for (const e of readdirSync(f).sort())
        if (/\.(ya?ml|json)$/.test(e))
          outList.push({ text: readFileSync(join(f, e), 'utf8'), source: join(f, e) });
    } else outList.push({ text: readFileSync(f, 'utf8'), source: f });
  }
  if (outList.length === 0)
    throw new PodnetError('PN_ERR_USAGE', 'no manifests found: give -f FILE, -f DIR or -f -', 'filename');
  return outList;
}

async function manifestsFrom(files: string[]) {
  const { parseManifests } = await import('../kubectl.ts');
  return readSources(files).flatMap((s) => parseManifests(s.text, s.source));
}

async function apply(f: ClusterFlags & { filename: string[] }): Promise<void> {
  const { planApply, resourceRef } = await import('../kubectl.ts');
  const { isApiError } = await import('../../api/errors.ts');
  const manifests = await manifestsFrom(f.filename);
  await withClient(f.name, async (client) => {
    for (const { obj, res } of manifests) {
      const ns = res.namespaced ? (obj.metadata.namespace ?? f.namespace) : undefined;
      const name = obj.metadata.name!;
      const ref = `${resourceRef(res)}/${name}`;
      let live: KubeObject | undefined;
      try {
        live = await client.get(res, ns, name);
      } catch (e) {
        if (!isApiError(e, 'NotFound')) throw e;
      }
      const withNs = ns ? { ...obj, metadata: { ...obj.metadata, namespace: ns } } : obj;
      const plan = planApply(withNs, live);
      if (plan.action === 'create') {
        await client.create(res, plan.body);
        out(`${ref} created\n`);
        continue;
      }
      if (plan.action === 'unchanged') {
        out(`${ref} unchanged\n`);
        continue;
      }
      await client.patch(res, ns, name, plan.patch, 'merge');
      out(`${ref} configured\n`);
    }
  });
}

async function del(
  args: string[],
  f: ClusterFlags & { filename?: string[]; ignoreNotFound?: boolean; selector?: string },
): Promise<void> {
  const { parseTarget, resourceRef } = await import('../kubectl.ts');
  const { isApiError } = await import('../../api/errors.ts');
  const targets: Array<{ res: ResourceInfo; ns: string | undefined; name: string }> = [];
  await withClient(f.name, async (client) => {
    if (f.filename?.length) {
      if (args.length)
        throw new PodnetError('PN_ERR_USAGE', 'give either -f or TYPE NAME, not both', 'filename');
      for (const { obj, res } of await manifestsFrom(f.filename))
        targets.push({
          res,
          ns: res.namespaced ? (obj.metadata.namespace ?? f.namespace) : undefined,
          name: obj.metadata.name!,
        });
    } else {
      const { res, names } = parseTarget(args);
      const ns = res.namespaced ? f.namespace : undefined;
      if (names.length === 0 && !f.selector)
        throw new PodnetError(
          'PN_ERR_USAGE',
          `give the ${res.plural} to delete by NAME, -l SELECTOR or -f FILE`,
          'NAME',
        );
      const all = names.length
        ? names
        : (await client.listAll(res, ns, { labelSelector: f.selector })).items.map((o) => o.metadata.name!);
      for (const name of all) targets.push({ res, ns, name });
    }
    for (const t of targets) {
      try {
        await client.delete(t.res, t.ns, t.name, { propagationPolicy: 'Background' });
        out(`${resourceRef(t.res)} "${t.name}" deleted\n`);
      } catch (e) {
        if (f.ignoreNotFound && isApiError(e, 'NotFound')) continue;
        throw e;
      }
    }
  });
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Registers get, describe, apply and delete. */
export function register(program: Command): void {
  clusterFlags(
    program
      .command('get')
      .description('list or show objects (TYPE, TYPE NAME…, TYPE/NAME), kubectl-style')
      .argument('<args...>', 'TYPE [NAME…] or TYPE/NAME…')
      .option('-o, --output <format>', 'wide, yaml, json or name')
      .option('-A, --all-namespaces', 'list across all namespaces')
      .option('-l, --selector <selector>', 'label selector, e.g. app=web,tier!=db')
      .option('--no-headers', 'omit the header line'),
  ).action((args: string[], f) => get(args, { ...f, noHeaders: f.headers === false }));

  clusterFlags(
    program
      .command('describe')
      .description('show an object in detail: metadata, essentials, status, conditions and events')
      .argument('<args...>', 'TYPE [NAME…] or TYPE/NAME'),
  ).action((args: string[], f) => describe(args, f));

  clusterFlags(
    program
      .command('apply')
      .description('create objects from manifests, or merge-patch them when they exist')
      .requiredOption(
        '-f, --filename <path>',
        'a YAML/JSON file, a directory of them, or - for stdin',
        collect,
      ),
  ).action((f) => apply(f));

  clusterFlags(
    program
      .command('delete')
      .description('delete objects by TYPE NAME…, TYPE/NAME, -l SELECTOR or -f FILE')
      .argument('[args...]', 'TYPE [NAME…] or TYPE/NAME…')
      .option('-f, --filename <path>', 'delete what these manifests name', collect)
      .option('-l, --selector <selector>', 'delete every object of TYPE matching the selector')
      .option('--ignore-not-found', 'do not fail when an object does not exist'),
  ).action((args: string[], f) => del(args, f));
}
