/**
 * Places the graph on a canvas: Ingress routes on top, Services below them, then one column per
 * node (header: name, LAN address, bridge and podCIDR; then its pods), a column for pods not yet
 * on a node, and the LAN bar joining the nodes at the bottom. Links join routes to Services and
 * Services to the pods (or nodes) behind their endpoints. Pure, so positions are unit-tested and
 * the page only draws what it is given.
 */
import type { UiGraph, UiPod } from './model.ts';

/** What a box stands for (the page styles and wires clicks by kind). */
export type SceneBoxKind = 'route' | 'service' | 'node' | 'pod' | 'pending' | 'lan';

/** A box with a title and text rows. */
export interface SceneBox {
  /** `<kind>:<key>`, e.g. `pod:default/web-1`, `node:node-1`. */
  id: string;
  kind: SceneBoxKind;
  x: number;
  y: number;
  w: number;
  h: number;
  title: string;
  rows: string[];
  /** ok (ready/serving), warn (starting, not ready), bad (failed, terminating, node NotReady). */
  state: 'ok' | 'warn' | 'bad';
}

/** A line between two boxes (drawn as a curve from (x1,y1) to (x2,y2)). */
export interface SceneLink {
  kind: 'route' | 'endpoint' | 'lan';
  from: string;
  to: string;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  /** An endpoint that is not ready is drawn dashed. */
  ready: boolean;
}

/** Everything to draw, in canvas units (pixels at zoom 1). */
export interface Scene {
  width: number;
  height: number;
  boxes: SceneBox[];
  links: SceneLink[];
}

const MARGIN = 20;
const GAP = 30;
const NODE_W = 280;
const NODE_HEADER = 78;
const POD_H = 38;
const POD_GAP = 6;
const CARD_W = 240;
const ROW_H = 16;
const LINK_ROOM = 70;
const MAX_TEXT = 34;
/** Cards are narrower than node columns: fewer characters fit. */
const CARD_TITLE = 29;
const CARD_ROW = 32;

/** Shortens text to fit a box (SVG text does not wrap or clip by itself). */
export function clip(text: string, max = MAX_TEXT): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function podState(p: UiPod): SceneBox['state'] {
  if (p.terminating || p.phase === 'Failed') return 'bad';
  return p.ready ? 'ok' : 'warn';
}

function podBox(p: UiPod, x: number, y: number, w: number): SceneBox {
  const status = p.terminating ? 'Terminating' : p.phase;
  return {
    id: `pod:${p.id}`,
    kind: 'pod',
    x,
    y,
    w,
    h: POD_H,
    title: clip(p.namespace === 'default' ? p.name : p.id),
    rows: [`${p.ip ?? 'no IP yet'}${p.hostNetwork ? ' (host)' : ''} · ${status}`],
    state: podState(p),
  };
}

/** Lays out cards left to right, wrapping at `maxW`; returns the cards' boxes and the bottom y. */
function flow(
  cards: Array<Omit<SceneBox, 'x' | 'y' | 'w'>>,
  top: number,
  maxW: number,
): { boxes: SceneBox[]; bottom: number } {
  const boxes: SceneBox[] = [];
  let x = MARGIN;
  let y = top;
  let rowH = 0;
  for (const c of cards) {
    if (x > MARGIN && x + CARD_W > MARGIN + maxW) {
      x = MARGIN;
      y += rowH + 14;
      rowH = 0;
    }
    boxes.push({ ...c, x, y, w: CARD_W });
    x += CARD_W + 16;
    rowH = Math.max(rowH, c.h);
  }
  return { boxes, bottom: cards.length ? y + rowH : top };
}

const cardHeight = (rows: number) => 24 + rows * ROW_H + 6;

/** Computes the scene for a graph. */
export function layoutGraph(g: UiGraph): Scene {
  const columns = g.nodes.length + (g.pendingPods.length ? 1 : 0);
  const nodesW = Math.max(columns * (NODE_W + GAP) - GAP, NODE_W);
  const maxW = Math.max(nodesW, 3 * (CARD_W + 16));

  const routeCards = g.routes.map((r) => {
    const rows = [
      `→ ${r.serviceId ? r.serviceId.replace(/^default\//, '') : 'resource'}${r.port ? `:${r.port}` : ''}`,
    ];
    rows.push(`${r.pathType}${r.tls ? ' · TLS' : ''} · ${r.ingress}`);
    return {
      id: `route:${r.id}`,
      kind: 'route' as const,
      h: cardHeight(rows.length),
      title: clip(`${r.host}${r.path}`, CARD_TITLE),
      rows: rows.map((t) => clip(t, CARD_ROW)),
      state: 'ok' as const,
    };
  });
  const routes = flow(routeCards, MARGIN, maxW);

  const serviceCards = g.services.map((s) => {
    const ready = s.endpoints.filter((e) => e.ready).length;
    const rows = [`${s.type} ${s.clusterIP ?? ''}`.trim()];
    if (s.ports.length) rows.push(s.ports.join(', '));
    if (s.externalIPs.length) rows.push(`external ${s.externalIPs.join(', ')}`);
    rows.push(`${s.endpoints.length} endpoint${s.endpoints.length === 1 ? '' : 's'} (${ready} ready)`);
    return {
      id: `service:${s.id}`,
      kind: 'service' as const,
      h: cardHeight(rows.length),
      title: clip(s.namespace === 'default' ? s.name : s.id, CARD_TITLE),
      rows: rows.map((t) => clip(t, CARD_ROW)),
      state: (s.endpoints.length === 0 || ready > 0 ? 'ok' : 'warn') as SceneBox['state'],
    };
  });
  const servicesTop = routes.bottom + (g.routes.length ? LINK_ROOM : 0);
  const services = flow(serviceCards, servicesTop, maxW);

  const boxes: SceneBox[] = [...routes.boxes, ...services.boxes];
  const nodesTop = services.bottom + (g.services.length ? LINK_ROOM : 0);
  let x = MARGIN;
  let nodesBottom = nodesTop;
  const column = (
    id: string,
    kind: 'node' | 'pending',
    title: string,
    rows: string[],
    pods: UiPod[],
    state: SceneBox['state'],
  ) => {
    const h = NODE_HEADER + pods.length * (POD_H + POD_GAP) + 10;
    boxes.push({ id, kind, x, y: nodesTop, w: NODE_W, h, title, rows, state });
    pods.forEach((p, i) => {
      boxes.push(podBox(p, x + 10, nodesTop + NODE_HEADER + i * (POD_H + POD_GAP), NODE_W - 20));
    });
    nodesBottom = Math.max(nodesBottom, nodesTop + h);
    x += NODE_W + GAP;
  };
  for (const n of g.nodes) {
    column(
      `node:${n.name}`,
      'node',
      n.name,
      [
        `eth0 ${n.lanIP ?? '(no address)'}`,
        `${n.bridge.name} ${n.bridge.ip ?? '-'}`,
        `podCIDR ${n.podCIDR ?? '(none yet)'}`,
      ],
      n.pods,
      n.ready ? 'ok' : 'bad',
    );
  }
  if (g.pendingPods.length)
    column('pending:', 'pending', 'not on a node', ['pods waiting for a node'], g.pendingPods, 'warn');

  const links: SceneLink[] = [];
  const byId = new Map(boxes.map((b) => [b.id, b]));
  if (g.nodes.length) {
    const lan: SceneBox = {
      id: 'lan:',
      kind: 'lan',
      x: MARGIN,
      y: nodesBottom + 40,
      w: g.nodes.length * (NODE_W + GAP) - GAP,
      h: 30,
      title: 'LAN (underlay bridge pn0)',
      rows: [],
      state: 'ok',
    };
    boxes.push(lan);
    for (const n of g.nodes) {
      const b = byId.get(`node:${n.name}`)!;
      const cx = b.x + b.w / 2;
      links.push({
        kind: 'lan',
        from: b.id,
        to: lan.id,
        x1: cx,
        y1: b.y + b.h,
        x2: cx,
        y2: lan.y,
        ready: n.ready,
      });
    }
  }

  for (const r of g.routes) {
    const from = byId.get(`route:${r.id}`);
    const to = r.serviceId ? byId.get(`service:${r.serviceId}`) : undefined;
    if (!from || !to) continue;
    links.push({
      kind: 'route',
      from: from.id,
      to: to.id,
      x1: from.x + from.w / 2,
      y1: from.y + from.h,
      x2: to.x + to.w / 2,
      y2: to.y,
      ready: true,
    });
  }
  for (const s of g.services) {
    const from = byId.get(`service:${s.id}`)!;
    for (const e of s.endpoints) {
      const to = e.target
        ? byId.get(e.target.kind === 'pod' ? `pod:${e.target.id}` : `node:${e.target.name}`)
        : undefined;
      if (!to) continue;
      // A pod is entered from its left edge (its node's header sits above it); a node from the top.
      const [x2, y2] = to.kind === 'pod' ? [to.x, to.y + to.h / 2] : [to.x + to.w / 2, to.y];
      links.push({
        kind: 'endpoint',
        from: from.id,
        to: to.id,
        x1: from.x + from.w / 2,
        y1: from.y + from.h,
        x2,
        y2,
        ready: e.ready,
      });
    }
  }

  const right = Math.max(...boxes.map((b) => b.x + b.w), MARGIN + maxW);
  const bottom = Math.max(...boxes.map((b) => b.y + b.h), nodesBottom);
  return { width: right + MARGIN, height: bottom + MARGIN, boxes, links };
}
