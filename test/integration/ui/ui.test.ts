// Address plan: cluster h7ui, 2 nodes on LAN 172.31.0.0/24 (node-1 .11, node-2 .12), pods in
// 10.244.1.0/24 and 10.244.2.0/24 (bridge cni0 = .1 on each). A Deployment "web" (agnhost
// netexec) behind Service "web", and an Ingress web.example/ → web:80.
// `podnet up --detach`, then `podnet ui --port 0`, then Debian's chromium (headless, driven by
// playwright-core) checks the page: both nodes, every pod IP; scaling adds pods without a reload;
// clicking a pod shows its eth0 address and default route, read from the pod's namespace;
// clicking node-1 shows cni0 and the host-gw route to node-2's pods; a Service lists its endpoints.
// A screenshot goes to test/integration/ui/ui.png (gitignored beside this file).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pod } from '../../../src/api/kinds/core.ts';
import { findResource } from '../../../src/api/resources.ts';
import { ApiClient } from '../../../src/client/index.ts';
import { destroyCluster } from '../../../src/cluster/build.ts';
import { until } from '../until.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const CHROMIUM = '/usr/bin/chromium';
const CLUSTER = 'h7ui';
const isRoot = process.getuid?.() === 0;
const hasChromium = existsSync(CHROMIUM);
const SHOT = join(import.meta.dirname, 'ui.png');
const PODS = findResource('', 'v1', 'pods')!;
const DEPLOYMENTS = findResource('apps', 'v1', 'deployments')!;
const SERVICES = findResource('', 'v1', 'services')!;
const INGRESSES = findResource('networking.k8s.io', 'v1', 'ingresses')!;

if (isRoot && !hasChromium)
  console.warn(
    `test/integration/ui: skipped: ${CHROMIUM} is missing (install Debian chromium: sudo scripts/setup.sh)`,
  );

const title = hasChromium
  ? 'podnet ui in headless Chromium'
  : `podnet ui in headless Chromium (skipped: ${CHROMIUM} missing; run scripts/setup.sh as root)`;

describe.skipIf(!isRoot || !hasChromium)(title, () => {
  const home = mkdtempSync(join(tmpdir(), 'pn-ui-it-'));
  const env = { ...process.env, PODNET_HOME: home };
  const podnet = (...args: string[]) =>
    spawnSync(process.execPath, [join(ROOT, 'bin/podnet.mjs'), ...args], {
      env,
      encoding: 'utf8',
      timeout: 180_000,
    });
  let client: ApiClient | undefined;
  let ui: ChildProcess | undefined;
  let uiExit: Promise<number | null> | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let url = '';

  /** The IPs of the Deployment's running pods, once there are `n` of them. */
  const podIPs = (n: number) =>
    until(
      async () => {
        const pods = (await client!.list<Pod>(PODS, 'default', { labelSelector: 'app=web' })).items;
        const ips = pods
          .filter((p) => !p.metadata.deletionTimestamp && p.status?.phase === 'Running')
          .map((p) => p.status?.podIP)
          .filter((ip): ip is string => Boolean(ip));
        return ips.length === n ? { pods, ips } : undefined;
      },
      `${n} running web pods with IPs`,
      90_000,
    );

  /** All text the page's drawing shows. */
  const drawnText = () => page.locator('#canvas').evaluate((svg) => svg.textContent ?? '');

  beforeAll(async () => {
    const up = podnet('up', '--name', CLUSTER, '--nodes', '2', '--detach', '--timeout', '150');
    if (up.status !== 0) throw new Error(`podnet up failed: ${up.stderr}`);
    client = ApiClient.fromKubeconfig(join(home, 'clusters', CLUSTER, 'kubeconfig'));
    await client.create(DEPLOYMENTS, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default', labels: { app: 'web' } },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            containers: [
              {
                name: 'web',
                image: 'registry.k8s.io/e2e-test-images/agnhost:2.39',
                args: ['netexec', '--http-port=8080'],
                ports: [{ containerPort: 8080 }],
              },
            ],
          },
        },
      },
    });
    await client.create(SERVICES, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'default' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
    });
    await client.create(INGRESSES, {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        rules: [
          {
            host: 'web.example',
            http: {
              paths: [
                {
                  path: '/',
                  pathType: 'Prefix',
                  backend: { service: { name: 'web', port: { number: 80 } } },
                },
              ],
            },
          },
        ],
      },
    });

    ui = spawn(process.execPath, [join(ROOT, 'bin/podnet.mjs'), 'ui', '--name', CLUSTER, '--port', '0'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    uiExit = new Promise((r) => ui!.once('exit', (code) => r(code)));
    let out = '';
    let err = '';
    ui.stderr!.on('data', (b: Buffer) => (err += b));
    url = await new Promise<string>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`podnet ui printed no URL: ${out}${err}`)), 60_000);
      ui!.stdout!.on('data', (b: Buffer) => {
        out += b;
        const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
        if (m) {
          clearTimeout(t);
          res(m[1]!);
        }
      });
      ui!.once('exit', (code) => rej(new Error(`podnet ui exited ${code}: ${err}`)));
    });

    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  }, 240_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    if (ui && ui.exitCode === null && ui.signalCode === null) {
      ui.kill('SIGKILL');
      await uiExit;
    }
    await client?.dispose();
    podnet('down', '--name', CLUSTER);
    await destroyCluster(CLUSTER, { stateDir: join(home, 'clusters', CLUSTER) }).catch(() => {});
    rmSync(home, { recursive: true, force: true });
  }, 120_000);

  it('shows both nodes with their addresses, and every pod IP', async () => {
    const { ips } = await podIPs(2);
    await page.goto(url);
    await page.locator('#status.live').waitFor({ timeout: 15_000 });
    await page.locator('[data-kind="node"]').nth(1).waitFor({ timeout: 15_000 });
    expect(await page.locator('[data-kind="node"]').count()).toBe(2);
    await until(
      async () => {
        const text = await drawnText();
        return ips.every((ip) => text.includes(ip)) && text.includes('2 endpoints (2 ready)');
      },
      `pod IPs ${ips.join(', ')} and the Service's endpoints on the page`,
      30_000,
    );
    const text = await drawnText();
    for (const n of ['node-1', 'node-2', 'eth0 172.31.0.11', 'eth0 172.31.0.12', 'cni0 10.244.1.1'])
      expect(text).toContain(n);
    expect(text).toContain('podCIDR 10.244.2.0/24');
    expect(text).toContain('web.example/');
    // The Service has a line to each of its ready pods.
    await until(
      async () => (await page.locator('path.link-endpoint[data-from="service:default/web"]').count()) === 2,
      'two endpoint links from Service web',
      30_000,
    );
  }, 120_000);

  it('adds the new pods when the Deployment scales, without reloading the page', async () => {
    await page.evaluate(() => {
      (globalThis as unknown as { notReloaded: boolean }).notReloaded = true;
    });
    await client!.setScale(DEPLOYMENTS, 'default', 'web', 4);
    const { ips } = await podIPs(4);
    await until(
      async () => {
        const text = await drawnText();
        return ips.every((ip) => text.includes(ip));
      },
      `the 4 pod IPs ${ips.join(', ')} on the page`,
      30_000,
    );
    expect(await page.locator('[data-kind="pod"]').count()).toBeGreaterThanOrEqual(4);
    expect(await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded)).toBe(
      true,
    );
  }, 150_000);

  it("shows a clicked pod's eth0 address and default route, read from its namespace", async () => {
    const { pods } = await podIPs(4);
    const pod = pods.find((p) => p.status?.podIP && !p.metadata.deletionTimestamp)!;
    const ip = pod.status!.podIP!;
    const gw = ip.replace(/\.\d+$/, '.1');
    await page.locator(`[data-id="pod:default/${pod.metadata.name}"]`).click();
    const eth0 = page.locator('#details .iface[data-ifname="eth0"]');
    await eth0.waitFor({ timeout: 15_000 });
    expect(await eth0.locator('.addr').allTextContents()).toContain(`${ip}/24`);
    const routes = await page.locator('#details .route').allTextContents();
    expect(routes).toContain(`default via ${gw} dev eth0`);
    expect(routes.some((r) => r.startsWith(`${ip.replace(/\.\d+$/, '.0')}/24 dev eth0`))).toBe(true);
    expect(
      await page.locator(`[data-id="pod:default/${pod.metadata.name}"]`).getAttribute('class'),
    ).toContain('selected');
    await page.screenshot({ path: SHOT, fullPage: true });
    expect(existsSync(SHOT)).toBe(true);
  }, 60_000);

  it("shows a node's host-gw route to the other node's pods, and a Service's endpoints", async () => {
    await page.locator('[data-id="node:node-1"] > rect').click({ position: { x: 140, y: 20 } });
    await page.locator('#details .iface[data-ifname="cni0"]').waitFor({ timeout: 15_000 });
    expect(await page.locator('#details .iface[data-ifname="cni0"] .addr').allTextContents()).toContain(
      '10.244.1.1/24',
    );
    const routes = await page.locator('#details .route').allTextContents();
    expect(routes.some((r) => r.startsWith('10.244.2.0/24 via 172.31.0.12 dev eth0'))).toBe(true);

    const { ips } = await podIPs(4);
    await page.locator('[data-id="service:default/web"]').click();
    await page.locator('#details li.endpoint').nth(3).waitFor({ timeout: 15_000 });
    const eps = await page.locator('#details li.endpoint').allTextContents();
    expect(eps.map((e) => e.split(' ')[0]).sort()).toEqual([...ips].sort());
    expect(eps.every((e) => / → pod default\/web-/.test(e))).toBe(true);
  }, 60_000);

  it('refuses a port already in use, in one line', () => {
    const port = new URL(url).port;
    const r = podnet('ui', '--name', CLUSTER, '--port', port);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`error: --port ${port}: 127.0.0.1:${port} is already in use\n`);
  }, 60_000);

  it('stops cleanly on SIGTERM', async () => {
    ui!.kill('SIGTERM');
    const code = await Promise.race([
      uiExit!,
      new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000)),
    ]);
    expect(code).toBe(0);
    await expect(fetch(url)).rejects.toThrow();
  }, 30_000);
});
