// The router process's flags (proxy/ingress/main.ts): defaults, and one-line errors naming the flag.
import { describe, expect, it } from 'vitest';
import { parseRouterArgs } from './main.ts';

describe('parseRouterArgs', () => {
  it('fills in ports 80/443 and one worker', () => {
    expect(parseRouterArgs(['--kubeconfig', '/k', '--listen', '172.31.0.11'])).toEqual({
      kubeconfig: '/k',
      listen: '172.31.0.11',
      httpPort: 80,
      httpsPort: 443,
      publishService: undefined,
      workers: 1,
      ingressClass: undefined,
    });
  });

  it('reads every flag', () => {
    const a = parseRouterArgs([
      '--kubeconfig',
      '/k',
      '--listen',
      '10.0.0.1',
      '--http-port',
      '8080',
      '--https-port',
      '0',
      '--publish-service',
      'ingress-nginx/ingress-nginx-controller',
      '--workers',
      '2',
      '--ingress-class',
      'podnet',
    ]);
    expect(a).toMatchObject({ httpPort: 8080, httpsPort: 0, workers: 2, ingressClass: 'podnet' });
    expect(a.publishService).toBe('ingress-nginx/ingress-nginx-controller');
  });

  it('names the flag and the reason on bad input', () => {
    expect(() => parseRouterArgs(['--listen', '1.2.3.4'])).toThrow('--kubeconfig: required');
    expect(() => parseRouterArgs(['--kubeconfig', '/k'])).toThrow(/--listen: required/);
    expect(() => parseRouterArgs(['--kubeconfig', '/k', '--listen', 'x', '--http-port', '99999'])).toThrow(
      '--http-port: must be a port number from 0 to 65535, got "99999"',
    );
    expect(() => parseRouterArgs(['--kubeconfig', '/k', '--listen', 'x', '--workers', '0'])).toThrow(
      /--workers/,
    );
    expect(() =>
      parseRouterArgs(['--kubeconfig', '/k', '--listen', 'x', '--publish-service', 'nope']),
    ).toThrow(/--publish-service: must be NAMESPACE\/NAME/);
    expect(() => parseRouterArgs(['--kubeconfig', '--listen', 'x'])).toThrow(
      '--kubeconfig: a value is required',
    );
  });
});
