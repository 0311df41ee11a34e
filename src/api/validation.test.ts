// Validation tests. Address plan: service CIDR 10.96.0.0/12 (clusterIPs 10.96.0.10/11),
// pod CIDR 10.244.0.0/16 (pods 10.244.1.5), node LAN 172.31.0.0/24, IPv6 fd00::/64.
import { describe, expect, it } from 'vitest';
import { applyDefaults } from './defaults.ts';
import { ApiError } from './errors.ts';
import { resolveResourceName } from './resources.ts';
import type { KubeObject, StatusCause } from './types.ts';
import { validate, validateOrThrow, validateUpdate } from './validation.ts';

const R = (n: string) => resolveResourceName(n)!;

function make(kind: string, apiVersion: string, fill: (o: any) => void, namespaced = true): KubeObject {
  const o: any = {
    apiVersion,
    kind,
    metadata: { name: 'web', ...(namespaced ? { namespace: 'default' } : {}) },
  };
  fill(o);
  return o;
}
const makeService = (fill: (s: any) => void) =>
  make('Service', 'v1', (o) => {
    o.spec = { selector: { app: 'web' }, ports: [{ port: 80 }] };
    fill(o.spec);
  });
const makePod = (fill: (s: any) => void) =>
  make('Pod', 'v1', (o) => {
    o.spec = {
      containers: [{ name: 'c', image: 'nginx:1.25', ports: [{ containerPort: 80, name: 'http' }] }],
    };
    fill(o.spec);
  });
const makeDeployment = (fill: (o: any) => void) =>
  make('Deployment', 'apps/v1', (o) => {
    o.spec = {
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'c', image: 'nginx' }] },
      },
    };
    fill(o);
  });

/** Defaults then validates, like the API server. */
function check(res: string, o: KubeObject): StatusCause[] {
  applyDefaults(R(res), o);
  return validate(R(res), o);
}
const fields = (cs: StatusCause[]) => cs.map((c) => `${c.reason} ${c.field}`);

describe('metadata', () => {
  it('accepts a valid object', () => {
    expect(
      check(
        'svc',
        makeService(() => {}),
      ),
    ).toEqual([]);
    expect(
      check(
        'pods',
        makePod(() => {}),
      ),
    ).toEqual([]);
  });

  it('requires a name and checks it per kind', () => {
    const s = makeService(() => {});
    s.metadata.name = '1web';
    expect(check('svc', s)[0]).toMatchObject({ reason: 'FieldValueInvalid', field: 'metadata.name' });
    expect(check('svc', s)[0]!.message).toContain('DNS-1035');
    const p = makePod(() => {});
    p.metadata.name = '1web.example';
    expect(check('pods', p)).toEqual([]);
    p.metadata.name = 'Web';
    expect(check('pods', p)[0]!.message).toContain('RFC 1123 subdomain');
    delete p.metadata.name;
    expect(check('pods', p)[0]).toMatchObject({ reason: 'FieldValueRequired', field: 'metadata.name' });
    p.metadata.generateName = 'web-';
    expect(check('pods', p)).toEqual([]);
    const ns = make('Namespace', 'v1', () => {}, false);
    ns.metadata.name = 'a.b';
    expect(fields(check('ns', ns))).toContain('FieldValueInvalid metadata.name');
  });

  it('requires namespace on namespaced kinds and forbids it on cluster kinds', () => {
    const p = makePod(() => {});
    delete p.metadata.namespace;
    expect(fields(check('pods', p))).toEqual(['FieldValueRequired metadata.namespace']);
    const n = make('Node', 'v1', () => {}, false);
    n.metadata.namespace = 'default';
    expect(fields(check('nodes', n))).toEqual(['FieldValueForbidden metadata.namespace']);
  });

  it('checks label keys and values and annotation size', () => {
    const s = makeService(() => {});
    s.metadata.labels = { 'bad key': 'x', ok: '-bad' };
    s.metadata.annotations = { big: 'x'.repeat(300 * 1024) };
    expect(fields(check('svc', s))).toEqual([
      'FieldValueInvalid metadata.labels',
      'FieldValueInvalid metadata.labels',
      'FieldValueTooLong metadata.annotations',
    ]);
  });
});

describe('Service', () => {
  it('checks port range, protocol, duplicates and names', () => {
    const s = makeService((sp) => {
      sp.ports = [
        { name: 'http', port: 0 },
        { name: 'http', port: 443, protocol: 'ICMP' },
        { port: 443, name: 'tls' },
        { port: 443, name: 'tls2' },
      ];
    });
    const cs = check('svc', s);
    expect(cs.find((c) => c.field === 'spec.ports[0].port')!.message).toBe(
      'Invalid value: 0: must be between 1 and 65535, inclusive',
    );
    expect(cs.find((c) => c.field === 'spec.ports[1].name')!.reason).toBe('FieldValueDuplicate');
    expect(cs.find((c) => c.field === 'spec.ports[1].protocol')!.message).toBe(
      'Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
    );
    expect(cs.find((c) => c.field === 'spec.ports[3]')!.reason).toBe('FieldValueDuplicate');
  });

  it('requires names with several ports and validates targetPort names', () => {
    const s = makeService((sp) => {
      sp.ports = [
        { port: 80, targetPort: 'http_x' },
        { port: 81, name: 'b', targetPort: 70000 },
        { port: 82, name: 'c', targetPort: '8080' },
      ];
    });
    expect(fields(check('svc', s))).toEqual([
      'FieldValueRequired spec.ports[0].name',
      'FieldValueInvalid spec.ports[0].targetPort',
      'FieldValueInvalid spec.ports[1].targetPort',
      'FieldValueInvalid spec.ports[2].targetPort',
    ]);
  });

  it('checks clusterIP forms and strict IPv4', () => {
    expect(
      check(
        'svc',
        makeService((sp) => (sp.clusterIP = '10.96.0.10')),
      ),
    ).toEqual([]);
    expect(
      check(
        'svc',
        makeService((sp) => (sp.clusterIP = 'None')),
      ),
    ).toEqual([]);
    expect(
      fields(
        check(
          'svc',
          makeService((sp) => (sp.clusterIP = '10.96.0.010')),
        ),
      ),
    ).toContain('FieldValueInvalid spec.clusterIPs[0]');
    expect(
      fields(
        check(
          'svc',
          makeService((sp) => (sp.clusterIP = '10.96.10')),
        ),
      ),
    ).toContain('FieldValueInvalid spec.clusterIPs[0]');
    const np = makeService((sp) => {
      sp.type = 'NodePort';
      sp.clusterIP = 'None';
    });
    expect(check('svc', np).map((c) => c.message)).toContain(
      `Invalid value: "None": may not be set to 'None' for NodePort services`,
    );
    const fam = makeService((sp) => {
      sp.clusterIP = 'fd00::10';
      sp.ipFamilies = ['IPv4'];
    });
    expect(check('svc', fam)[0]!.message).toContain('expected an IPv4 value');
  });

  it('checks nodePort range and where nodePort is allowed', () => {
    const a = makeService((sp) => {
      sp.type = 'NodePort';
      sp.ports = [{ port: 80, nodePort: 30080 }];
    });
    expect(check('svc', a)).toEqual([]);
    a.spec.ports[0].nodePort = 8080;
    expect(check('svc', a)[0]!.message).toContain('The range of valid ports is 30000-32767');
    const b = makeService((sp) => (sp.ports = [{ port: 80, nodePort: 30080 }]));
    expect(check('svc', b)[0]).toMatchObject({
      reason: 'FieldValueForbidden',
      field: 'spec.ports[0].nodePort',
      message: "Forbidden: may not be used when `type` is 'ClusterIP'",
    });
  });

  it('checks traffic policies, affinity, externalIPs and ExternalName', () => {
    const s = makeService((sp) => {
      sp.externalTrafficPolicy = 'Local';
      sp.internalTrafficPolicy = 'Nearby';
      sp.externalIPs = ['172.31.0.50', '127.0.0.1', 'x'];
      sp.sessionAffinity = 'ClientIP';
      sp.sessionAffinityConfig = { clientIP: { timeoutSeconds: 90000 } };
      sp.healthCheckNodePort = 31000;
    });
    expect(fields(check('svc', s))).toEqual([
      'FieldValueInvalid spec.externalIPs[1]',
      'FieldValueInvalid spec.externalIPs[2]',
      'FieldValueInvalid spec.sessionAffinityConfig.clientIP.timeoutSeconds',
      'FieldValueInvalid spec.externalTrafficPolicy',
      'FieldValueNotSupported spec.internalTrafficPolicy',
      'FieldValueInvalid spec.healthCheckNodePort',
    ]);
    const e = makeService((sp) => {
      sp.type = 'ExternalName';
      sp.clusterIP = '10.96.0.10';
    });
    expect(fields(check('svc', e))).toEqual([
      'FieldValueForbidden spec.clusterIP',
      'FieldValueRequired spec.externalName',
    ]);
    const ok = makeService((sp) => {
      sp.type = 'ExternalName';
      sp.externalName = 'db.example.com.';
      sp.ports = [];
    });
    expect(check('svc', ok)).toEqual([]);
  });

  it('keeps clusterIP immutable on update, except across ExternalName', () => {
    const old = makeService((sp) => (sp.clusterIP = '10.96.0.10'));
    applyDefaults(R('svc'), old);
    const changed = structuredClone(old);
    changed.spec.clusterIP = '10.96.0.11';
    changed.spec.clusterIPs = ['10.96.0.11'];
    expect(fields(validateUpdate(R('svc'), old, changed))).toEqual([
      'FieldValueInvalid spec.clusterIPs[0]',
      'FieldValueInvalid spec.clusterIP',
    ]);
    const toExt = structuredClone(old);
    toExt.spec = { type: 'ExternalName', externalName: 'example.com', sessionAffinity: 'None' };
    expect(validateUpdate(R('svc'), old, toExt)).toEqual([]);
    const same = structuredClone(old);
    same.spec.ports[0].port = 8080;
    same.spec.ports[0].targetPort = 8080;
    expect(validateUpdate(R('svc'), old, same)).toEqual([]);
  });
});

describe('Pod', () => {
  it('checks containers, ports, env, probes, mounts', () => {
    const p = makePod((sp) => {
      sp.containers.push({
        name: 'c',
        image: '',
        ports: [{ containerPort: 70000, name: 'http' }],
        env: [{ name: '1X' }, { value: 'v' }],
        readinessProbe: { tcpSocket: { port: 'nope' } },
        livenessProbe: { httpGet: { port: 80 }, successThreshold: 2 },
        volumeMounts: [{ name: 'data', mountPath: '/data' }],
        resources: { requests: { cpu: '2' }, limits: { cpu: '1', memory: 'lots' } },
      });
    });
    const cs = check('pods', p);
    expect(fields(cs)).toEqual(
      expect.arrayContaining([
        'FieldValueDuplicate spec.containers[1].name',
        'FieldValueRequired spec.containers[1].image',
        'FieldValueInvalid spec.containers[1].ports[0].containerPort',
        'FieldValueDuplicate spec.containers[1].ports[0].name',
        'FieldValueInvalid spec.containers[1].env[0].name',
        'FieldValueRequired spec.containers[1].env[1].name',
        'FieldValueInvalid spec.containers[1].readinessProbe.tcpSocket.port',
        'FieldValueInvalid spec.containers[1].livenessProbe.successThreshold',
        'FieldValueNotFound spec.containers[1].volumeMounts[0].name',
        'FieldValueInvalid spec.containers[1].resources.limits[memory]',
        'FieldValueInvalid spec.containers[1].resources.requests',
      ]),
    );
  });

  it('accepts a sleep lifecycle hook within the grace period, and only for hooks', () => {
    const ok = makePod((sp) => {
      sp.terminationGracePeriodSeconds = 20;
      sp.containers[0].lifecycle = { preStop: { sleep: { seconds: 5 } } };
    });
    expect(check('pods', ok)).toEqual([]);
    const bad = makePod((sp) => {
      sp.terminationGracePeriodSeconds = 20;
      sp.containers[0].lifecycle = {
        preStop: { sleep: { seconds: 30 } },
        postStart: { sleep: { seconds: 0 } },
      };
      sp.containers[0].readinessProbe = { sleep: { seconds: 1 } };
    });
    expect(fields(check('pods', bad))).toEqual(
      expect.arrayContaining([
        'FieldValueInvalid spec.containers[0].lifecycle.preStop.sleep.seconds',
        'FieldValueInvalid spec.containers[0].lifecycle.postStart.sleep.seconds',
        'FieldValueRequired spec.containers[0].readinessProbe',
      ]),
    );
  });

  it('checks pod-level policies, tolerations and hostNetwork ports', () => {
    const p = makePod((sp) => {
      sp.restartPolicy = 'Sometimes';
      sp.dnsPolicy = 'None';
      sp.hostNetwork = true;
      sp.containers[0].ports[0].hostPort = 81;
      sp.tolerations = [
        { operator: 'Equal', value: 'x' },
        { key: 'k', operator: 'Exists', value: 'v' },
      ];
    });
    expect(fields(check('pods', p))).toEqual([
      'FieldValueInvalid spec.containers[0].ports[0].hostPort',
      'FieldValueNotSupported spec.restartPolicy',
      'FieldValueRequired spec.dnsConfig',
      'FieldValueInvalid spec.tolerations[0].operator',
      'FieldValueInvalid spec.tolerations[1].operator',
    ]);
  });

  it('allows only image, activeDeadlineSeconds and toleration additions on update', () => {
    const old = makePod(() => {});
    applyDefaults(R('pods'), old);
    const img = structuredClone(old);
    img.spec.containers[0].image = 'nginx:1.26';
    img.spec.tolerations = [{ key: 'k', operator: 'Exists', effect: 'NoSchedule' }];
    expect(validateUpdate(R('pods'), old, img)).toEqual([]);
    const port = structuredClone(old);
    port.spec.containers[0].ports[0].containerPort = 8080;
    const cs = validateUpdate(R('pods'), old, port);
    expect(cs).toHaveLength(1);
    expect(cs[0]!.reason).toBe('FieldValueForbidden');
    expect(cs[0]!.message).toContain('pod updates may not change fields other than');
    const renamed = structuredClone(old);
    renamed.metadata.name = 'other';
    expect(fields(validateUpdate(R('pods'), old, renamed))).toEqual(['FieldValueInvalid metadata.name']);
  });

  it('rejects a host port claimed twice in one pod', () => {
    const p = makePod((sp) => {
      sp.containers[0].ports[0].hostPort = 8080;
      sp.containers.push({
        name: 'd',
        image: 'x',
        ports: [
          { containerPort: 81, hostPort: 8080 },
          { containerPort: 82, hostPort: 8080, protocol: 'UDP' },
        ],
      });
    });
    expect(check('pods', p)).toEqual([
      {
        reason: 'FieldValueDuplicate',
        field: 'spec.containers[1].ports[0].hostPort',
        message: 'Duplicate value: "TCP//8080"',
      },
    ]);
  });

  it('validates status IPs', () => {
    const p = makePod(() => {});
    p.status = { phase: 'Running', podIP: '10.244.1.5', podIPs: [{ ip: '10.244.1.6' }] };
    expect(fields(check('pods', p))).toEqual(['FieldValueInvalid status.podIPs[0].ip']);
  });
});

describe('Deployment and ReplicaSet', () => {
  it('requires the selector to match template labels', () => {
    expect(
      check(
        'deploy',
        makeDeployment(() => {}),
      ),
    ).toEqual([]);
    const d = makeDeployment((o) => (o.spec.template.metadata.labels = { app: 'other' }));
    expect(check('deploy', d)[0]).toMatchObject({
      field: 'spec.template.metadata.labels',
      message: 'Invalid value: {"app":"other"}: `selector` does not match template `labels`',
    });
  });

  it('checks replicas, strategy and restart policy', () => {
    const d = makeDeployment((o) => {
      o.spec.replicas = -1;
      o.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: '0%' } };
      o.spec.template.spec.restartPolicy = 'Never';
    });
    expect(fields(check('deploy', d))).toEqual([
      'FieldValueInvalid spec.replicas',
      'FieldValueNotSupported spec.template.spec.restartPolicy',
      'FieldValueInvalid spec.strategy.rollingUpdate.maxUnavailable',
    ]);
    const e = makeDeployment((o) => (o.spec.selector = {}));
    expect(check('deploy', e)[0]!.message).toContain('empty selector is invalid for deployment');
  });

  it('makes the selector immutable', () => {
    const old = makeDeployment(() => {});
    const next = structuredClone(old);
    next.spec.selector = { matchLabels: { app: 'web', v: '2' } };
    next.spec.template.metadata.labels.v = '2';
    expect(fields(validateUpdate(R('deploy'), old, next))).toEqual(['FieldValueInvalid spec.selector']);
    const rs = make('ReplicaSet', 'apps/v1', (o) => {
      o.spec = { replicas: 0, selector: { matchLabels: { a: 'b' } } };
    });
    expect(check('rs', rs)).toEqual([]);
  });
});

describe('EndpointSlice', () => {
  const slice = () =>
    make('EndpointSlice', 'discovery.k8s.io/v1', (o) => {
      o.addressType = 'IPv4';
      o.endpoints = [{ addresses: ['10.244.1.5'], conditions: { ready: true }, nodeName: 'node-1' }];
      o.ports = [{ name: 'http', port: 8080 }];
    });
  it('checks addresses against the address type', () => {
    expect(check('endpointslices', slice())).toEqual([]);
    const s = slice() as any;
    s.endpoints.push({ addresses: ['fd00::5'] }, { addresses: [] }, { addresses: ['127.0.0.1'] });
    s.ports.push({ name: 'http', port: 0 });
    expect(fields(check('endpointslices', s))).toEqual([
      'FieldValueInvalid endpoints[1].addresses[0]',
      'FieldValueRequired endpoints[2].addresses',
      'FieldValueInvalid endpoints[3].addresses[0]',
      'FieldValueDuplicate ports[1].name',
      'FieldValueInvalid ports[1].port',
    ]);
  });
  it('keeps addressType immutable', () => {
    const a = slice() as any;
    const b = structuredClone(a);
    b.addressType = 'IPv6';
    b.endpoints = [];
    expect(fields(validateUpdate(R('endpointslices'), a, b))).toEqual(['FieldValueInvalid addressType']);
  });
});

describe('Endpoints', () => {
  it('rejects malformed and loopback addresses', () => {
    const e = make('Endpoints', 'v1', (o) => {
      o.subsets = [
        { addresses: [{ ip: '10.244.1.5' }, { ip: '127.0.0.1' }, { ip: '10.244.1' }], ports: [{ port: 80 }] },
      ];
    });
    expect(fields(check('endpoints', e))).toEqual([
      'FieldValueInvalid subsets[0].addresses[1].ip',
      'FieldValueInvalid subsets[0].addresses[2].ip',
    ]);
  });
});

describe('Ingress', () => {
  const ing = (fill: (sp: any) => void) =>
    make('Ingress', 'networking.k8s.io/v1', (o) => {
      o.spec = {
        rules: [
          {
            host: 'web.example.com',
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
      };
      fill(o.spec);
    });
  it('accepts a valid ingress', () => {
    expect(
      check(
        'ing',
        ing(() => {}),
      ),
    ).toEqual([]);
    expect(
      check(
        'ing',
        ing((sp) => (sp.rules[0].host = '*.example.com')),
      ),
    ).toEqual([]);
  });
  it('checks paths, pathType, hosts and backends', () => {
    const i = ing((sp) => {
      sp.rules[0].host = 'a.*.example.com';
      sp.rules[0].http.paths.push(
        {
          path: 'api',
          pathType: 'Prefix',
          backend: { service: { name: 'api', port: { name: 'http', number: 80 } } },
        },
        { path: '/x', backend: { service: { name: 'api', port: {} } } },
        { path: '/y', pathType: 'Regex', backend: { service: { name: 'api', port: { number: 80 } } } },
      );
      sp.rules.push({ host: '10.0.0.1' });
    });
    expect(fields(check('ing', i))).toEqual([
      'FieldValueInvalid spec.rules[0].host',
      'FieldValueInvalid spec.rules[0].http.paths[1].path',
      'FieldValueInvalid spec.rules[0].http.paths[1].backend.service.port',
      'FieldValueRequired spec.rules[0].http.paths[2].pathType',
      'FieldValueInvalid spec.rules[0].http.paths[2].backend.service.port',
      'FieldValueNotSupported spec.rules[0].http.paths[3].pathType',
      'FieldValueInvalid spec.rules[1].host',
    ]);
    const empty = ing((sp) => (sp.rules = []));
    expect(check('ing', empty)[0]!.message).toContain('either `defaultBackend` or `rules` must be specified');
  });
});

describe('other kinds', () => {
  it('NetworkPolicy: ipBlock except must be inside cidr; endPort needs a numeric port', () => {
    const np = make('NetworkPolicy', 'networking.k8s.io/v1', (o) => {
      o.spec = {
        podSelector: {},
        ingress: [
          { from: [{ ipBlock: { cidr: '10.244.0.0/16', except: ['10.245.0.0/24', '10.244.1.0/24'] } }] },
        ],
        egress: [{ ports: [{ port: 'dns', endPort: 60 }] }],
      };
    });
    expect(fields(check('netpol', np))).toEqual([
      'FieldValueInvalid spec.ingress[0].from[0].ipBlock.except[0]',
      'FieldValueRequired spec.egress[0].ports[0].port',
    ]);
  });

  it('Node: podCIDR valid and immutable once set', () => {
    const n = make(
      'Node',
      'v1',
      (o) => (o.spec = { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'] }),
      false,
    );
    expect(check('nodes', n)).toEqual([]);
    const n2 = structuredClone(n) as any;
    n2.spec.podCIDR = '10.244.2.0/24';
    n2.spec.podCIDRs = ['10.244.2.0/24'];
    expect(fields(validateUpdate(R('nodes'), n, n2))).toEqual([
      'FieldValueForbidden spec.podCIDR',
      'FieldValueForbidden spec.podCIDRs',
    ]);
    (n2 as any).spec.podCIDR = '10.244.300.0/24';
    expect(fields(check('nodes', n2))).toContain('FieldValueInvalid spec.podCIDR');
  });

  it('ConfigMap/Secret keys, base64 and immutability', () => {
    const cm = make('ConfigMap', 'v1', (o) => (o.data = { 'good.key': 'x', 'bad/key': 'y' }));
    expect(fields(check('cm', cm))).toEqual(['FieldValueInvalid data[bad/key]']);
    const sec = make('Secret', 'v1', (o) => {
      o.type = 'kubernetes.io/tls';
      o.data = { 'tls.crt': 'not base64!' };
    });
    expect(fields(check('secrets', sec))).toEqual([
      'FieldValueInvalid data[tls.crt]',
      'FieldValueRequired data[tls.key]',
    ]);
    const im = make('ConfigMap', 'v1', (o) => {
      o.data = { a: '1' };
      o.immutable = true;
    });
    const im2 = structuredClone(im) as any;
    im2.data.a = '2';
    expect(fields(validateUpdate(R('cm'), im, im2))).toEqual(['FieldValueForbidden data']);
  });
});

describe('validateOrThrow', () => {
  it('throws a 422 Invalid Status with causes', () => {
    const s = makeService((sp) => (sp.ports = [{ port: 80, protocol: 'ICMP' }]));
    applyDefaults(R('svc'), s);
    try {
      validateOrThrow(R('svc'), s);
      throw new Error('expected to throw');
    } catch (e) {
      expect(e).toBeInstanceOf(ApiError);
      const err = e as ApiError;
      expect(err.code).toBe(422);
      expect(err.reason).toBe('Invalid');
      expect(err.message).toBe(
        'Service "web" is invalid: spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
      );
      expect(err.status.details?.causes).toHaveLength(1);
    }
  });
});
