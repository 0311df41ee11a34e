/**
 * proxy/ingress: podnet's L7 ingress router (controller name `podnet.dev/ingress`). A pure route
 * table built from Ingress/IngressClass/Service/EndpointSlice/Secret objects, a data plane that
 * proxies to pod IPs, and the controller that wires informers, listeners and status together.
 */

export { type IngressAnnotations, parseAnnotations } from './annotations.ts';
export { type CertPair, SecureContextCache, selfSignedCert } from './certs.ts';
export {
  type IngressController,
  type IngressControllerOptions,
  type IngressListen,
  startIngressController,
} from './controller.ts';
export { type DataPlaneOptions, IngressDataPlane, type Listener } from './dataplane.ts';
export { downstreamResponseHeaders, framingProblem, HOP_BY_HOP, upstreamRequestHeaders } from './headers.ts';
export { BadPathError, normalizePath, parseTarget, type RequestTarget } from './path.ts';
export {
  buildRouteTable,
  compareAge,
  DEFAULT_CONTROLLER_NAME,
  hostMatches,
  type Match,
  prefixMatches,
  type ResolvedBackend,
  type Route,
  type RouteInputs,
  RouteTable,
  selectIngresses,
} from './routes.ts';
