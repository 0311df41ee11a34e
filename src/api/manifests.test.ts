// Realistic manifests, as users write them, must pass defaulting + validation untouched.
// Addresses: node LAN 172.31.0.0/24, pods 10.244.0.0/16, services 10.96.0.0/12.
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { applyDefaults } from './defaults.ts';
import { resourceForKind } from './resources.ts';
import { prepareForCreate } from './strategy.ts';
import type { KubeObject } from './types.ts';
import { validate } from './validation.ts';

const MANIFESTS = `
apiVersion: v1
kind: Namespace
metadata: { name: demo }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: hello, namespace: demo, labels: { app: hello } }
spec:
  replicas: 3
  selector: { matchLabels: { app: hello } }
  strategy: { rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }
  template:
    metadata: { labels: { app: hello, version: v1 } }
    spec:
      containers:
        - name: echo
          image: registry.k8s.io/e2e-test-images/agnhost:2.39
          args: ["netexec", "--http-port=8080"]
          ports: [{ name: http, containerPort: 8080 }, { name: udp, containerPort: 8081, protocol: UDP }]
          env:
            - { name: POD_IP, valueFrom: { fieldRef: { fieldPath: status.podIP } } }
            - { name: MODE, value: "fast" }
          resources: { requests: { cpu: 100m, memory: 64Mi }, limits: { cpu: "1", memory: 128Mi } }
          readinessProbe: { httpGet: { path: /healthz, port: http }, periodSeconds: 2 }
          livenessProbe: { tcpSocket: { port: 8080 }, initialDelaySeconds: 5 }
          volumeMounts: [{ name: cfg, mountPath: /etc/cfg, readOnly: true }]
      volumes: [{ name: cfg, configMap: { name: hello-cfg } }]
      nodeSelector: { kubernetes.io/os: linux }
      tolerations: [{ key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule }]
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 50
              podAffinityTerm: { topologyKey: kubernetes.io/hostname, labelSelector: { matchLabels: { app: hello } } }
      readinessGates: [{ conditionType: example.com/ready }]
---
apiVersion: v1
kind: ConfigMap
metadata: { name: hello-cfg, namespace: demo }
data: { app.conf: "x=1", MODE: fast }
---
apiVersion: v1
kind: Secret
metadata: { name: creds, namespace: demo }
stringData: { password: hunter2 }
---
apiVersion: v1
kind: Service
metadata: { name: hello, namespace: demo }
spec:
  selector: { app: hello }
  ports: [{ name: http, port: 80, targetPort: http }]
---
apiVersion: v1
kind: Service
metadata: { name: hello-np, namespace: demo }
spec:
  type: NodePort
  externalTrafficPolicy: Local
  sessionAffinity: ClientIP
  selector: { app: hello }
  ports: [{ port: 80, targetPort: 8080, nodePort: 30080 }]
---
apiVersion: v1
kind: Service
metadata: { name: hello-lb, namespace: demo }
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  healthCheckNodePort: 32000
  loadBalancerIP: 172.31.0.200
  loadBalancerSourceRanges: [172.31.0.0/24]
  selector: { app: hello }
  ports: [{ name: http, port: 80 }, { name: dns, port: 53, protocol: UDP }]
---
apiVersion: v1
kind: Service
metadata: { name: hello-headless, namespace: demo }
spec: { clusterIP: None, selector: { app: hello }, publishNotReadyAddresses: true }
---
apiVersion: v1
kind: Service
metadata: { name: ext, namespace: demo }
spec: { type: ExternalName, externalName: db.example.com }
---
apiVersion: v1
kind: Service
metadata: { name: with-ext-ip, namespace: demo }
spec:
  externalIPs: [172.31.0.100]
  internalTrafficPolicy: Local
  ports: [{ port: 8080 }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: hello-abc12, namespace: demo, labels: { kubernetes.io/service-name: hello } }
addressType: IPv4
ports: [{ name: http, port: 8080, protocol: TCP }]
endpoints:
  - addresses: [10.244.1.5]
    conditions: { ready: true, serving: true, terminating: false }
    nodeName: node-1
    zone: zone-a
    targetRef: { kind: Pod, namespace: demo, name: hello-1 }
---
apiVersion: v1
kind: Endpoints
metadata: { name: hello, namespace: demo }
subsets:
  - addresses: [{ ip: 10.244.1.5, nodeName: node-1 }]
    notReadyAddresses: [{ ip: 10.244.2.7 }]
    ports: [{ name: http, port: 8080 }]
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: { name: podnet, annotations: { ingressclass.kubernetes.io/is-default-class: "true" } }
spec: { controller: podnet.dev/ingress }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: hello, namespace: demo }
spec:
  ingressClassName: podnet
  tls: [{ hosts: [hello.example], secretName: hello-tls }]
  rules:
    - host: hello.example
      http:
        paths:
          - { path: /, pathType: Prefix, backend: { service: { name: hello, port: { name: http } } } }
          - { path: /exact, pathType: Exact, backend: { service: { name: hello, port: { number: 80 } } } }
    - host: "*.wild.example"
      http:
        paths: [{ path: /, pathType: ImplementationSpecific, backend: { service: { name: hello, port: { number: 80 } } } }]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: allow-web, namespace: demo }
spec:
  podSelector: { matchLabels: { app: hello } }
  ingress:
    - from:
        - podSelector: { matchExpressions: [{ key: role, operator: In, values: [frontend] }] }
          namespaceSelector: { matchLabels: { team: web } }
        - ipBlock: { cidr: 172.31.0.0/24, except: [172.31.0.128/25] }
      ports: [{ port: 8080 }, { protocol: UDP, port: 5000, endPort: 5010 }]
---
apiVersion: v1
kind: Node
metadata: { name: node-1, labels: { kubernetes.io/hostname: node-1 } }
spec: { podCIDR: 10.244.1.0/24, podCIDRs: [10.244.1.0/24] }
status:
  addresses: [{ type: InternalIP, address: 172.31.0.11 }, { type: Hostname, address: node-1 }]
  capacity: { cpu: "4", memory: 8Gi, pods: "110" }
---
apiVersion: v1
kind: Pod
metadata: { name: client, namespace: demo }
spec:
  restartPolicy: Never
  dnsPolicy: None
  dnsConfig: { nameservers: [10.96.0.10], searches: [demo.svc.cluster.local, svc.cluster.local], options: [{ name: ndots, value: "5" }] }
  hostAliases: [{ ip: 172.31.0.1, hostnames: [gateway.local] }]
  initContainers: [{ name: init, image: busybox, command: [sh, -c, "true"] }]
  containers: [{ name: c, image: busybox, command: [sleep, "3600"] }]
---
apiVersion: v1
kind: Event
metadata: { name: hello.1234, namespace: demo }
involvedObject: { kind: Pod, namespace: demo, name: hello-1 }
reason: Scheduled
message: assigned
type: Normal
source: { component: default-scheduler }
`;

describe('realistic manifests', () => {
  const docs = parseAllDocuments(MANIFESTS).map((d) => d.toJS() as KubeObject);
  it.each(docs.map((d) => [`${d.kind}/${d.metadata.name}`, d] as const))(
    '%s is valid after defaulting',
    (_n, doc) => {
      const res = resourceForKind(doc.apiVersion, doc.kind);
      expect(res).toBeDefined();
      const o = structuredClone(doc);
      prepareForCreate(res!, o);
      applyDefaults(res!, o);
      expect(validate(res!, o)).toEqual([]);
    },
  );
});
