/**
 * `podnet ui`: a live web view of a cluster. The view-model (`buildGraph`: API objects → nodes,
 * pods, Services, Ingress routes), its layout (`layoutGraph`), pod network details (`readNetns`)
 * and the HTTP server that keeps informers and pushes updates over Server-Sent Events.
 */
export { clip, layoutGraph, type Scene, type SceneBox, type SceneBoxKind, type SceneLink } from './layout.ts';
export {
  buildGraph,
  gatewayOf,
  POD_BRIDGE,
  type UiEndpoint,
  type UiEndpointTarget,
  type UiGraph,
  type UiIngressRoute,
  type UiNode,
  type UiObjects,
  type UiPod,
  type UiService,
} from './model.ts';
export {
  type NetworkDetails,
  parseIpAddr,
  parseIpRoute,
  readNetns,
  type UiAddress,
  type UiInterface,
  type UiRoute,
} from './netinfo.ts';
export {
  isLoopbackHost,
  startUiServer,
  type UiServer,
  type UiServerOptions,
  type UiSnapshot,
} from './server.ts';
