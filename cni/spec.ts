/**
 * The CNI specification (1.1) as types: network configuration, Result, error codes, and the
 * conversion of Results between the versions we speak (0.4.0, 1.0.0, 1.1.0).
 *
 * Inside podnet every Result has the 1.1 shape; `convertResult` writes it in the version the caller
 * asked for (the config's cniVersion) and `parseResult` reads any supported version back, so that a
 * prevResult from a 0.4.0 chain and one from a 1.1.0 chain look the same to the plugins.
 */

/** The versions our plugins accept in a config, oldest first. */
export const SUPPORTED_VERSIONS = ['0.4.0', '1.0.0', '1.1.0'] as const;
/** The newest version we speak. */
export const LATEST_VERSION = '1.1.0';

/** Well-known error codes of the spec (section "Error"). 100+ are plugin-specific. */
export const CniCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  ContainerUnknown: 3,
  InvalidEnv: 4,
  IoFailure: 5,
  DecodingFailure: 6,
  InvalidConfig: 7,
  TryAgainLater: 11,
  PluginNotAvailable: 50,
  PluginNotAvailableDisruptive: 51,
  /** podnet: CHECK found the container's network differing from prevResult. */
  CheckMismatch: 100,
  /** podnet: the address range has no free address. */
  RangeExhausted: 101,
  /** podnet: the kernel refused a change. */
  KernelFailure: 102,
  /** An error without a code (a bug or an unexpected failure). */
  Internal: 999,
} as const;

/** A CNI error: printed on stdout as the spec's error JSON; the plugin exits non-zero. */
export class CniError extends Error {
  constructor(
    readonly code: number,
    msg: string,
    readonly details?: string,
  ) {
    super(msg);
    this.name = 'CniError';
  }
  /** The spec's error object. */
  toJSON(cniVersion: string): CniErrorJson {
    return {
      cniVersion,
      code: this.code,
      msg: this.message,
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

/** The spec's error object. */
export interface CniErrorJson {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/** Maps anything thrown to a CniError, once (unknown errors get code 999). */
export function toCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  if (e instanceof Error) return new CniError(CniCode.Internal, e.message);
  return new CniError(CniCode.Internal, String(e));
}

/** `containerPort`/`hostPort` mapping passed as runtimeConfig.portMappings. */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol?: string;
  hostIP?: string;
}

/** The common fields of a plugin's network configuration. */
export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  args?: Record<string, unknown>;
  ipMasq?: boolean;
  ipam?: { type: string; [k: string]: unknown };
  dns?: CniDns;
  capabilities?: Record<string, boolean>;
  runtimeConfig?: { portMappings?: PortMapping[]; [k: string]: unknown };
  prevResult?: unknown;
  /** GC only: the attachments that must be kept. */
  'cni.dev/valid-attachments'?: Array<{ containerID: string; ifname: string }>;
  [k: string]: unknown;
}

/** An interface in a Result. */
export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

/** An address in a Result (`interface` indexes `interfaces`). */
export interface CniIpConfig {
  address: string;
  gateway?: string;
  interface?: number;
}

/** A route in a Result or an IPAM config. */
export interface CniRoute {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

/** DNS settings. */
export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

/** A Result in podnet's internal (1.1) shape. */
export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: CniRoute[];
  dns?: CniDns;
}

/** Compares two x.y.z versions. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** Whether a config version is one we accept. */
export function isSupportedVersion(v: unknown): v is string {
  return typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

function prune<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}

/** Writes an internal Result in version `version` (0.4.0 adds ips[].version; pre-1.1 drops 1.1 fields). */
export function convertResult(r: CniResult, version: string): Record<string, unknown> {
  const v11 = compareVersions(version, '1.1.0') >= 0;
  const v04 = compareVersions(version, '1.0.0') < 0;
  const out: Record<string, unknown> = { cniVersion: version };
  if (r.interfaces)
    out.interfaces = r.interfaces.map((i) =>
      prune({
        name: i.name,
        mac: i.mac,
        mtu: v11 ? i.mtu : undefined,
        sandbox: i.sandbox,
        socketPath: v11 ? i.socketPath : undefined,
        pciID: v11 ? i.pciID : undefined,
      }),
    );
  if (r.ips)
    out.ips = r.ips.map((ip) =>
      prune({
        ...(v04 ? { version: ip.address.includes(':') ? '6' : '4' } : {}),
        interface: ip.interface,
        address: ip.address,
        gateway: ip.gateway,
      }),
    );
  if (r.routes)
    out.routes = r.routes.map((rt) =>
      prune(
        v11
          ? {
              dst: rt.dst,
              gw: rt.gw,
              mtu: rt.mtu,
              advmss: rt.advmss,
              priority: rt.priority,
              table: rt.table,
              scope: rt.scope,
            }
          : { dst: rt.dst, gw: rt.gw },
      ),
    );
  if (r.dns) out.dns = r.dns;
  else if (v04 || r.interfaces) out.dns = {};
  return out;
}

/** Reads a Result of any supported version (a prevResult or an IPAM plugin's output). */
export function parseResult(raw: unknown, what = 'prevResult'): CniResult {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new CniError(CniCode.DecodingFailure, `${what}: not a JSON object`);
  const o = raw as Record<string, any>;
  const version = typeof o.cniVersion === 'string' ? o.cniVersion : '';
  if (version && compareVersions(version, '0.3.0') < 0)
    throw new CniError(CniCode.IncompatibleVersion, `${what}: unsupported result version "${version}"`);
  const arr = (k: string) => {
    if (o[k] === undefined || o[k] === null) return undefined;
    if (!Array.isArray(o[k])) throw new CniError(CniCode.DecodingFailure, `${what}.${k}: not an array`);
    return o[k] as any[];
  };
  const r: CniResult = { cniVersion: version || LATEST_VERSION };
  const ifs = arr('interfaces');
  if (ifs)
    r.interfaces = ifs.map((i) =>
      prune({
        name: i.name,
        mac: i.mac,
        mtu: i.mtu,
        sandbox: i.sandbox,
        socketPath: i.socketPath,
        pciID: i.pciID,
      }),
    );
  const ips = arr('ips');
  if (ips)
    r.ips = ips.map((i, n) => {
      if (typeof i?.address !== 'string')
        throw new CniError(CniCode.DecodingFailure, `${what}.ips[${n}].address: missing`);
      return prune({ address: i.address, gateway: i.gateway, interface: i.interface });
    });
  const routes = arr('routes');
  if (routes)
    r.routes = routes.map((rt, n) => {
      if (typeof rt?.dst !== 'string')
        throw new CniError(CniCode.DecodingFailure, `${what}.routes[${n}].dst: missing`);
      return prune({
        dst: rt.dst,
        gw: rt.gw,
        mtu: rt.mtu,
        advmss: rt.advmss,
        priority: rt.priority,
        table: rt.table,
        scope: rt.scope,
      });
    });
  if (o.dns && typeof o.dns === 'object') r.dns = o.dns as CniDns;
  return r;
}
