// The service's wire protocol and dispatch, with a recording plugin over a temp socket (no root).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeRequest, encodeRequest, startCniService } from './service.ts';
import type { CmdArgs, CniPlugin } from './skel.ts';

const seen: CmdArgs[] = [];
const fake: CniPlugin = {
  name: 'podnet-bridge',
  add: async (a) => {
    seen.push(a);
    return { cniVersion: a.conf.cniVersion, ips: [{ address: '10.1.0.9/24' }] };
  },
  del: async () => {},
  check: async () => {},
  status: async () => {},
  gc: async () => {},
};

function ask(socket: string, body: Buffer): Promise<string> {
  return new Promise((res, rej) => {
    const s = connect(socket);
    let out = '';
    s.on('data', (b) => (out += b));
    s.on('end', () => res(out));
    s.on('error', rej);
    s.end(body);
  });
}

describe('wire protocol', () => {
  it('round-trips a request', () => {
    const req = {
      plugin: 'podnet-bridge',
      pid: 42,
      env: { CNI_COMMAND: 'ADD', CNI_ARGS: 'A=1;B=2' },
      stdin: '{"x":1}',
    };
    expect(decodeRequest(encodeRequest(req))).toEqual(req);
  });
  it('rejects an unknown protocol', () => {
    expect(() => decodeRequest(Buffer.from('http/1.1\0\0'))).toThrow(/unknown protocol/);
  });
});

describe('startCniService', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pn-cni-svc-'));
  const socket = join(dir, 'cni.sock');
  let svc: { dispose(): void | Promise<void> };
  beforeAll(async () => {
    svc = await startCniService({ socketPath: socket, plugins: { 'podnet-bridge': fake } });
  });
  afterAll(async () => {
    await svc.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the named plugin with the forwarded environment and answers code + stdout', async () => {
    const body = encodeRequest({
      plugin: '/opt/cni/bin/podnet-bridge',
      env: {
        CNI_COMMAND: 'ADD',
        CNI_CONTAINERID: 'c1',
        CNI_NETNS: '/run/netns/x',
        CNI_IFNAME: 'eth0',
        CNI_PATH: '/x',
      },
      stdin: JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'podnet-bridge' }),
    });
    const out = await ask(socket, body);
    expect(out.split('\n')[0]).toBe('0');
    expect(JSON.parse(out.slice(2)).ips).toEqual([{ address: '10.1.0.9/24' }]);
    expect(seen.at(-1)?.containerId).toBe('c1');
  });

  it('answers an unknown plugin and a garbled request with CNI errors', async () => {
    const unknown = await ask(socket, encodeRequest({ plugin: 'podnet-nope', env: {}, stdin: '' }));
    expect(unknown.startsWith('1\n')).toBe(true);
    expect(JSON.parse(unknown.slice(2)).msg).toMatch(/no plugin named "podnet-nope"/);
    const garbled = await ask(socket, Buffer.from('garbage'));
    expect(JSON.parse(garbled.slice(2)).code).toBe(6);
  });

  it('serves the C thin client when it is built', async () => {
    const bin = resolve(import.meta.dirname, 'bin/podnet-bridge');
    if (!existsSync(bin)) return;
    // Asynchronous on purpose: the service answers from this same event loop.
    const child = spawn(bin, [], {
      env: {
        PODNET_CNI_SOCKET: socket,
        CNI_COMMAND: 'ADD',
        CNI_CONTAINERID: 'thin',
        CNI_NETNS: '/x',
        CNI_IFNAME: 'eth0',
        CNI_PATH: '/x',
      },
    });
    let stdout = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stdin.end(JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'podnet-bridge' }));
    const status = await new Promise((r) => child.on('close', r));
    expect(status).toBe(0);
    expect(JSON.parse(stdout).ips).toEqual([{ address: '10.1.0.9/24' }]);
    expect(seen.at(-1)?.containerId).toBe('thin');
  });
});
