/**
 * Service address allocation, as the real API server's registry does it at create time: ClusterIPs
 * from the service CIDR (network address and broadcast never handed out; the first address
 * reserved for the `kubernetes` Service unless asked for explicitly), NodePorts from 30000–32767
 * (also used for healthCheckNodePort), and LoadBalancer IPs from a pool on the node LAN. The
 * allocators are pure in-memory bitmaps keyed by owner (`namespace/name`), so re-marking what a
 * Service already holds is a no-op and a restart rebuilds them from the stored Services.
 * `allocateServiceAddresses` is the one function the API server's create path should call.
 */
import { type ApiError, errors } from '../api/errors.ts';
import type { Service } from '../api/kinds/core.ts';
import type { StatusCause } from '../api/types.ts';
import { type CIDRRange, ipToNum, numToIP, parseCIDR } from './ipmath.ts';

/** Default service CIDR. */
export const DEFAULT_SERVICE_CIDR = '10.96.0.0/12';
/** Default NodePort range. */
export const DEFAULT_NODE_PORT_RANGE = { min: 30000, max: 32767 };

function invalid(field: string, value: unknown, message: string, owner?: string): ApiError {
  const cause: StatusCause = {
    reason: 'FieldValueInvalid',
    field,
    message: `Invalid value: ${JSON.stringify(value)}: ${message}`,
  };
  return errors.invalid('Service', owner?.split('/').pop() ?? '', [cause]);
}

/** A generic owner-keyed allocator over the integers [min, max]. */
class Bitmap {
  private used = new Map<bigint, string>();
  private cursor: bigint;
  constructor(
    readonly min: bigint,
    readonly max: bigint,
  ) {
    this.cursor = min;
  }
  get size(): bigint {
    return this.max - this.min + 1n;
  }
  get count(): number {
    return this.used.size;
  }
  ownerOf(v: bigint): string | undefined {
    return this.used.get(v);
  }
  take(v: bigint, owner: string): 'ok' | 'taken' | 'range' {
    if (v < this.min || v > this.max) return 'range';
    const cur = this.used.get(v);
    if (cur !== undefined && cur !== owner) return 'taken';
    this.used.set(v, owner);
    return 'ok';
  }
  /** Next free value after the last one handed out (wrapping), or undefined when full. */
  next(owner: string, skip: (v: bigint) => boolean = () => false): bigint | undefined {
    const size = this.size;
    if (BigInt(this.used.size) >= size) return undefined;
    let v = this.cursor;
    // Bounded scan: a sparse map in a big range finds a hole quickly.
    for (let i = 0n; i < size; i++) {
      if (!this.used.has(v) && !skip(v)) {
        this.used.set(v, owner);
        this.cursor = v === this.max ? this.min : v + 1n;
        return v;
      }
      v = v === this.max ? this.min : v + 1n;
    }
    return undefined;
  }
  release(v: bigint, owner?: string): void {
    if (owner === undefined || this.used.get(v) === owner) this.used.delete(v);
  }
  releaseOwner(owner: string): bigint[] {
    const out: bigint[] = [];
    for (const [v, o] of this.used) if (o === owner) out.push(v);
    for (const v of out) this.used.delete(v);
    return out;
  }
  heldBy(owner: string): bigint[] {
    return [...this.used].filter(([, o]) => o === owner).map(([v]) => v);
  }
}

/** ClusterIPs from a service CIDR. */
export class ClusterIPAllocator {
  readonly range: CIDRRange;
  private readonly bm: Bitmap;
  /** The address reserved for the `kubernetes` Service (network + 1). */
  readonly reservedIP: string;

  constructor(cidr = DEFAULT_SERVICE_CIDR) {
    this.range = parseCIDR(cidr);
    if (this.range.last - this.range.base < 3n)
      throw new Error(`service CIDR ${cidr} is too small: it needs at least 4 addresses`);
    // Network and broadcast (IPv4) are never assigned; IPv6 skips only the subnet-router anycast.
    const last = this.range.bits === 32 ? this.range.last - 1n : this.range.last;
    this.bm = new Bitmap(this.range.base + 1n, last);
    this.reservedIP = numToIP(this.range.base + 1n, this.range.bits);
  }

  /** Addresses handed out. */
  get used(): number {
    return this.bm.count;
  }

  /**
   * Takes `ip` for `owner` (no-op if it already holds it). Throws a 422 Invalid naming
   * `field` when the address is outside the range or held by another Service.
   */
  allocate(ip: string, owner: string, field = 'spec.clusterIP'): string {
    let n: ReturnType<typeof ipToNum>;
    try {
      n = ipToNum(ip);
    } catch {
      throw invalid(field, ip, 'must be a valid IP address', owner);
    }
    const r = n.bits === this.range.bits ? this.bm.take(n.value, owner) : 'range';
    if (r === 'range')
      throw invalid(
        field,
        ip,
        `provided IP is not in the valid range. The range of valid IPs is ${this.range.cidr}`,
        owner,
      );
    if (r === 'taken') throw invalid(field, ip, 'provided IP is already allocated', owner);
    return ip;
  }

  /** The next free address for `owner` (never the reserved one). Throws 500 when full. */
  allocateNext(owner: string): string {
    const reserved = this.range.base + 1n;
    const v = this.bm.next(owner, (x) => x === reserved);
    if (v === undefined) throw errors.internal('failed to allocate a serviceIP: range is full');
    return numToIP(v, this.range.bits);
  }

  /** Frees `ip` (only if `owner` holds it, when given). */
  release(ip: string, owner?: string): void {
    try {
      this.bm.release(ipToNum(ip).value, owner);
    } catch {
      // Not an address: nothing held.
    }
  }

  /** Frees everything `owner` holds. */
  releaseOwner(owner: string): string[] {
    return this.bm.releaseOwner(owner).map((v) => numToIP(v, this.range.bits));
  }

  /** Who holds `ip`. */
  ownerOf(ip: string): string | undefined {
    try {
      return this.bm.ownerOf(ipToNum(ip).value);
    } catch {
      return undefined;
    }
  }

  /** Is `ip` inside this allocator's range? */
  contains(ip: string): boolean {
    try {
      const n = ipToNum(ip);
      return n.bits === this.range.bits && n.value >= this.range.base && n.value <= this.range.last;
    } catch {
      return false;
    }
  }
}

/** NodePorts (and healthCheckNodePorts) from a port range. */
export class NodePortAllocator {
  private readonly bm: Bitmap;
  constructor(readonly range = DEFAULT_NODE_PORT_RANGE) {
    this.bm = new Bitmap(BigInt(range.min), BigInt(range.max));
  }

  get used(): number {
    return this.bm.count;
  }

  /** Takes `port` for `owner`; 422 Invalid naming `field` when out of range or taken. */
  allocate(port: number, owner: string, field = 'spec.ports[0].nodePort'): number {
    const r = Number.isInteger(port) ? this.bm.take(BigInt(port), owner) : 'range';
    if (r === 'range')
      throw invalid(
        field,
        port,
        `provided port is not in the valid range. The range of valid ports is ${this.range.min}-${this.range.max}`,
        owner,
      );
    if (r === 'taken') throw invalid(field, port, 'provided port is already allocated', owner);
    return port;
  }

  /** The next free port for `owner`. Throws 500 when full. */
  allocateNext(owner: string): number {
    const v = this.bm.next(owner);
    if (v === undefined) throw errors.internal('failed to allocate a nodePort: range is full');
    return Number(v);
  }

  release(port: number, owner?: string): void {
    if (Number.isInteger(port)) this.bm.release(BigInt(port), owner);
  }

  releaseOwner(owner: string): number[] {
    return this.bm.releaseOwner(owner).map(Number);
  }

  /** Ports `owner` holds. */
  heldBy(owner: string): number[] {
    return this.bm.heldBy(owner).map(Number);
  }

  ownerOf(port: number): string | undefined {
    return this.bm.ownerOf(BigInt(port));
  }
}

/**
 * LoadBalancer IPs from a pool on the node LAN: `172.31.0.200-172.31.0.250`, a CIDR
 * (`172.31.0.192/27`, every address of it), or a comma-separated mix.
 */
export class LoadBalancerIPPool {
  private readonly ranges: Array<{ bm: Bitmap; bits: 32 | 128 }> = [];

  constructor(readonly spec: string) {
    for (const part of spec
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      if (part.includes('/')) {
        const r = parseCIDR(part);
        this.ranges.push({ bm: new Bitmap(r.base, r.last), bits: r.bits });
      } else {
        const [a, b = a] = part.split('-').map((s) => s.trim());
        let lo: ReturnType<typeof ipToNum>;
        let hi: ReturnType<typeof ipToNum>;
        try {
          lo = ipToNum(a!);
          hi = ipToNum(b!);
        } catch {
          throw new Error(
            `lbPool: invalid range ${JSON.stringify(part)}: want FIRST-LAST, a CIDR, or one IP`,
          );
        }
        if (lo.bits !== hi.bits || hi.value < lo.value)
          throw new Error(`lbPool: invalid range ${JSON.stringify(part)}: LAST must not be below FIRST`);
        this.ranges.push({ bm: new Bitmap(lo.value, hi.value), bits: lo.bits });
      }
    }
    if (this.ranges.length === 0) throw new Error('lbPool: empty pool');
  }

  /** Takes `ip` for `owner`; 422 Invalid on `spec.loadBalancerIP` when outside the pool or taken. */
  allocate(ip: string, owner: string): string {
    let n: ReturnType<typeof ipToNum>;
    try {
      n = ipToNum(ip);
    } catch {
      throw invalid('spec.loadBalancerIP', ip, 'must be a valid IP address', owner);
    }
    for (const r of this.ranges) {
      if (r.bits !== n.bits) continue;
      const t = r.bm.take(n.value, owner);
      if (t === 'ok') return ip;
      if (t === 'taken') throw invalid('spec.loadBalancerIP', ip, 'provided IP is already allocated', owner);
    }
    throw invalid(
      'spec.loadBalancerIP',
      ip,
      `provided IP is not in the load-balancer pool ${this.spec}`,
      owner,
    );
  }

  /** The next free pool address, or undefined when the pool is exhausted. */
  allocateNext(owner: string): string | undefined {
    for (const r of this.ranges) {
      const v = r.bm.next(owner);
      if (v !== undefined) return numToIP(v, r.bits);
    }
    return undefined;
  }

  release(ip: string, owner?: string): void {
    try {
      const n = ipToNum(ip);
      for (const r of this.ranges) if (r.bits === n.bits) r.bm.release(n.value, owner);
    } catch {
      // not an address
    }
  }

  releaseOwner(owner: string): void {
    for (const r of this.ranges) r.bm.releaseOwner(owner);
  }

  /** Is `ip` part of the pool? */
  contains(ip: string): boolean {
    try {
      const n = ipToNum(ip);
      return this.ranges.some((r) => r.bits === n.bits && n.value >= r.bm.min && n.value <= r.bm.max);
    } catch {
      return false;
    }
  }
}

/** The allocators a Service create needs. */
export interface ServiceAllocators {
  clusterIPs: ClusterIPAllocator;
  nodePorts: NodePortAllocator;
}

/** Does a Service of this shape need node ports? */
export function needsNodePorts(svc: Service): boolean {
  const t = svc.spec?.type;
  return t === 'NodePort' || (t === 'LoadBalancer' && svc.spec?.allocateLoadBalancerNodePorts !== false);
}

/** Does it need a healthCheckNodePort (LoadBalancer with externalTrafficPolicy Local)? */
export function needsHealthCheckNodePort(svc: Service): boolean {
  return svc.spec?.type === 'LoadBalancer' && svc.spec.externalTrafficPolicy === 'Local';
}

/**
 * Fills in what a new (or repaired) Service lacks — clusterIP/clusterIPs (unless headless or
 * ExternalName), nodePorts for NodePort/LoadBalancer, healthCheckNodePort for Local
 * LoadBalancers — and takes every address/port it carries, explicit ones included (a duplicate is
 * a 422 on the field). All-or-nothing: on error, what this call took is released. Returns a new
 * object and whether anything was filled in. The API server's create path calls this with the
 * `namespace/name` as owner; the repair controller calls it for Services that lack addresses.
 */
export function allocateServiceAddresses(
  svc: Service,
  allocators: ServiceAllocators,
  owner = `${svc.metadata.namespace ?? 'default'}/${svc.metadata.name ?? ''}`,
): { service: Service; changed: boolean } {
  const out: Service = structuredClone(svc);
  out.spec = out.spec ?? {};
  const spec = out.spec;
  let changed = false;
  const tookIPs: string[] = [];
  const tookPorts: number[] = [];
  try {
    if (spec.type !== 'ExternalName') {
      const ip = spec.clusterIP || spec.clusterIPs?.[0];
      if (ip === 'None') {
        // Headless: no address.
      } else if (ip) {
        const had = allocators.clusterIPs.ownerOf(ip) === owner;
        allocators.clusterIPs.allocate(
          ip,
          owner,
          spec.clusterIPs?.length ? 'spec.clusterIPs[0]' : 'spec.clusterIP',
        );
        if (!had) tookIPs.push(ip);
        if (!spec.clusterIP || !spec.clusterIPs?.length) {
          spec.clusterIP = ip;
          spec.clusterIPs = [ip];
          changed = true;
        }
      } else {
        const got = allocators.clusterIPs.allocateNext(owner);
        tookIPs.push(got);
        spec.clusterIP = got;
        spec.clusterIPs = [got];
        spec.ipFamilies = [allocators.clusterIPs.range.bits === 128 ? 'IPv6' : 'IPv4'];
        spec.ipFamilyPolicy ??= 'SingleStack';
        changed = true;
      }
    }
    if (needsNodePorts(out)) {
      (spec.ports ?? []).forEach((p, i) => {
        if (p.nodePort) {
          const had = allocators.nodePorts.ownerOf(p.nodePort) === owner;
          allocators.nodePorts.allocate(p.nodePort, owner, `spec.ports[${i}].nodePort`);
          if (!had) tookPorts.push(p.nodePort);
        } else {
          // One service may use the same node port for TCP and UDP of the same port number.
          const twin = (spec.ports ?? []).find(
            (q) => q !== p && q.nodePort && q.port === p.port && q.protocol !== p.protocol,
          );
          p.nodePort = twin?.nodePort ?? allocators.nodePorts.allocateNext(owner);
          if (!twin) tookPorts.push(p.nodePort);
          changed = true;
        }
      });
    }
    if (needsHealthCheckNodePort(out)) {
      if (spec.healthCheckNodePort) {
        const had = allocators.nodePorts.ownerOf(spec.healthCheckNodePort) === owner;
        allocators.nodePorts.allocate(spec.healthCheckNodePort, owner, 'spec.healthCheckNodePort');
        if (!had) tookPorts.push(spec.healthCheckNodePort);
      } else {
        spec.healthCheckNodePort = allocators.nodePorts.allocateNext(owner);
        tookPorts.push(spec.healthCheckNodePort);
        changed = true;
      }
    }
  } catch (e) {
    for (const ip of tookIPs) allocators.clusterIPs.release(ip, owner);
    for (const p of tookPorts) allocators.nodePorts.release(p, owner);
    throw e;
  }
  return { service: out, changed };
}

/** Releases everything `owner` holds (the Service was deleted). */
export function releaseServiceAddresses(owner: string, allocators: ServiceAllocators): void {
  allocators.clusterIPs.releaseOwner(owner);
  allocators.nodePorts.releaseOwner(owner);
}
