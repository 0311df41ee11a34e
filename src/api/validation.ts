/**
 * Object validation, as the API server runs it after defaulting on create and update: returns
 * StatusCauses with Kubernetes' reasons (FieldValueRequired, FieldValueInvalid, ...), field paths
 * like `spec.ports[0].port` and upstream's message wording, so `kubectl` prints what a user of a
 * real cluster would see. Covers the fields the emulator acts on for each served kind; fields it
 * never reads are accepted as they are.
 */
import { errors } from './errors.ts';
import {
  dns1035LabelErrors,
  dns1123LabelErrors,
  dns1123SubdomainErrors,
  ianaSvcNameErrors,
  labelValueErrors,
  qualifiedNameErrors,
} from './names.ts';
import {
  cidrContains,
  cidrFamilyOf,
  ipFamilyOf,
  isValidCIDR,
  isValidIP,
  specialIPError,
} from './netvalid.ts';
import { isValidQuantity, parseQuantity } from './quantity.ts';
import type { ResourceInfo } from './resources.ts';
import { labelSelectorFromObject, matchesLabels, validateLabelSelector } from './selectors.ts';
import type { KubeObject, StatusCause } from './types.ts';

type Obj = Record<string, any>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const arr = (v: unknown): any[] => (Array.isArray(v) ? v : []);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/** Renders a value the way messages quote it: strings in double quotes, numbers bare. */
function show(v: unknown): string {
  if (v === undefined) return 'null';
  return JSON.stringify(v) ?? String(v);
}

/** Collects causes; helper methods mirror upstream's field.Required/Invalid/... constructors. */
export class Causes {
  readonly list: StatusCause[] = [];
  required(field: string, detail = ''): void {
    this.list.push({
      reason: 'FieldValueRequired',
      field,
      message: detail ? `Required value: ${detail}` : 'Required value',
    });
  }
  invalid(field: string, value: unknown, detail: string): void {
    this.list.push({
      reason: 'FieldValueInvalid',
      field,
      message: `Invalid value: ${show(value)}: ${detail}`,
    });
  }
  duplicate(field: string, value: unknown): void {
    this.list.push({ reason: 'FieldValueDuplicate', field, message: `Duplicate value: ${show(value)}` });
  }
  notSupported(field: string, value: unknown, valid: readonly string[]): void {
    this.list.push({
      reason: 'FieldValueNotSupported',
      field,
      message: `Unsupported value: ${show(value)}: supported values: ${valid.map((v) => `"${v}"`).join(', ')}`,
    });
  }
  forbidden(field: string, detail: string): void {
    this.list.push({ reason: 'FieldValueForbidden', field, message: `Forbidden: ${detail}` });
  }
  tooLong(field: string, max: number): void {
    this.list.push({
      reason: 'FieldValueTooLong',
      field,
      message: `Too long: must have at most ${max} bytes`,
    });
  }
  tooMany(field: string, actual: number, max: number): void {
    this.list.push({
      reason: 'FieldValueTooMany',
      field,
      message: `Too many: ${actual}: must have at most ${max} items`,
    });
  }
  notFound(field: string, value: unknown): void {
    this.list.push({ reason: 'FieldValueNotFound', field, message: `Not found: ${show(value)}` });
  }
  /** One Invalid cause per message from a syntax checker. */
  each(field: string, value: unknown, msgs: string[]): void {
    for (const m of msgs) this.invalid(field, value, m);
  }
}

const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const PORT_RANGE_MSG = 'must be between 1 and 65535, inclusive';
/** The NodePort range podnet allocates from (the apiserver default --service-node-port-range). */
export const NODE_PORT_RANGE = { min: 30000, max: 32767 };
const TOTAL_ANNOTATION_SIZE = 256 * 1024;

function validPort(v: unknown): boolean {
  return isInt(v) && v >= 1 && v <= 65535;
}

function checkPortNumber(c: Causes, field: string, v: unknown): void {
  if (!validPort(v)) c.invalid(field, v, PORT_RANGE_MSG);
}

/** A port that is a number 1–65535 or an IANA service name (targetPort, probe ports). */
/**
 * An IntOrString port: a number 1–65535 or an IANA service name. As upstream, a quoted number
 * ("8080") is a string and so must be a name: it is rejected rather than silently converted.
 */
function checkPortNumOrName(c: Causes, field: string, v: unknown): void {
  if (typeof v === 'number') checkPortNumber(c, field, v);
  else if (typeof v === 'string') c.each(field, v, ianaSvcNameErrors(v));
  else c.required(field);
}

function checkProtocol(c: Causes, field: string, v: unknown): void {
  if (v === undefined) return; // defaulted to TCP
  if (typeof v !== 'string' || !PROTOCOLS.includes(v)) c.notSupported(field, v, PROTOCOLS);
}

function checkLabels(c: Causes, field: string, labels: unknown): void {
  if (labels === undefined || labels === null) return;
  if (!isObj(labels)) {
    c.invalid(field, labels, 'must be a map of string keys to string values');
    return;
  }
  for (const [k, v] of Object.entries(labels)) {
    c.each(field, k, qualifiedNameErrors(k));
    if (typeof v !== 'string') c.invalid(field, v, 'label values must be strings');
    else c.each(field, v, labelValueErrors(v));
  }
}

function checkNonNegative(c: Causes, field: string, v: unknown): void {
  if (v === undefined || v === null) return;
  if (!isInt(v) || v < 0) c.invalid(field, v, 'must be greater than or equal to 0');
}

function checkIP(c: Causes, field: string, v: unknown): void {
  if (typeof v !== 'string' || !isValidIP(v))
    c.invalid(field, v, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)');
}

function checkCIDR(c: Causes, field: string, v: unknown): void {
  if (typeof v !== 'string' || !isValidCIDR(v))
    c.invalid(field, v, 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)');
}

// ---- metadata -------------------------------------------------------------------------------

type NameCheck = (v: string) => string[];

/** How each kind's names are checked (Service: DNS-1035 label; Namespace: DNS-1123 label). */
function nameCheckFor(kind: string): NameCheck {
  if (kind === 'Service') return dns1035LabelErrors;
  if (kind === 'Namespace') return dns1123LabelErrors;
  return dns1123SubdomainErrors;
}

function validateMeta(c: Causes, res: ResourceInfo, meta: Obj | undefined): void {
  if (!isObj(meta)) {
    c.required('metadata');
    return;
  }
  const check = nameCheckFor(res.kind);
  if (meta.generateName) {
    // A prefix may end with '-', the usual separator before the random suffix.
    const g = String(meta.generateName);
    c.each('metadata.generateName', g, check(g.endsWith('-') ? g.slice(0, -1) || 'a' : g));
  }
  if (!meta.name) {
    if (!meta.generateName) c.required('metadata.name', 'name or generateName is required');
  } else if (typeof meta.name !== 'string') c.invalid('metadata.name', meta.name, 'must be a string');
  else c.each('metadata.name', meta.name, check(meta.name));
  if (res.namespaced) {
    if (!meta.namespace) c.required('metadata.namespace');
    else c.each('metadata.namespace', meta.namespace, dns1123LabelErrors(String(meta.namespace)));
  } else if (meta.namespace) c.forbidden('metadata.namespace', 'not allowed on this type');
  checkLabels(c, 'metadata.labels', meta.labels);
  if (meta.annotations !== undefined && meta.annotations !== null) {
    if (!isObj(meta.annotations)) c.invalid('metadata.annotations', meta.annotations, 'must be a map');
    else {
      let size = 0;
      for (const [k, v] of Object.entries(meta.annotations)) {
        c.each('metadata.annotations', k, qualifiedNameErrors(k.toLowerCase()));
        size += Buffer.byteLength(k) + Buffer.byteLength(String(v));
      }
      if (size > TOTAL_ANNOTATION_SIZE) c.tooLong('metadata.annotations', TOTAL_ANNOTATION_SIZE);
    }
  }
  arr(meta.ownerReferences).forEach((o, i) => {
    const p = `metadata.ownerReferences[${i}]`;
    for (const k of ['apiVersion', 'kind', 'name', 'uid']) if (!o?.[k]) c.required(`${p}.${k}`);
  });
  if (arr(meta.ownerReferences).filter((o) => o?.controller === true).length > 1)
    c.invalid(
      'metadata.ownerReferences',
      meta.ownerReferences,
      'Only one reference can have Controller set to true',
    );
  arr(meta.finalizers).forEach((f, i) => {
    c.each(`metadata.finalizers[${i}]`, f, qualifiedNameErrors(String(f)));
  });
  checkNonNegative(c, 'metadata.generation', meta.generation);
}

// ---- Pod ----------------------------------------------------------------------------------

const RESTART_POLICIES = ['Always', 'Never', 'OnFailure'];
const DNS_POLICIES = ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'];
const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'];
const TOLERATION_OPS = ['Equal', 'Exists'];
const TAINT_EFFECTS = ['NoExecute', 'NoSchedule', 'PreferNoSchedule'];
const ENV_NAME_RE = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

function validateHandler(c: Causes, p: string, h: Obj, container: Obj, lifecycle = false): void {
  // Probes take exec/httpGet/tcpSocket/grpc; lifecycle hooks exec/httpGet/tcpSocket/sleep.
  const allowed = lifecycle
    ? ['exec', 'httpGet', 'tcpSocket', 'sleep']
    : ['exec', 'httpGet', 'tcpSocket', 'grpc'];
  const kinds = allowed.filter((k) => h[k] !== undefined && h[k] !== null);
  if (kinds.length === 0) c.required(p, 'must specify a handler type');
  else if (kinds.length > 1) c.forbidden(`${p}.${kinds[1]}`, 'may not specify more than 1 handler type');
  const namedPorts = new Set(
    arr(container.ports)
      .map((x) => x?.name)
      .filter(Boolean),
  );
  for (const k of ['httpGet', 'tcpSocket'] as const) {
    if (!isObj(h[k])) continue;
    const port = h[k].port;
    checkPortNumOrName(c, `${p}.${k}.port`, port);
    if (typeof port === 'string' && ianaSvcNameErrors(port).length === 0 && !namedPorts.has(port))
      c.invalid(`${p}.${k}.port`, port, 'must contain the name of a port of this container');
  }
  if (isObj(h.httpGet) && h.httpGet.scheme !== undefined && !['HTTP', 'HTTPS'].includes(h.httpGet.scheme))
    c.notSupported(`${p}.httpGet.scheme`, h.httpGet.scheme, ['HTTP', 'HTTPS']);
  if (isObj(h.grpc)) checkPortNumber(c, `${p}.grpc.port`, h.grpc.port);
  if (isObj(h.exec) && arr(h.exec.command).length === 0) c.required(`${p}.exec.command`);
}

function validateProbe(c: Causes, p: string, probe: unknown, container: Obj, mustSucceedOnce: boolean): void {
  if (probe === undefined || probe === null) return;
  if (!isObj(probe)) {
    c.invalid(p, probe, 'must be an object');
    return;
  }
  validateHandler(c, p, probe, container);
  for (const k of [
    'initialDelaySeconds',
    'timeoutSeconds',
    'periodSeconds',
    'successThreshold',
    'failureThreshold',
  ])
    checkNonNegative(c, `${p}.${k}`, probe[k]);
  for (const k of ['timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold'])
    if (isInt(probe[k]) && probe[k] < 1)
      c.invalid(`${p}.${k}`, probe[k], 'must be greater than or equal to 1');
  if (mustSucceedOnce && probe.successThreshold !== undefined && probe.successThreshold !== 1)
    c.invalid(`${p}.successThreshold`, probe.successThreshold, 'must be 1');
}

function validateContainer(
  c: Causes,
  p: string,
  ct: Obj,
  spec: Obj,
  volumes: Set<string>,
  portNames: Map<string, string>,
  requireImage: boolean,
  init: boolean,
): void {
  if (!ct.name) c.required(`${p}.name`);
  else c.each(`${p}.name`, ct.name, dns1123LabelErrors(String(ct.name)));
  if (requireImage && (typeof ct.image !== 'string' || ct.image.trim() === '')) c.required(`${p}.image`);
  if (ct.imagePullPolicy !== undefined && !PULL_POLICIES.includes(ct.imagePullPolicy))
    c.notSupported(`${p}.imagePullPolicy`, ct.imagePullPolicy, PULL_POLICIES);
  arr(ct.ports).forEach((port, i) => {
    const pp = `${p}.ports[${i}]`;
    if (!isObj(port)) {
      c.invalid(pp, port, 'must be an object');
      return;
    }
    if (port.name !== undefined && port.name !== '') {
      c.each(`${pp}.name`, port.name, ianaSvcNameErrors(String(port.name)));
      if (portNames.has(port.name)) c.duplicate(`${pp}.name`, port.name);
      else portNames.set(port.name, pp);
    }
    if (port.containerPort === undefined || port.containerPort === 0) c.required(`${pp}.containerPort`);
    else checkPortNumber(c, `${pp}.containerPort`, port.containerPort);
    if (port.hostPort !== undefined && port.hostPort !== 0)
      checkPortNumber(c, `${pp}.hostPort`, port.hostPort);
    if (spec.hostNetwork === true && port.hostPort && port.hostPort !== port.containerPort)
      c.invalid(`${pp}.hostPort`, port.hostPort, 'must match `containerPort` when `hostNetwork` is true');
    checkProtocol(c, `${pp}.protocol`, port.protocol);
    if (port.hostIP !== undefined && port.hostIP !== '') checkIP(c, `${pp}.hostIP`, port.hostIP);
  });
  const envNames = new Set<string>();
  arr(ct.env).forEach((e, i) => {
    const ep = `${p}.env[${i}]`;
    if (!e?.name) {
      c.required(`${ep}.name`);
      return;
    }
    if (!ENV_NAME_RE.test(e.name))
      c.invalid(
        `${ep}.name`,
        e.name,
        "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit",
      );
    envNames.add(e.name);
    if (e.value !== undefined && e.value !== '' && isObj(e.valueFrom))
      c.invalid(`${ep}.valueFrom`, '', 'may not be specified when `value` is not empty');
    if (isObj(e.valueFrom)) {
      const srcs = ['fieldRef', 'resourceFieldRef', 'configMapKeyRef', 'secretKeyRef'].filter(
        (k) => e.valueFrom[k],
      );
      if (srcs.length !== 1)
        c.invalid(
          `${ep}.valueFrom`,
          '',
          'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`',
        );
      if (isObj(e.valueFrom.fieldRef) && !e.valueFrom.fieldRef.fieldPath)
        c.required(`${ep}.valueFrom.fieldRef.fieldPath`);
    }
  });
  if (isObj(ct.resources)) {
    for (const kind of ['limits', 'requests'] as const) {
      const m = ct.resources[kind];
      if (!isObj(m)) continue;
      for (const [r, q] of Object.entries(m)) {
        const rp = `${p}.resources.${kind}[${r}]`;
        if (!isValidQuantity(q))
          c.invalid(
            rp,
            q,
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
          );
        else if (parseQuantity(q as string) < 0) c.invalid(rp, q, 'must be greater than or equal to 0');
      }
    }
    const lim = isObj(ct.resources.limits) ? ct.resources.limits : {};
    const req = isObj(ct.resources.requests) ? ct.resources.requests : {};
    for (const [r, q] of Object.entries(req)) {
      const l = lim[r];
      if (
        l !== undefined &&
        isValidQuantity(l) &&
        isValidQuantity(q) &&
        parseQuantity(q as string) > parseQuantity(l)
      )
        c.invalid(`${p}.resources.requests`, q, `must be less than or equal to ${r} limit of ${l}`);
    }
  }
  const mounts = new Set<string>();
  arr(ct.volumeMounts).forEach((m, i) => {
    const mp = `${p}.volumeMounts[${i}]`;
    if (!m?.name) c.required(`${mp}.name`);
    else if (!volumes.has(m.name)) c.notFound(`${mp}.name`, m.name);
    if (!m?.mountPath) c.required(`${mp}.mountPath`);
    else if (mounts.has(m.mountPath)) c.invalid(`${mp}.mountPath`, m.mountPath, 'must be unique');
    else mounts.add(m.mountPath);
  });
  if (init) {
    for (const k of ['livenessProbe', 'readinessProbe', 'startupProbe'])
      if (ct[k] !== undefined && ct.restartPolicy !== 'Always')
        c.forbidden(`${p}.${k}`, 'may not be set for init containers without restartPolicy=Always');
  } else if (ct.restartPolicy !== undefined)
    c.forbidden(`${p}.restartPolicy`, 'may not be set for non-init containers');
  validateProbe(c, `${p}.livenessProbe`, ct.livenessProbe, ct, true);
  validateProbe(c, `${p}.readinessProbe`, ct.readinessProbe, ct, false);
  validateProbe(c, `${p}.startupProbe`, ct.startupProbe, ct, true);
  if (isObj(ct.lifecycle))
    for (const k of ['postStart', 'preStop']) {
      const h = ct.lifecycle[k];
      if (!isObj(h)) continue;
      const hp = `${p}.lifecycle.${k}`;
      validateHandler(c, hp, h, ct, true);
      if (h.sleep !== undefined && h.sleep !== null) {
        // As upstream: 0 < seconds <= the pod's terminationGracePeriodSeconds.
        const grace =
          typeof spec.terminationGracePeriodSeconds === 'number' ? spec.terminationGracePeriodSeconds : 30;
        const secs = isObj(h.sleep) ? h.sleep.seconds : undefined;
        if (!Number.isInteger(secs) || (secs as number) <= 0 || (secs as number) > grace)
          c.invalid(
            `${hp}.sleep.seconds`,
            secs,
            `must be greater than 0 and less than terminationGracePeriodSeconds (${grace})`,
          );
      }
    }
  if (
    ct.terminationMessagePolicy !== undefined &&
    !['File', 'FallbackToLogsOnError'].includes(ct.terminationMessagePolicy)
  )
    c.notSupported(`${p}.terminationMessagePolicy`, ct.terminationMessagePolicy, [
      'File',
      'FallbackToLogsOnError',
    ]);
}

/** Validates a PodSpec at path `p` (`spec` for Pods, `spec.template.spec` for workloads). */
function validatePodSpec(c: Causes, p: string, spec: unknown, requireImage = true): void {
  if (!isObj(spec)) {
    c.required(p);
    return;
  }
  const volumes = new Set<string>();
  arr(spec.volumes).forEach((v, i) => {
    const vp = `${p}.volumes[${i}]`;
    if (!v?.name) {
      c.required(`${vp}.name`);
      return;
    }
    c.each(`${vp}.name`, v.name, dns1123LabelErrors(String(v.name)));
    if (volumes.has(v.name)) c.duplicate(`${vp}.name`, v.name);
    volumes.add(v.name);
    const sources = Object.keys(v).filter((k) => k !== 'name' && v[k] !== undefined && v[k] !== null);
    if (sources.length > 1) c.forbidden(`${vp}.${sources[1]}`, 'may not specify more than 1 volume type');
    if (isObj(v.hostPath) && !v.hostPath.path) c.required(`${vp}.hostPath.path`);
  });
  const containers = arr(spec.containers);
  if (containers.length === 0) c.required(`${p}.containers`);
  const names = new Set<string>();
  const portNames = new Map<string, string>();
  const inits = arr(spec.initContainers);
  inits.forEach((ct, i) => {
    const cp = `${p}.initContainers[${i}]`;
    if (!isObj(ct)) {
      c.invalid(cp, ct, 'must be an object');
      return;
    }
    if (ct.name && names.has(ct.name)) c.duplicate(`${cp}.name`, ct.name);
    names.add(ct.name);
    validateContainer(c, cp, ct, spec, volumes, portNames, requireImage, true);
  });
  containers.forEach((ct, i) => {
    const cp = `${p}.containers[${i}]`;
    if (!isObj(ct)) {
      c.invalid(cp, ct, 'must be an object');
      return;
    }
    if (ct.name && names.has(ct.name)) c.duplicate(`${cp}.name`, ct.name);
    names.add(ct.name);
    validateContainer(c, cp, ct, spec, volumes, portNames, requireImage, false);
  });
  // A host port (protocol, host IP, port) can be claimed once per pod, across all containers.
  const hostPorts = new Set<string>();
  for (const [kind, list] of [
    ['initContainers', inits],
    ['containers', containers],
  ] as const)
    list.forEach((ct, i) => {
      arr(ct?.ports).forEach((port, j) => {
        if (!isObj(port) || !port.hostPort) return;
        const key = `${port.protocol ?? 'TCP'}/${port.hostIP ?? ''}/${port.hostPort}`;
        if (hostPorts.has(key)) c.duplicate(`${p}.${kind}[${i}].ports[${j}].hostPort`, key);
        hostPorts.add(key);
      });
    });
  if (spec.restartPolicy !== undefined && !RESTART_POLICIES.includes(spec.restartPolicy))
    c.notSupported(`${p}.restartPolicy`, spec.restartPolicy, RESTART_POLICIES);
  if (spec.dnsPolicy !== undefined && !DNS_POLICIES.includes(spec.dnsPolicy))
    c.notSupported(`${p}.dnsPolicy`, spec.dnsPolicy, DNS_POLICIES);
  if (spec.dnsPolicy === 'None' && !isObj(spec.dnsConfig))
    c.required(`${p}.dnsConfig`, 'must provide `dnsConfig` when `dnsPolicy` is None');
  if (isObj(spec.dnsConfig)) {
    const ns = arr(spec.dnsConfig.nameservers);
    if (ns.length > 3) c.invalid(`${p}.dnsConfig.nameservers`, ns, 'must not have more than 3 nameservers');
    ns.forEach((ip, i) => {
      checkIP(c, `${p}.dnsConfig.nameservers[${i}]`, ip);
    });
    if (spec.dnsPolicy === 'None' && ns.length === 0)
      c.required(
        `${p}.dnsConfig.nameservers`,
        'must provide at least one DNS nameserver when `dnsPolicy` is None',
      );
    const searches = arr(spec.dnsConfig.searches);
    if (searches.length > 32)
      c.invalid(`${p}.dnsConfig.searches`, searches, 'must not have more than 32 search paths');
    searches.forEach((s, i) => {
      const d = String(s).replace(/\.$/, '');
      c.each(`${p}.dnsConfig.searches[${i}]`, s, dns1123SubdomainErrors(d));
    });
  }
  checkNonNegative(c, `${p}.terminationGracePeriodSeconds`, spec.terminationGracePeriodSeconds);
  if (
    spec.activeDeadlineSeconds !== undefined &&
    (!isInt(spec.activeDeadlineSeconds) || spec.activeDeadlineSeconds < 1)
  )
    c.invalid(
      `${p}.activeDeadlineSeconds`,
      spec.activeDeadlineSeconds,
      'must be between 1 and 2147483647, inclusive',
    );
  checkLabels(c, `${p}.nodeSelector`, spec.nodeSelector);
  if (spec.nodeName) c.each(`${p}.nodeName`, spec.nodeName, dns1123SubdomainErrors(String(spec.nodeName)));
  if (spec.hostname) c.each(`${p}.hostname`, spec.hostname, dns1123LabelErrors(String(spec.hostname)));
  if (spec.subdomain) c.each(`${p}.subdomain`, spec.subdomain, dns1123LabelErrors(String(spec.subdomain)));
  if (spec.serviceAccountName)
    c.each(
      `${p}.serviceAccountName`,
      spec.serviceAccountName,
      dns1123SubdomainErrors(String(spec.serviceAccountName)),
    );
  arr(spec.tolerations).forEach((t, i) => {
    validateToleration(c, `${p}.tolerations[${i}]`, t);
  });
  arr(spec.readinessGates).forEach((g, i) => {
    const gp = `${p}.readinessGates[${i}].conditionType`;
    if (!g?.conditionType) c.required(gp);
    else c.each(gp, g.conditionType, qualifiedNameErrors(String(g.conditionType)));
  });
  arr(spec.hostAliases).forEach((h, i) => {
    checkIP(c, `${p}.hostAliases[${i}].ip`, h?.ip);
    arr(h?.hostnames).forEach((n, j) => {
      c.each(`${p}.hostAliases[${i}].hostnames[${j}]`, n, dns1123SubdomainErrors(String(n)));
    });
  });
  arr(spec.imagePullSecrets).forEach((s, i) => {
    if (!s?.name) c.required(`${p}.imagePullSecrets[${i}].name`);
  });
  if (isObj(spec.affinity)) validateAffinity(c, `${p}.affinity`, spec.affinity);
}

function validateToleration(c: Causes, p: string, t: Obj): void {
  if (!isObj(t)) {
    c.invalid(p, t, 'must be an object');
    return;
  }
  if (t.key) c.each(`${p}.key`, t.key, qualifiedNameErrors(String(t.key)));
  const op = t.operator ?? 'Equal';
  if (!TOLERATION_OPS.includes(op)) c.notSupported(`${p}.operator`, op, TOLERATION_OPS);
  if (!t.key && op !== 'Exists')
    c.invalid(
      `${p}.operator`,
      op,
      'operator must be Exists when `key` is empty, which means "match all values and all keys"',
    );
  if (op === 'Exists' && t.value)
    c.invalid(`${p}.operator`, t.value, "value must be empty when `operator` is 'Exists'");
  if (op === 'Equal' && t.value) c.each(`${p}.value`, t.value, labelValueErrors(String(t.value)));
  if (t.effect !== undefined && t.effect !== '' && !TAINT_EFFECTS.includes(t.effect))
    c.notSupported(`${p}.effect`, t.effect, TAINT_EFFECTS);
  if (t.tolerationSeconds !== undefined && t.effect !== 'NoExecute')
    c.invalid(`${p}.effect`, t.effect, "effect must be 'NoExecute' when `tolerationSeconds` is set");
}

const NODE_SELECTOR_OPS = ['DoesNotExist', 'Exists', 'Gt', 'In', 'Lt', 'NotIn'];

function validateNodeSelectorTerm(c: Causes, p: string, term: Obj): void {
  arr(term?.matchExpressions).forEach((e, i) => {
    const ep = `${p}.matchExpressions[${i}]`;
    c.each(`${ep}.key`, e?.key, qualifiedNameErrors(String(e?.key ?? '')));
    if (!NODE_SELECTOR_OPS.includes(e?.operator)) {
      c.notSupported(`${ep}.operator`, e?.operator, NODE_SELECTOR_OPS);
      return;
    }
    const n = arr(e.values).length;
    if ((e.operator === 'In' || e.operator === 'NotIn') && n === 0)
      c.required(`${ep}.values`, "must be specified when `operator` is 'In' or 'NotIn'");
    if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && n > 0)
      c.forbidden(`${ep}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
    if ((e.operator === 'Gt' || e.operator === 'Lt') && (n !== 1 || !/^-?\d+$/.test(String(e.values[0]))))
      c.required(`${ep}.values`, "must be specified single value when `operator` is 'Lt' or 'Gt'");
  });
}

function validateAffinity(c: Causes, p: string, a: Obj): void {
  const na = a.nodeAffinity;
  if (isObj(na)) {
    const req = na.requiredDuringSchedulingIgnoredDuringExecution;
    if (isObj(req)) {
      const terms = arr(req.nodeSelectorTerms);
      if (terms.length === 0)
        c.required(
          `${p}.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`,
          'must have at least one node selector term',
        );
      terms.forEach((t, i) => {
        validateNodeSelectorTerm(
          c,
          `${p}.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[${i}]`,
          t,
        );
      });
    }
    arr(na.preferredDuringSchedulingIgnoredDuringExecution).forEach((t, i) => {
      const tp = `${p}.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[${i}]`;
      if (!isInt(t?.weight) || t.weight < 1 || t.weight > 100)
        c.invalid(`${tp}.weight`, t?.weight, 'must be in the range 1-100');
      validateNodeSelectorTerm(c, `${tp}.preference`, t?.preference);
    });
  }
  for (const kind of ['podAffinity', 'podAntiAffinity']) {
    const pa = a[kind];
    if (!isObj(pa)) continue;
    const checkTerm = (tp: string, t: Obj) => {
      if (!t?.topologyKey) c.required(`${tp}.topologyKey`, 'can not be empty');
      else c.each(`${tp}.topologyKey`, t.topologyKey, qualifiedNameErrors(String(t.topologyKey)));
      for (const cause of validateLabelSelector(t?.labelSelector, `${tp}.labelSelector`)) c.list.push(cause);
    };
    arr(pa.requiredDuringSchedulingIgnoredDuringExecution).forEach((t, i) => {
      checkTerm(`${p}.${kind}.requiredDuringSchedulingIgnoredDuringExecution[${i}]`, t);
    });
    arr(pa.preferredDuringSchedulingIgnoredDuringExecution).forEach((t, i) => {
      const tp = `${p}.${kind}.preferredDuringSchedulingIgnoredDuringExecution[${i}]`;
      if (!isInt(t?.weight) || t.weight < 1 || t.weight > 100)
        c.invalid(`${tp}.weight`, t?.weight, 'must be in the range 1-100');
      checkTerm(`${tp}.podAffinityTerm`, t?.podAffinityTerm);
    });
  }
}

function validatePodStatus(c: Causes, st: Obj | undefined): void {
  if (!isObj(st)) return;
  const phases = ['Failed', 'Pending', 'Running', 'Succeeded', 'Unknown'];
  if (st.phase !== undefined && !phases.includes(st.phase)) c.notSupported('status.phase', st.phase, phases);
  if (st.podIP) checkIP(c, 'status.podIP', st.podIP);
  const podIPs = arr(st.podIPs);
  podIPs.forEach((x, i) => {
    checkIP(c, `status.podIPs[${i}].ip`, x?.ip);
  });
  if (st.podIP && podIPs.length && podIPs[0]?.ip !== st.podIP)
    c.invalid('status.podIPs[0].ip', podIPs[0]?.ip, 'must match status.podIP');
  if (podIPs.length > 2) c.tooMany('status.podIPs', podIPs.length, 2);
  if (podIPs.length === 2 && ipFamilyOf(podIPs[0]?.ip) === ipFamilyOf(podIPs[1]?.ip))
    c.invalid('status.podIPs', podIPs, 'may specify no more than one IP for each IP family');
  if (st.hostIP) checkIP(c, 'status.hostIP', st.hostIP);
  arr(st.conditions).forEach((cond, i) => {
    if (!cond?.type) c.required(`status.conditions[${i}].type`);
    if (!['True', 'False', 'Unknown'].includes(cond?.status))
      c.notSupported(`status.conditions[${i}].status`, cond?.status, ['False', 'True', 'Unknown']);
  });
}

// ---- Service ------------------------------------------------------------------------------

const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
const TRAFFIC_POLICIES = ['Cluster', 'Local'];
const IP_FAMILIES = ['IPv4', 'IPv6'];
const IP_FAMILY_POLICIES = ['PreferDualStack', 'RequireDualStack', 'SingleStack'];

function validateService(c: Causes, spec: unknown): void {
  if (!isObj(spec)) {
    c.required('spec');
    return;
  }
  const type = spec.type ?? 'ClusterIP';
  if (!SERVICE_TYPES.includes(type)) c.notSupported('spec.type', type, SERVICE_TYPES);
  const headless = spec.clusterIP === 'None';
  const ports = arr(spec.ports);
  if (ports.length === 0 && type !== 'ExternalName' && !headless) c.required('spec.ports');
  const names = new Set<string>();
  const portProto = new Set<string>();
  const nodePortProto = new Set<string>();
  ports.forEach((port, i) => {
    const p = `spec.ports[${i}]`;
    if (!isObj(port)) {
      c.invalid(p, port, 'must be an object');
      return;
    }
    if (ports.length > 1 && !port.name) c.required(`${p}.name`);
    if (port.name) {
      c.each(`${p}.name`, port.name, dns1123LabelErrors(String(port.name)));
      if (names.has(port.name)) c.duplicate(`${p}.name`, port.name);
      names.add(port.name);
    }
    checkPortNumber(c, `${p}.port`, port.port);
    checkProtocol(c, `${p}.protocol`, port.protocol);
    if (port.targetPort !== undefined && port.targetPort !== null)
      checkPortNumOrName(c, `${p}.targetPort`, port.targetPort);
    const proto = port.protocol ?? 'TCP';
    const key = `${port.port}/${proto}`;
    if (portProto.has(key)) c.duplicate(p, { port: port.port, protocol: proto });
    portProto.add(key);
    if (port.nodePort !== undefined && port.nodePort !== null && port.nodePort !== 0) {
      if (type === 'ClusterIP' || type === 'ExternalName')
        c.forbidden(`${p}.nodePort`, `may not be used when \`type\` is '${type}'`);
      else if (
        !isInt(port.nodePort) ||
        port.nodePort < NODE_PORT_RANGE.min ||
        port.nodePort > NODE_PORT_RANGE.max
      )
        c.invalid(
          `${p}.nodePort`,
          port.nodePort,
          `provided port is not in the valid range. The range of valid ports is ${NODE_PORT_RANGE.min}-${NODE_PORT_RANGE.max}`,
        );
      const nk = `${port.nodePort}/${proto}`;
      if (nodePortProto.has(nk)) c.duplicate(`${p}.nodePort`, port.nodePort);
      nodePortProto.add(nk);
    }
    if (port.appProtocol)
      c.each(`${p}.appProtocol`, port.appProtocol, qualifiedNameErrors(String(port.appProtocol)));
  });
  checkLabels(c, 'spec.selector', spec.selector);

  // clusterIP / clusterIPs
  const clusterIPs = arr(spec.clusterIPs);
  if (type === 'ExternalName') {
    if (spec.clusterIP) c.forbidden('spec.clusterIP', 'may not be set for ExternalName services');
    if (clusterIPs.length) c.forbidden('spec.clusterIPs', 'may not be set for ExternalName services');
    if (!spec.externalName) c.required('spec.externalName');
    else
      c.each(
        'spec.externalName',
        spec.externalName,
        dns1123SubdomainErrors(String(spec.externalName).replace(/\.$/, '')),
      );
    if (arr(spec.ipFamilies).length)
      c.forbidden('spec.ipFamilies', 'may not be set for ExternalName services');
    if (spec.ipFamilyPolicy) c.forbidden('spec.ipFamilyPolicy', 'may not be set for ExternalName services');
  } else {
    if (spec.clusterIP && clusterIPs.length && clusterIPs[0] !== spec.clusterIP)
      c.invalid('spec.clusterIPs', clusterIPs, 'first value must match `clusterIP`');
    const ipList = clusterIPs.length ? clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
    const fieldOf = (i: number) => (clusterIPs.length ? `spec.clusterIPs[${i}]` : 'spec.clusterIP');
    ipList.forEach((ip, i) => {
      if (ip === 'None') {
        if (i > 0 || ipList.length > 1) c.invalid(fieldOf(i), ip, "'None' must be the first and only value");
        else if (type !== 'ClusterIP')
          c.invalid(fieldOf(i), ip, `may not be set to 'None' for ${type} services`);
        return;
      }
      if (ip === '') return;
      checkIP(c, fieldOf(i), ip);
    });
    const fams = arr(spec.ipFamilies);
    if (fams.length > 2) c.tooMany('spec.ipFamilies', fams.length, 2);
    fams.forEach((f, i) => {
      if (!IP_FAMILIES.includes(f)) c.notSupported(`spec.ipFamilies[${i}]`, f, IP_FAMILIES);
      if (i > 0 && fams.indexOf(f) < i) c.duplicate(`spec.ipFamilies[${i}]`, f);
    });
    if (spec.ipFamilyPolicy !== undefined && !IP_FAMILY_POLICIES.includes(spec.ipFamilyPolicy))
      c.notSupported('spec.ipFamilyPolicy', spec.ipFamilyPolicy, IP_FAMILY_POLICIES);
    if (spec.ipFamilyPolicy === 'SingleStack' && (fams.length > 1 || ipList.length > 1))
      c.invalid(
        'spec.ipFamilyPolicy',
        spec.ipFamilyPolicy,
        'must be RequireDualStack or PreferDualStack when multiple IP families are specified',
      );
    if (ipList.length === 2 && ipFamilyOf(ipList[0]) && ipFamilyOf(ipList[0]) === ipFamilyOf(ipList[1]))
      c.invalid('spec.clusterIPs', ipList, 'may specify no more than one IP for each IP family');
    ipList.forEach((ip, i) => {
      const f = ipFamilyOf(ip);
      if (f && fams[i] && fams[i] !== f)
        c.invalid(fieldOf(i), ip, `expected an ${fams[i]} value as indicated by \`ipFamilies[${i}]\``);
    });
  }

  arr(spec.externalIPs).forEach((ip, i) => {
    const f = `spec.externalIPs[${i}]`;
    if (typeof ip !== 'string' || !isValidIP(ip)) {
      checkIP(c, f, ip);
      return;
    }
    const special = specialIPError(ip);
    if (special) c.invalid(f, ip, special);
  });

  const affinities = ['ClientIP', 'None'];
  const aff = spec.sessionAffinity ?? 'None';
  if (!affinities.includes(aff)) c.notSupported('spec.sessionAffinity', aff, affinities);
  if (isObj(spec.sessionAffinityConfig)) {
    if (aff !== 'ClientIP')
      c.forbidden('spec.sessionAffinityConfig', `must not be set when \`sessionAffinity\` is ${aff}`);
    else {
      const t = spec.sessionAffinityConfig.clientIP?.timeoutSeconds;
      if (t !== undefined && (!isInt(t) || t < 1 || t > 86400))
        c.invalid(
          'spec.sessionAffinityConfig.clientIP.timeoutSeconds',
          t,
          'must be greater than 0 and less than 86400',
        );
    }
  }
  if (type === 'ExternalName' && aff === 'ClientIP')
    c.forbidden('spec.sessionAffinity', "may not be set to 'ClientIP' for ExternalName services");

  const etp = spec.externalTrafficPolicy;
  if (etp !== undefined && etp !== '') {
    if (type === 'ClusterIP' || type === 'ExternalName')
      c.invalid(
        'spec.externalTrafficPolicy',
        etp,
        "may only be set when `type` is 'NodePort' or 'LoadBalancer'",
      );
    else if (!TRAFFIC_POLICIES.includes(etp))
      c.notSupported('spec.externalTrafficPolicy', etp, TRAFFIC_POLICIES);
  }
  const itp = spec.internalTrafficPolicy;
  if (itp !== undefined && !TRAFFIC_POLICIES.includes(itp))
    c.notSupported('spec.internalTrafficPolicy', itp, TRAFFIC_POLICIES);
  if (
    spec.healthCheckNodePort !== undefined &&
    spec.healthCheckNodePort !== 0 &&
    spec.healthCheckNodePort !== null
  ) {
    if (type !== 'LoadBalancer' || etp !== 'Local')
      c.invalid(
        'spec.healthCheckNodePort',
        spec.healthCheckNodePort,
        "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
      );
    else checkPortNumber(c, 'spec.healthCheckNodePort', spec.healthCheckNodePort);
  }
  if (spec.loadBalancerIP) {
    if (type !== 'LoadBalancer')
      c.forbidden('spec.loadBalancerIP', "may only be used when `type` is 'LoadBalancer'");
    else checkIP(c, 'spec.loadBalancerIP', spec.loadBalancerIP);
  }
  const ranges = arr(spec.loadBalancerSourceRanges);
  if (ranges.length && type !== 'LoadBalancer')
    c.forbidden('spec.loadBalancerSourceRanges', "may only be used when `type` is 'LoadBalancer'");
  ranges.forEach((r, i) => {
    checkCIDR(c, `spec.loadBalancerSourceRanges[${i}]`, String(r).trim());
  });
  if (spec.allocateLoadBalancerNodePorts !== undefined && type !== 'LoadBalancer')
    c.forbidden('spec.allocateLoadBalancerNodePorts', "may only be used when `type` is 'LoadBalancer'");
  if (spec.publishNotReadyAddresses !== undefined && typeof spec.publishNotReadyAddresses !== 'boolean')
    c.invalid('spec.publishNotReadyAddresses', spec.publishNotReadyAddresses, 'must be a boolean');
}

function validateServiceStatus(c: Causes, st: unknown): void {
  if (!isObj(st)) return;
  arr(st.loadBalancer?.ingress).forEach((ing, i) => {
    const p = `status.loadBalancer.ingress[${i}]`;
    if (ing?.ip) checkIP(c, `${p}.ip`, ing.ip);
    if (ing?.hostname) {
      c.each(`${p}.hostname`, ing.hostname, dns1123SubdomainErrors(String(ing.hostname)));
      if (isValidIP(ing.hostname))
        c.invalid(`${p}.hostname`, ing.hostname, 'must be a DNS name, not an IP address');
    }
  });
}

// ---- Endpoints and EndpointSlice ---------------------------------------------------------

function validateEndpoints(c: Causes, o: Obj): void {
  arr(o.subsets).forEach((s, i) => {
    const p = `subsets[${i}]`;
    for (const k of ['addresses', 'notReadyAddresses'])
      arr(s?.[k]).forEach((a, j) => {
        checkIP(c, `${p}.${k}[${j}].ip`, a?.ip);
        const special = typeof a?.ip === 'string' ? specialIPError(a.ip) : undefined;
        if (special) c.invalid(`${p}.${k}[${j}].ip`, a.ip, special);
        if (a?.hostname)
          c.each(`${p}.${k}[${j}].hostname`, a.hostname, dns1123LabelErrors(String(a.hostname)));
        if (a?.nodeName)
          c.each(`${p}.${k}[${j}].nodeName`, a.nodeName, dns1123SubdomainErrors(String(a.nodeName)));
      });
    const ports = arr(s?.ports);
    ports.forEach((port, j) => {
      const pp = `${p}.ports[${j}]`;
      if (ports.length > 1 && !port?.name) c.required(`${pp}.name`);
      if (port?.name) c.each(`${pp}.name`, port.name, dns1123LabelErrors(String(port.name)));
      checkPortNumber(c, `${pp}.port`, port?.port);
      checkProtocol(c, `${pp}.protocol`, port?.protocol);
    });
  });
}

const ADDRESS_TYPES = ['FQDN', 'IPv4', 'IPv6'];

function validateEndpointSlice(c: Causes, o: Obj): void {
  const at = o.addressType;
  if (!at) c.required('addressType');
  else if (!ADDRESS_TYPES.includes(at)) c.notSupported('addressType', at, ADDRESS_TYPES);
  const eps = arr(o.endpoints);
  if (eps.length > 1000) c.tooMany('endpoints', eps.length, 1000);
  eps.forEach((ep, i) => {
    const p = `endpoints[${i}]`;
    const addrs = arr(ep?.addresses);
    if (addrs.length === 0) c.required(`${p}.addresses`, 'must contain at least 1 address');
    if (addrs.length > 100) c.tooMany(`${p}.addresses`, addrs.length, 100);
    addrs.forEach((a, j) => {
      const f = `${p}.addresses[${j}]`;
      if (at === 'IPv4' && ipFamilyOf(a) !== 'IPv4') c.invalid(f, a, 'must be a valid IPv4 address');
      else if (at === 'IPv6' && ipFamilyOf(a) !== 'IPv6') c.invalid(f, a, 'must be a valid IPv6 address');
      else if (at === 'FQDN') c.each(f, a, dns1123SubdomainErrors(String(a)));
      else if (at === 'IPv4' || at === 'IPv6') {
        const special = specialIPError(a);
        if (special) c.invalid(f, a, special);
      }
    });
    if (ep?.nodeName) c.each(`${p}.nodeName`, ep.nodeName, dns1123SubdomainErrors(String(ep.nodeName)));
    if (ep?.hostname) c.each(`${p}.hostname`, ep.hostname, dns1123LabelErrors(String(ep.hostname)));
    if (isObj(ep?.conditions))
      for (const k of ['ready', 'serving', 'terminating'])
        if (
          ep.conditions[k] !== undefined &&
          ep.conditions[k] !== null &&
          typeof ep.conditions[k] !== 'boolean'
        )
          c.invalid(`${p}.conditions.${k}`, ep.conditions[k], 'must be a boolean');
  });
  const ports = arr(o.ports);
  if (ports.length > 100) c.tooMany('ports', ports.length, 100);
  const names = new Set<string>();
  ports.forEach((port, i) => {
    const p = `ports[${i}]`;
    const name = port?.name ?? '';
    if (name !== '') c.each(`${p}.name`, name, dns1123LabelErrors(String(name)));
    if (names.has(name)) c.duplicate(`${p}.name`, name);
    names.add(name);
    if (port?.port !== undefined && port?.port !== null) checkPortNumber(c, `${p}.port`, port.port);
    checkProtocol(c, `${p}.protocol`, port?.protocol);
  });
}

// ---- Node, Namespace, ConfigMap, Secret, Event --------------------------------------------

function validateNode(c: Causes, o: Obj): void {
  const spec = isObj(o.spec) ? o.spec : {};
  if (spec.podCIDR) checkCIDR(c, 'spec.podCIDR', spec.podCIDR);
  const cidrs = arr(spec.podCIDRs);
  cidrs.forEach((x, i) => {
    checkCIDR(c, `spec.podCIDRs[${i}]`, x);
  });
  if (cidrs.length > 2) c.tooMany('spec.podCIDRs', cidrs.length, 2);
  if (cidrs.length === 2 && cidrFamilyOf(cidrs[0]) && cidrFamilyOf(cidrs[0]) === cidrFamilyOf(cidrs[1]))
    c.invalid('spec.podCIDRs', cidrs, 'may specify no more than one CIDR for each IP family');
  if (spec.podCIDR && cidrs.length && cidrs[0] !== spec.podCIDR)
    c.invalid('spec.podCIDRs', cidrs, 'first value must match `podCIDR`');
  arr(spec.taints).forEach((t, i) => {
    const p = `spec.taints[${i}]`;
    if (!t?.key) c.required(`${p}.key`);
    else c.each(`${p}.key`, t.key, qualifiedNameErrors(String(t.key)));
    if (t?.value) c.each(`${p}.value`, t.value, labelValueErrors(String(t.value)));
    if (!t?.effect) c.required(`${p}.effect`);
    else if (!TAINT_EFFECTS.includes(t.effect)) c.notSupported(`${p}.effect`, t.effect, TAINT_EFFECTS);
  });
  const st = isObj(o.status) ? o.status : {};
  const addrTypes = ['ExternalDNS', 'ExternalIP', 'Hostname', 'InternalDNS', 'InternalIP'];
  arr(st.addresses).forEach((a, i) => {
    const p = `status.addresses[${i}]`;
    if (!addrTypes.includes(a?.type)) c.notSupported(`${p}.type`, a?.type, addrTypes);
    if ((a?.type === 'InternalIP' || a?.type === 'ExternalIP') && a?.address)
      checkIP(c, `${p}.address`, a.address);
  });
}

const CONFIG_KEY_RE = /^[-._a-zA-Z0-9]+$/;
const MAX_DATA_SIZE = 1024 * 1024;

function validateDataKeys(c: Causes, o: Obj, fields: string[]): void {
  const seen = new Set<string>();
  let size = 0;
  for (const f of fields) {
    if (o[f] === undefined || o[f] === null) continue;
    if (!isObj(o[f])) {
      c.invalid(f, o[f], 'must be a map of string keys to string values');
      continue;
    }
    for (const [k, v] of Object.entries(o[f])) {
      if (k.length > 253) c.invalid(`${f}[${k}]`, k, 'must be no more than 253 characters');
      if (!CONFIG_KEY_RE.test(k))
        c.invalid(
          `${f}[${k}]`,
          k,
          "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
        );
      if (f !== 'stringData' && seen.has(k)) c.invalid(`${f}[${k}]`, k, 'duplicate of key present in data');
      seen.add(k);
      size += Buffer.byteLength(String(v));
    }
  }
  if (size > MAX_DATA_SIZE) c.tooLong(fields[0]!, MAX_DATA_SIZE);
}

function validateSecret(c: Causes, o: Obj): void {
  validateDataKeys(c, o, ['data', 'stringData']);
  if (isObj(o.data))
    for (const [k, v] of Object.entries(o.data))
      if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0)
        c.invalid(`data[${k}]`, '<secret contents redacted>', 'illegal base64 data');
  const keys = new Set([
    ...Object.keys(isObj(o.data) ? o.data : {}),
    ...Object.keys(isObj(o.stringData) ? o.stringData : {}),
  ]);
  if (o.type === 'kubernetes.io/tls')
    for (const k of ['tls.crt', 'tls.key']) if (!keys.has(k)) c.required(`data[${k}]`);
  if (o.type === 'kubernetes.io/dockerconfigjson' && !keys.has('.dockerconfigjson'))
    c.required('data[.dockerconfigjson]');
}

function validateEvent(c: Causes, o: Obj): void {
  const io = o.involvedObject;
  if (!isObj(io)) c.required('involvedObject');
  else if (io.namespace && o.metadata?.namespace && io.namespace !== o.metadata.namespace)
    c.invalid('involvedObject.namespace', io.namespace, 'does not match event.namespace');
  if (o.type !== undefined && o.type !== '' && !['Normal', 'Warning'].includes(o.type))
    c.notSupported('type', o.type, ['Normal', 'Warning']);
  if (typeof o.reason === 'string' && o.reason.length > 128) c.tooLong('reason', 128);
}

// ---- apps -----------------------------------------------------------------------------------

function validateIntOrPercent(c: Causes, field: string, v: unknown): number | string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') {
    if (!isInt(v) || v < 0) c.invalid(field, v, 'must be greater than or equal to 0');
    return v;
  }
  if (typeof v === 'string') {
    const m = /^(\d+)%$/.exec(v);
    if (!m) {
      c.invalid(
        field,
        v,
        "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
      );
      return undefined;
    }
    return v;
  }
  c.invalid(field, v, 'must be an integer or percentage (e.g. 5 or 5%)');
  return undefined;
}

const isZero = (v: unknown) => v === 0 || v === '0%';

function validateWorkload(c: Causes, kind: string, spec: unknown): void {
  if (!isObj(spec)) {
    c.required('spec');
    return;
  }
  if (spec.replicas !== undefined && (!isInt(spec.replicas) || spec.replicas < 0))
    c.invalid('spec.replicas', spec.replicas, 'must be greater than or equal to 0');
  checkNonNegative(c, 'spec.minReadySeconds', spec.minReadySeconds);
  const sel = spec.selector;
  let selectorOk = false;
  if (!isObj(sel)) c.required('spec.selector');
  else {
    const causes = validateLabelSelector(sel, 'spec.selector');
    c.list.push(...causes);
    if (Object.keys(sel.matchLabels ?? {}).length === 0 && arr(sel.matchExpressions).length === 0)
      c.invalid(
        'spec.selector',
        sel,
        `empty selector is invalid for ${kind === 'Deployment' ? 'deployment' : kind}`,
      );
    else selectorOk = causes.length === 0;
  }
  const tpl = spec.template;
  const templateRequired = kind === 'Deployment' || (spec.replicas ?? 1) > 0;
  if (!isObj(tpl)) {
    if (templateRequired) c.required('spec.template');
    return;
  }
  const labels = tpl.metadata?.labels;
  checkLabels(c, 'spec.template.metadata.labels', labels);
  if (selectorOk) {
    const reqs = labelSelectorFromObject(sel);
    if (!matchesLabels(reqs, labels ?? {}))
      c.invalid('spec.template.metadata.labels', labels ?? {}, '`selector` does not match template `labels`');
  }
  validatePodSpec(c, 'spec.template.spec', tpl.spec);
  const rp = tpl.spec?.restartPolicy;
  if (rp !== undefined && rp !== 'Always') c.notSupported('spec.template.spec.restartPolicy', rp, ['Always']);
  if (tpl.spec?.activeDeadlineSeconds !== undefined)
    c.forbidden(
      'spec.template.spec.activeDeadlineSeconds',
      'activeDeadlineSeconds in ReplicaSet is not Supported',
    );
  if (kind !== 'Deployment') return;
  const st = spec.strategy;
  if (isObj(st)) {
    const types = ['Recreate', 'RollingUpdate'];
    const t = st.type ?? 'RollingUpdate';
    if (!types.includes(t)) c.notSupported('spec.strategy.type', t, types);
    if (t === 'Recreate' && st.rollingUpdate !== undefined && st.rollingUpdate !== null)
      c.forbidden('spec.strategy.rollingUpdate', "may not be specified when strategy `type` is 'Recreate'");
    if (t === 'RollingUpdate' && isObj(st.rollingUpdate)) {
      const mu = validateIntOrPercent(
        c,
        'spec.strategy.rollingUpdate.maxUnavailable',
        st.rollingUpdate.maxUnavailable,
      );
      const ms = validateIntOrPercent(c, 'spec.strategy.rollingUpdate.maxSurge', st.rollingUpdate.maxSurge);
      if (typeof mu === 'string' && Number(mu.slice(0, -1)) > 100)
        c.invalid('spec.strategy.rollingUpdate.maxUnavailable', mu, 'must not be greater than 100%');
      if (isZero(mu) && isZero(ms))
        c.invalid('spec.strategy.rollingUpdate.maxUnavailable', mu, 'may not be 0 when `maxSurge` is 0');
    }
  }
  checkNonNegative(c, 'spec.revisionHistoryLimit', spec.revisionHistoryLimit);
  if (spec.progressDeadlineSeconds !== undefined) {
    checkNonNegative(c, 'spec.progressDeadlineSeconds', spec.progressDeadlineSeconds);
    if (isInt(spec.progressDeadlineSeconds) && spec.progressDeadlineSeconds <= (spec.minReadySeconds ?? 0))
      c.invalid(
        'spec.progressDeadlineSeconds',
        spec.progressDeadlineSeconds,
        'must be greater than minReadySeconds',
      );
  }
}

function validateWorkloadStatus(c: Causes, st: unknown): void {
  if (!isObj(st)) return;
  for (const k of [
    'replicas',
    'updatedReplicas',
    'readyReplicas',
    'availableReplicas',
    'unavailableReplicas',
    'fullyLabeledReplicas',
    'observedGeneration',
  ])
    checkNonNegative(c, `status.${k}`, st[k]);
  if (isInt(st.readyReplicas) && isInt(st.replicas) && st.readyReplicas > st.replicas)
    c.invalid('status.readyReplicas', st.readyReplicas, 'cannot be greater than status.replicas');
  if (isInt(st.availableReplicas) && isInt(st.readyReplicas) && st.availableReplicas > st.readyReplicas)
    c.invalid('status.availableReplicas', st.availableReplicas, 'cannot be greater than readyReplicas');
}

// ---- networking ---------------------------------------------------------------------------

const PATH_TYPES = ['Exact', 'ImplementationSpecific', 'Prefix'];

function validateIngressHost(c: Causes, field: string, host: string): void {
  if (isValidIP(host)) {
    c.invalid(field, host, 'must be a DNS name, not an IP address');
    return;
  }
  if (host.startsWith('*.')) {
    const rest = host.slice(2);
    if (dns1123SubdomainErrors(rest).length)
      c.invalid(
        field,
        host,
        "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      );
    return;
  }
  if (host.includes('*')) {
    c.invalid(
      field,
      host,
      "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain",
    );
    return;
  }
  c.each(field, host, dns1123SubdomainErrors(host));
}

function validateIngressBackend(c: Causes, p: string, b: unknown): void {
  if (!isObj(b)) {
    c.required(p);
    return;
  }
  const hasSvc = isObj(b.service);
  const hasRes = isObj(b.resource);
  if (hasSvc && hasRes) {
    c.invalid(p, '', 'cannot set both resource and service backends');
    return;
  }
  if (!hasSvc && !hasRes) {
    c.invalid(p, '', 'resource or service backend is required');
    return;
  }
  if (hasRes) {
    if (!b.resource.kind) c.required(`${p}.resource.kind`);
    if (!b.resource.name) c.required(`${p}.resource.name`);
    return;
  }
  const s = b.service;
  if (!s.name) c.required(`${p}.service.name`);
  else c.each(`${p}.service.name`, s.name, dns1035LabelErrors(String(s.name)));
  const port = s.port;
  const hasName = isObj(port) && port.name !== undefined && port.name !== '';
  const hasNum = isObj(port) && port.number !== undefined && port.number !== 0;
  if (hasName && hasNum) c.invalid(`${p}.service.port`, port, 'cannot set both port name & port number');
  else if (hasName) c.each(`${p}.service.port.name`, port.name, ianaSvcNameErrors(String(port.name)));
  else if (hasNum) checkPortNumber(c, `${p}.service.port.number`, port.number);
  else c.invalid(`${p}.service.port`, port ?? {}, 'port name or number is required');
}

function validateIngress(c: Causes, spec: unknown): void {
  if (!isObj(spec)) {
    c.required('spec');
    return;
  }
  const rules = arr(spec.rules);
  if (spec.defaultBackend === undefined && rules.length === 0)
    c.invalid('spec.rules', rules, 'either `defaultBackend` or `rules` must be specified');
  if (spec.defaultBackend !== undefined && spec.defaultBackend !== null)
    validateIngressBackend(c, 'spec.defaultBackend', spec.defaultBackend);
  if (spec.ingressClassName)
    c.each(
      'spec.ingressClassName',
      spec.ingressClassName,
      dns1123SubdomainErrors(String(spec.ingressClassName)),
    );
  rules.forEach((r, i) => {
    const p = `spec.rules[${i}]`;
    if (r?.host) validateIngressHost(c, `${p}.host`, String(r.host));
    if (r?.http === undefined || r?.http === null) return;
    const paths = arr(r.http.paths);
    if (paths.length === 0) c.required(`${p}.http.paths`);
    paths.forEach((hp, j) => {
      const pp = `${p}.http.paths[${j}]`;
      const pt = hp?.pathType;
      if (!pt) c.required(`${pp}.pathType`, 'pathType must be specified');
      else if (!PATH_TYPES.includes(pt)) c.notSupported(`${pp}.pathType`, pt, PATH_TYPES);
      const path = hp?.path;
      if (path !== undefined && path !== '' && !String(path).startsWith('/'))
        c.invalid(`${pp}.path`, path, 'must be an absolute path');
      else if ((pt === 'Exact' || pt === 'Prefix') && path === undefined)
        c.invalid(`${pp}.path`, '', 'must be an absolute path');
      if ((pt === 'Exact' || pt === 'Prefix') && typeof path === 'string') {
        for (const bad of ['//', '/./', '/../', '%2f', '%2F'])
          if (path.includes(bad)) c.invalid(`${pp}.path`, path, `must not contain '${bad}'`);
        for (const bad of ['/..', '/.'])
          if (path.endsWith(bad)) c.invalid(`${pp}.path`, path, `cannot end with '${bad}'`);
      }
      validateIngressBackend(c, `${pp}.backend`, hp?.backend);
    });
  });
  arr(spec.tls).forEach((t, i) => {
    arr(t?.hosts).forEach((h, j) => {
      validateIngressHost(c, `spec.tls[${i}].hosts[${j}]`, String(h));
    });
    if (t?.secretName)
      c.each(`spec.tls[${i}].secretName`, t.secretName, dns1123SubdomainErrors(String(t.secretName)));
  });
}

function validateIngressStatus(c: Causes, st: unknown): void {
  validateServiceStatus(c, st);
}

function validateIngressClass(c: Causes, spec: unknown): void {
  if (!isObj(spec)) {
    c.required('spec');
    return;
  }
  const ctl = spec.controller;
  if (!ctl) c.required('spec.controller');
  else {
    if (String(ctl).length > 250) c.tooLong('spec.controller', 250);
    const [domain] = String(ctl).split('/');
    if (!String(ctl).includes('/') || dns1123SubdomainErrors(domain!).length)
      c.invalid('spec.controller', ctl, 'must be a domain-prefixed path (such as "acme.io/foo")');
  }
  const par = spec.parameters;
  if (isObj(par)) {
    if (!par.kind) c.required('spec.parameters.kind');
    if (!par.name) c.required('spec.parameters.name');
    if (par.scope !== undefined && !['Cluster', 'Namespace'].includes(par.scope))
      c.notSupported('spec.parameters.scope', par.scope, ['Cluster', 'Namespace']);
    if (par.scope === 'Namespace' && !par.namespace)
      c.required('spec.parameters.namespace', '`parameters.scope` is set to "Namespace"');
    if (par.scope !== 'Namespace' && par.namespace)
      c.forbidden('spec.parameters.namespace', '`parameters.scope` is set to "Cluster"');
  }
}

function validateNetworkPolicyPeer(c: Causes, p: string, peer: Obj): void {
  const n = ['podSelector', 'namespaceSelector', 'ipBlock'].filter(
    (k) => peer?.[k] !== undefined && peer?.[k] !== null,
  );
  if (n.length === 0) {
    c.required(p, 'must specify a peer');
    return;
  }
  if (isObj(peer.ipBlock) && n.length > 1) c.forbidden(p, 'may not specify both ipBlock and another peer');
  for (const k of ['podSelector', 'namespaceSelector'])
    if (isObj(peer[k])) c.list.push(...validateLabelSelector(peer[k], `${p}.${k}`));
  if (isObj(peer.ipBlock)) {
    const cidr = peer.ipBlock.cidr;
    if (!cidr) c.required(`${p}.ipBlock.cidr`);
    else checkCIDR(c, `${p}.ipBlock.cidr`, cidr);
    arr(peer.ipBlock.except).forEach((e, i) => {
      const f = `${p}.ipBlock.except[${i}]`;
      if (!isValidCIDR(e)) {
        checkCIDR(c, f, e);
        return;
      }
      if (isValidCIDR(cidr) && (!cidrContains(cidr, e) || e === cidr))
        c.invalid(f, e, 'must be a strict subset of `cidr`');
    });
  }
}

function validateNetworkPolicyPort(c: Causes, p: string, port: Obj): void {
  checkProtocol(c, `${p}.protocol`, port?.protocol);
  if (port?.port !== undefined && port?.port !== null) checkPortNumOrName(c, `${p}.port`, port.port);
  if (port?.endPort !== undefined && port?.endPort !== null) {
    if (typeof port.port !== 'number') c.required(`${p}.port`, 'must be specified when endPort is specified');
    else if (!validPort(port.endPort) || port.endPort < port.port)
      c.invalid(`${p}.endPort`, port.endPort, 'must be greater than or equal to `port`');
  }
}

function validateNetworkPolicy(c: Causes, spec: unknown): void {
  if (!isObj(spec)) {
    c.required('spec');
    return;
  }
  c.list.push(...validateLabelSelector(spec.podSelector, 'spec.podSelector'));
  arr(spec.ingress).forEach((r, i) => {
    arr(r?.ports).forEach((port, j) => {
      validateNetworkPolicyPort(c, `spec.ingress[${i}].ports[${j}]`, port);
    });
    arr(r?.from).forEach((peer, j) => {
      validateNetworkPolicyPeer(c, `spec.ingress[${i}].from[${j}]`, peer);
    });
  });
  arr(spec.egress).forEach((r, i) => {
    arr(r?.ports).forEach((port, j) => {
      validateNetworkPolicyPort(c, `spec.egress[${i}].ports[${j}]`, port);
    });
    arr(r?.to).forEach((peer, j) => {
      validateNetworkPolicyPeer(c, `spec.egress[${i}].to[${j}]`, peer);
    });
  });
  const types = arr(spec.policyTypes);
  if (types.length > 2) c.tooMany('spec.policyTypes', types.length, 2);
  types.forEach((t, i) => {
    if (!['Egress', 'Ingress'].includes(t))
      c.notSupported(`spec.policyTypes[${i}]`, t, ['Egress', 'Ingress']);
  });
}

// ---- entry points -------------------------------------------------------------------------

/**
 * Validates an object (already defaulted) of kind `res`. Returns every problem found, empty when
 * the object is valid. Unknown kinds get metadata validation only.
 */
export function validate(res: ResourceInfo, obj: KubeObject): StatusCause[] {
  const c = new Causes();
  if (!isObj(obj)) {
    c.invalid('', obj, 'must be an object');
    return c.list;
  }
  validateMeta(c, res, obj.metadata);
  const o = obj as Obj;
  switch (res.kind) {
    case 'Pod':
      validatePodSpec(c, 'spec', o.spec);
      validatePodStatus(c, o.status);
      break;
    case 'Service':
      validateService(c, o.spec);
      validateServiceStatus(c, o.status);
      break;
    case 'Endpoints':
      validateEndpoints(c, o);
      break;
    case 'EndpointSlice':
      validateEndpointSlice(c, o);
      break;
    case 'Node':
      validateNode(c, o);
      break;
    case 'Namespace': {
      const phases = ['Active', 'Terminating'];
      if (o.status?.phase !== undefined && !phases.includes(o.status.phase))
        c.notSupported('status.phase', o.status.phase, phases);
      arr(o.spec?.finalizers).forEach((f, i) => {
        c.each(`spec.finalizers[${i}]`, f, qualifiedNameErrors(String(f)));
      });
      break;
    }
    case 'ConfigMap':
      validateDataKeys(c, o, ['data', 'binaryData']);
      break;
    case 'Secret':
      validateSecret(c, o);
      break;
    case 'Event':
      validateEvent(c, o);
      break;
    case 'Deployment':
    case 'ReplicaSet':
      validateWorkload(c, res.kind, o.spec);
      validateWorkloadStatus(c, o.status);
      break;
    case 'Ingress':
      validateIngress(c, o.spec);
      validateIngressStatus(c, o.status);
      break;
    case 'IngressClass':
      validateIngressClass(c, o.spec);
      break;
    case 'NetworkPolicy':
      validateNetworkPolicy(c, o.spec);
      break;
  }
  return c.list;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/** Key-sorted copy, so that equality ignores key order. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (isObj(v))
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .filter((k) => v[k] !== undefined)
        .map((k) => [k, canonical(v[k])]),
    );
  return v;
}

function immutable(c: Causes, field: string, oldV: unknown, newV: unknown): void {
  if (!same(oldV, newV)) c.invalid(field, newV, 'field is immutable');
}

const POD_UPDATE_FORBIDDEN =
  'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)';

function validatePodUpdate(c: Causes, oldSpec: Obj, newSpec: Obj): void {
  // Compare the specs with the mutable fields masked out, as upstream does.
  const mask = (s: Obj): Obj => {
    const m = structuredClone(s ?? {});
    for (const k of ['containers', 'initContainers'])
      for (const ct of arr(m[k])) if (isObj(ct)) delete ct.image;
    delete m.activeDeadlineSeconds;
    delete m.tolerations;
    delete m.terminationGracePeriodSeconds;
    return m;
  };
  if (!same(mask(oldSpec), mask(newSpec))) c.forbidden('spec', POD_UPDATE_FORBIDDEN);
  for (const k of ['containers', 'initContainers'])
    arr(newSpec?.[k]).forEach((ct, i) => {
      if (typeof ct?.image !== 'string' || ct.image.trim() === '') c.required(`spec.${k}[${i}].image`);
    });
  const oldAds = oldSpec?.activeDeadlineSeconds;
  const newAds = newSpec?.activeDeadlineSeconds;
  if (oldAds !== undefined && newAds === undefined)
    c.invalid('spec.activeDeadlineSeconds', null, 'must not update from a positive integer to nil value');
  else if (oldAds !== undefined && isInt(newAds) && newAds > oldAds)
    c.invalid('spec.activeDeadlineSeconds', newAds, 'must be less than or equal to previous value');
  const newTols = arr(newSpec?.tolerations);
  arr(oldSpec?.tolerations).forEach((t) => {
    const key = (x: Obj) => ({ ...x, tolerationSeconds: undefined });
    if (!newTols.some((n) => same(key(n), key(t))))
      c.forbidden('spec.tolerations', 'existing toleration can not be modified except its tolerationSeconds');
  });
  const oldTgp = oldSpec?.terminationGracePeriodSeconds;
  const newTgp = newSpec?.terminationGracePeriodSeconds;
  if (!same(oldTgp, newTgp) && !(isInt(oldTgp) && oldTgp < 0 && newTgp === 1))
    c.forbidden('spec', POD_UPDATE_FORBIDDEN);
}

function validateServiceUpdate(c: Causes, oldSpec: Obj, newSpec: Obj): void {
  const oldType = oldSpec?.type ?? 'ClusterIP';
  const newType = newSpec?.type ?? 'ClusterIP';
  // ClusterIPs are fixed once allocated, except when the service becomes or stops being ExternalName.
  if (oldType === 'ExternalName' || newType === 'ExternalName') return;
  const oldIPs = arr(oldSpec?.clusterIPs).length
    ? arr(oldSpec.clusterIPs)
    : oldSpec?.clusterIP
      ? [oldSpec.clusterIP]
      : [];
  const newIPs = arr(newSpec?.clusterIPs).length
    ? arr(newSpec.clusterIPs)
    : newSpec?.clusterIP
      ? [newSpec.clusterIP]
      : [];
  if (oldIPs.length && oldIPs[0] !== newIPs[0])
    c.invalid('spec.clusterIPs[0]', newIPs, 'may not change once set');
  if (oldSpec?.clusterIP && newSpec?.clusterIP !== oldSpec.clusterIP)
    c.invalid('spec.clusterIP', newSpec?.clusterIP ?? '', 'field is immutable');
  // A second family may be added or removed (dual-stack upgrades); the primary family may not change.
  const oldFam = arr(oldSpec?.ipFamilies)[0];
  const newFam = arr(newSpec?.ipFamilies)[0];
  if (oldFam && newFam && oldFam !== newFam)
    c.invalid('spec.ipFamilies[0]', newFam, 'may not change once set');
}

/** Immutable ConfigMaps/Secrets: neither the data nor the flag may change. */
function validateImmutableData(c: Causes, o: Obj, n: Obj): void {
  if (o.immutable !== true) return;
  if (n.immutable !== true) c.forbidden('immutable', 'field is immutable when `immutable` is set');
  for (const k of ['data', 'binaryData'])
    if (!same(o[k] ?? {}, n[k] ?? {})) c.forbidden(k, 'field is immutable when `immutable` is set');
}

/**
 * Validates an update: everything `validate` checks on the new object, plus the fields that may
 * not change (metadata.name/namespace/uid/creationTimestamp, clusterIPs, workload selectors,
 * EndpointSlice addressType, most of a Pod's spec, ...).
 */
export function validateUpdate(res: ResourceInfo, oldObj: KubeObject, newObj: KubeObject): StatusCause[] {
  const causes = validate(res, newObj);
  const c = new Causes();
  const om = (oldObj?.metadata ?? {}) as Obj;
  const nm = (newObj?.metadata ?? {}) as Obj;
  immutable(c, 'metadata.name', om.name, nm.name);
  immutable(c, 'metadata.namespace', om.namespace, nm.namespace);
  if (om.uid && nm.uid) immutable(c, 'metadata.uid', om.uid, nm.uid);
  if (om.creationTimestamp && nm.creationTimestamp)
    immutable(c, 'metadata.creationTimestamp', om.creationTimestamp, nm.creationTimestamp);
  if (om.deletionTimestamp && nm.deletionTimestamp !== om.deletionTimestamp)
    immutable(c, 'metadata.deletionTimestamp', om.deletionTimestamp, nm.deletionTimestamp);
  if (om.deletionTimestamp) {
    // An object being deleted may drop finalizers but not gain new ones.
    const oldF = new Set(arr(om.finalizers));
    for (const f of arr(nm.finalizers))
      if (!oldF.has(f))
        c.forbidden(
          'metadata.finalizers',
          `no new finalizers can be added if the object is being deleted, found new finalizers ["${f}"]`,
        );
  }
  const o = oldObj as Obj;
  const n = newObj as Obj;
  switch (res.kind) {
    case 'Pod':
      validatePodUpdate(c, o.spec, n.spec);
      break;
    case 'Service':
      validateServiceUpdate(c, o.spec, n.spec);
      break;
    case 'Deployment':
    case 'ReplicaSet':
      immutable(c, 'spec.selector', o.spec?.selector, n.spec?.selector);
      break;
    case 'EndpointSlice':
      immutable(c, 'addressType', o.addressType, n.addressType);
      break;
    case 'Node': {
      const oc = o.spec?.podCIDR;
      if (oc && n.spec?.podCIDR !== oc)
        c.forbidden('spec.podCIDR', 'node updates may not change podCIDR except from "" to valid');
      const ocs = arr(o.spec?.podCIDRs);
      if (ocs.length && !same(ocs, arr(n.spec?.podCIDRs)))
        c.forbidden('spec.podCIDRs', 'node updates may not change podCIDR except from "" to valid');
      break;
    }
    case 'Secret':
      immutable(c, 'type', o.type ?? 'Opaque', n.type ?? 'Opaque');
      validateImmutableData(c, o, n);
      break;
    case 'ConfigMap':
      validateImmutableData(c, o, n);
      break;
    case 'IngressClass':
      immutable(c, 'spec.controller', o.spec?.controller, n.spec?.controller);
      break;
  }
  return [...causes, ...c.list];
}

/**
 * Validates (`validateUpdate` when `old` is given) and throws a 422 Invalid Status carrying the
 * causes when anything is wrong.
 */
export function validateOrThrow(res: ResourceInfo, obj: KubeObject, old?: KubeObject): void {
  const causes = old ? validateUpdate(res, old, obj) : validate(res, obj);
  if (causes.length)
    throw errors.invalid(
      res.kind,
      obj?.metadata?.name ?? obj?.metadata?.generateName ?? '',
      causes,
      res.group,
    );
}
