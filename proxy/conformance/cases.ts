/**
 * The packet-flow case table (CONVENTIONS #4): for the service table in testing/fixtures.ts, what
 * happens to the first packet of a connection — which endpoints it may reach, whether it is
 * source-NATed, or whether it is rejected/dropped. Every backend must produce exactly this.
 */

import { EXTERNAL_CLIENT, LOCAL_POD, NODE_IP, REMOTE_POD } from '../testing/fixtures.ts';
import type { Packet } from '../trace/types.ts';

/** One expected flow. */
export interface FlowCase {
  name: string;
  packet: Packet;
  /** Verdict on every path. */
  verdict: 'ACCEPT' | 'DROP' | 'REJECT';
  /** Every endpoint the packet may be DNATed to (sorted); [] for no DNAT. */
  endpoints: string[];
  masquerade: boolean;
}

const tcp = (src: string, dst: string, dport: number): Packet => ({ src, dst, proto: 'tcp', dport });

/** The shared table. */
export const FLOW_CASES: FlowCase[] = [
  {
    name: 'pod to ClusterIP reaches every endpoint without SNAT',
    packet: tcp(LOCAL_POD, '10.96.0.10', 80),
    verdict: 'ACCEPT',
    endpoints: ['10.244.1.5:8080', '10.244.2.5:8080'],
    masquerade: false,
  },
  {
    name: 'remote pod routed through this node is not masqueraded',
    packet: tcp(REMOTE_POD, '10.96.0.10', 80),
    verdict: 'ACCEPT',
    endpoints: ['10.244.1.5:8080', '10.244.2.5:8080'],
    masquerade: false,
  },
  {
    name: 'off-cluster source to ClusterIP is masqueraded',
    packet: tcp(EXTERNAL_CLIENT, '10.96.0.10', 80),
    verdict: 'ACCEPT',
    endpoints: ['10.244.1.5:8080', '10.244.2.5:8080'],
    masquerade: true,
  },
  {
    name: 'ClusterIP on a port the service does not have is left alone',
    packet: tcp(LOCAL_POD, '10.96.0.10', 81),
    verdict: 'ACCEPT',
    endpoints: [],
    masquerade: false,
  },
  {
    name: 'service without endpoints rejects',
    packet: tcp(LOCAL_POD, '10.96.0.11', 80),
    verdict: 'REJECT',
    endpoints: [],
    masquerade: false,
  },
  {
    name: 'NodePort (Cluster policy) from outside is masqueraded to any endpoint',
    packet: tcp(EXTERNAL_CLIENT, NODE_IP, 30080),
    verdict: 'ACCEPT',
    endpoints: ['10.244.1.6:8080', '10.244.2.6:8080'],
    masquerade: true,
  },
  {
    name: 'NodePort from the node itself is masqueraded',
    packet: tcp(NODE_IP, NODE_IP, 30080),
    verdict: 'ACCEPT',
    endpoints: ['10.244.1.6:8080', '10.244.2.6:8080'],
    masquerade: true,
  },
  {
    name: 'NodePort (Local policy) from outside keeps the source and stays on this node',
    packet: tcp(EXTERNAL_CLIENT, NODE_IP, 30081),
    verdict: 'ACCEPT',
    endpoints: ['10.244.1.7:8080'],
    masquerade: false,
  },
  {
    name: 'NodePort (Local policy) from a local pod is short-circuited to all endpoints',
    packet: tcp(LOCAL_POD, NODE_IP, 30081),
    verdict: 'ACCEPT',
    endpoints: ['10.244.1.7:8080', '10.244.2.7:8080'],
    masquerade: false,
  },
  {
    name: 'NodePort (Local policy) without local endpoints drops outside traffic',
    packet: tcp(EXTERNAL_CLIENT, NODE_IP, 30082),
    verdict: 'DROP',
    endpoints: [],
    masquerade: false,
  },
  {
    name: 'ClusterIP of a Local-external-policy service still uses all endpoints',
    packet: tcp(LOCAL_POD, '10.96.0.14', 80),
    verdict: 'ACCEPT',
    endpoints: ['10.244.2.8:8080'],
    masquerade: false,
  },
  {
    name: 'LoadBalancer VIP from outside is masqueraded to any of three endpoints',
    packet: tcp(EXTERNAL_CLIENT, '198.51.100.10', 80),
    verdict: 'ACCEPT',
    endpoints: ['10.244.1.9:8080', '10.244.2.10:8080', '10.244.2.9:8080'],
    masquerade: true,
  },
  {
    name: 'LoadBalancer service NodePort works too',
    packet: tcp(EXTERNAL_CLIENT, NODE_IP, 30083),
    verdict: 'ACCEPT',
    endpoints: ['10.244.1.9:8080', '10.244.2.10:8080', '10.244.2.9:8080'],
    masquerade: true,
  },
  {
    name: 'externalIP from outside is masqueraded',
    packet: tcp(EXTERNAL_CLIENT, '192.0.2.50', 80),
    verdict: 'ACCEPT',
    endpoints: ['10.244.2.11:8080'],
    masquerade: true,
  },
  {
    name: 'internalTrafficPolicy Local uses only this node’s endpoints',
    packet: tcp(LOCAL_POD, '10.96.0.18', 80),
    verdict: 'ACCEPT',
    endpoints: ['10.244.1.13:8080'],
    masquerade: false,
  },
  {
    name: 'internalTrafficPolicy Local without local endpoints drops',
    packet: tcp(LOCAL_POD, '10.96.0.19', 80),
    verdict: 'DROP',
    endpoints: [],
    masquerade: false,
  },
  {
    name: 'only terminating-but-serving endpoints are used when none is ready',
    packet: tcp(LOCAL_POD, '10.96.0.20', 80),
    verdict: 'ACCEPT',
    endpoints: ['10.244.1.15:8080'],
    masquerade: false,
  },
  {
    name: 'UDP service resolves the named port from the slice',
    packet: { src: LOCAL_POD, dst: '10.96.0.21', proto: 'udp', dport: 53 },
    verdict: 'ACCEPT',
    endpoints: ['10.244.2.16:5353'],
    masquerade: false,
  },
  {
    name: 'TCP to a UDP-only service port is left alone',
    packet: tcp(LOCAL_POD, '10.96.0.21', 53),
    verdict: 'ACCEPT',
    endpoints: [],
    masquerade: false,
  },
  {
    name: 'hairpin: an endpoint reaching itself through its service is masqueraded',
    packet: tcp('10.244.1.17', '10.96.0.22', 80),
    verdict: 'ACCEPT',
    endpoints: ['10.244.1.17:8080'],
    masquerade: true,
  },
  {
    name: 'loadBalancerSourceRanges admits a source inside the range',
    packet: tcp(EXTERNAL_CLIENT, '198.51.100.11', 80),
    verdict: 'ACCEPT',
    endpoints: ['10.244.2.19:8080'],
    masquerade: true,
  },
  {
    name: 'loadBalancerSourceRanges drops a source outside the range',
    packet: tcp('198.18.0.1', '198.51.100.11', 80),
    verdict: 'DROP',
    endpoints: [],
    masquerade: false,
  },
  {
    name: 'second port of a multi-port service maps to its own target port',
    packet: tcp(LOCAL_POD, '10.96.0.23', 443),
    verdict: 'ACCEPT',
    endpoints: ['10.244.1.20:8443'],
    masquerade: false,
  },
  {
    name: 'headless service gets no rules',
    packet: tcp(LOCAL_POD, '10.244.1.21', 8080),
    verdict: 'ACCEPT',
    endpoints: [],
    masquerade: false,
  },
];
