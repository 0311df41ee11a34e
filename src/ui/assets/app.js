// podnet ui, in the browser: draws the scene the server pushes over Server-Sent Events (boxes and
// links already placed by src/ui/layout.ts) as SVG, and shows a clicked pod's interfaces and
// routes from /api/pods/NS/NAME/network. Plain DOM code, no build step.

const SVG_NS = 'http://www.w3.org/2000/svg';
const svg = document.getElementById('canvas');
const details = document.getElementById('details');
const statusEl = document.getElementById('status');

let snapshot = null;
let selected = null; // the box id (`pod:ns/name`, `node:name`, `service:ns/name`) in the side panel

function el(name, attrs = {}, text) {
  const e = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

/**
 * A gentle S-curve, so links fan out instead of overlapping. Links to a pod enter from its left
 * edge (its node's header is above it), so they bend in horizontally over a short distance.
 */
function curve(l) {
  const dy = Math.max(30, Math.abs(l.y2 - l.y1) / 2);
  const toPod = l.to.startsWith('pod:');
  const c2 = toPod ? `${l.x2 - 24},${l.y2}` : `${l.x2},${l.y2 - dy}`;
  return `M${l.x1},${l.y1} C${l.x1},${l.y1 + dy} ${c2} ${l.x2},${l.y2}`;
}

function render() {
  if (!snapshot) return;
  const { scene, graph } = snapshot;
  document.getElementById('cluster').textContent = graph.cluster;
  const pods = graph.nodes.reduce((n, x) => n + x.pods.length, 0) + graph.pendingPods.length;
  document.getElementById('summary').textContent =
    `${graph.nodes.length} nodes · ${pods} pods · ${graph.services.length} services · ${graph.routes.length} ingress routes`;
  document.getElementById('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;

  svg.replaceChildren();
  svg.setAttribute('width', scene.width);
  svg.setAttribute('height', scene.height);
  svg.setAttribute('viewBox', `0 0 ${scene.width} ${scene.height}`);

  const boxes = el('g', { class: 'boxes' });
  for (const b of scene.boxes) {
    const g = el('g', {
      class: `box kind-${b.kind} state-${b.state}${b.id === selected ? ' selected' : ''}`,
      'data-id': b.id,
      'data-kind': b.kind,
    });
    g.append(el('rect', { x: b.x, y: b.y, width: b.w, height: b.h, rx: b.kind === 'pod' ? 5 : 8 }));
    if (b.kind !== 'lan')
      g.append(el('circle', { class: `dot state-${b.state}`, cx: b.x + 12, cy: b.y + 14, r: 4 }));
    const tx = b.kind === 'lan' ? b.x + 12 : b.x + 22;
    g.append(el('text', { class: 'title', x: tx, y: b.y + 18 }, b.title));
    b.rows.forEach((r, i) => {
      g.append(el('text', { class: 'row', x: b.kind === 'pod' ? tx : b.x + 12, y: b.y + 34 + i * 16 }, r));
    });
    if (b.kind === 'pod' || b.kind === 'node' || b.kind === 'service')
      g.addEventListener('click', () => select(b.id));
    g.addEventListener('mouseenter', () => highlight(b.id, true));
    g.addEventListener('mouseleave', () => highlight(b.id, false));
    boxes.append(g);
  }
  const links = el('g', { class: 'links' });
  for (const l of scene.links) {
    links.append(
      el('path', {
        class: `link link-${l.kind}${l.ready ? '' : ' not-ready'}`,
        d: curve(l),
        'data-from': l.from,
        'data-to': l.to,
      }),
    );
  }
  // Links over the boxes: a line to a pod must stay visible across its node's column.
  svg.append(boxes, links);
  if (selected?.startsWith('service:')) showService(selected.slice('service:'.length));
  else if (selected) markSelectedGone();
}

function highlight(id, on) {
  for (const p of svg.querySelectorAll('path.link')) {
    if (p.dataset.from === id || p.dataset.to === id) p.classList.toggle('hot', on);
  }
}

function markSelectedGone() {
  const gone = !snapshot.scene.boxes.some((b) => b.id === selected);
  const note = details.querySelector('.gone');
  if (gone && !note) details.prepend(h('p', { class: 'error gone' }, 'This no longer exists.'));
  if (!gone && note) note.remove();
}

/** Shows the details of box `id`: a pod's or node's network, read live; a Service's endpoints. */
async function select(id) {
  selected = id;
  for (const g of svg.querySelectorAll('g.box')) g.classList.toggle('selected', g.dataset.id === id);
  const sep = id.indexOf(':');
  const kind = id.slice(0, sep);
  const key = id.slice(sep + 1);
  if (kind === 'service') return showService(key);
  const path =
    kind === 'pod'
      ? `api/pods/${key.split('/').map(encodeURIComponent).join('/')}/network`
      : `api/nodes/${encodeURIComponent(key)}/network`;
  details.replaceChildren(
    h('h2', {}, key),
    h('p', { class: 'hint' }, `reading the ${kind}’s network namespace…`),
  );
  let body;
  try {
    const res = await fetch(path);
    body = await res.json();
    if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
  } catch (e) {
    if (selected !== id) return;
    details.replaceChildren(h('h2', {}, key), h('p', { class: 'error' }, String(e.message ?? e)));
    return;
  }
  if (selected !== id) return; // something else was clicked meanwhile
  showNetwork(body);
}

function definitions(pairs) {
  const dl = h('dl', {});
  for (const [k, v] of pairs) dl.append(h('dt', {}, k), h('dd', {}, v));
  return dl;
}

function showNetwork(n) {
  const meta = definitions([
    ...(n.kind === 'pod' ? [['node', n.nodeName ?? '-']] : []),
    [n.kind === 'pod' ? 'pod IP' : 'LAN IP', n.ip ?? '-'],
    ['netns', n.netns],
  ]);
  const ifaces = n.interfaces.map((i) => {
    const addrs = h('ul', {}, ...i.addresses.map((a) => h('li', { class: 'addr' }, a.cidr)));
    const extra = [
      i.state,
      i.mtu ? `mtu ${i.mtu}` : '',
      i.mac ?? '',
      i.peerIndex ? `peer ifindex ${i.peerIndex}` : '',
    ]
      .filter(Boolean)
      .join(' · ');
    return h(
      'div',
      { class: 'iface', 'data-ifname': i.name },
      h('span', { class: 'name' }, i.name),
      ' ',
      h('span', { class: 'meta' }, extra),
      addrs,
    );
  });
  const routes = h('ul', { class: 'routes' }, ...n.routes.map((r) => h('li', { class: 'route' }, r.text)));
  details.replaceChildren(
    h('h2', {}, `${n.kind} ${n.name}`),
    meta,
    h('h3', {}, 'Interfaces (ip addr)'),
    ...ifaces,
    h('h3', {}, 'Routes (ip route)'),
    routes,
  );
}

/** A Service's addresses and endpoints, from the pushed graph (so it stays live). */
function showService(key) {
  const s = snapshot?.graph.services.find((x) => x.id === key);
  if (!s) {
    details.replaceChildren(h('h2', {}, key), h('p', { class: 'error' }, 'This no longer exists.'));
    return;
  }
  const target = (e) =>
    e.target
      ? e.target.kind === 'pod'
        ? `pod ${e.target.id}`
        : `node ${e.target.name}`
      : 'not in the picture';
  details.replaceChildren(
    h('h2', {}, `service ${s.id}`),
    definitions([
      ['type', s.type],
      ['clusterIP', s.clusterIP ?? '-'],
      ['ports', s.ports.join(', ') || '-'],
      ...(s.externalIPs.length ? [['external', s.externalIPs.join(', ')]] : []),
    ]),
    h('h3', {}, `Endpoints (${s.endpoints.length})`),
    h(
      'ul',
      { class: 'routes' },
      ...s.endpoints.map((e) =>
        h(
          'li',
          { class: `endpoint${e.ready ? '' : ' not-ready'}` },
          `${e.ip} → ${target(e)}${e.ready ? '' : ' (not ready)'}`,
        ),
      ),
    ),
  );
}

function connect() {
  const es = new EventSource('events');
  es.addEventListener('open', () => {
    statusEl.textContent = 'live';
    statusEl.className = 'live';
  });
  es.addEventListener('error', () => {
    statusEl.textContent = 'reconnecting…';
    statusEl.className = 'down';
  });
  es.addEventListener('scene', (ev) => {
    snapshot = JSON.parse(ev.data);
    document.body.dataset.version = snapshot.version;
    render();
  });
}

connect();
