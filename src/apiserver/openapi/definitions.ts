/**
 * The schema definitions of the OpenAPI v2 document: every kind podnet serves, under upstream's
 * names (`io.k8s.api.core.v1.Pod`, `io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`), with the
 * fields people write in ordinary manifests. kubectl validates a manifest against these (an unknown
 * field is an error) and reads the `x-kubernetes-patch-*` extensions to build strategic merge
 * patches, so field names, list merge keys and required fields follow upstream.
 *
 * Subtrees podnet does not model (affinity, security contexts, most volume sources, …) are
 * "arbitrary" schemas: no `type` and no `properties`. Every version of kube-openapi's proto parser
 * (pkg/util/proto) turns that shape into an Arbitrary value, which its validator accepts whatever it
 * holds. `type: object` without properties is parsed as a map instead: kubectl 1.20 accepts any
 * keys there too, but older parsers reject a map without `additionalProperties`.
 */

type Schema = Record<string, unknown>;

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const CORE = 'io.k8s.api.core.v1';
const APPS = 'io.k8s.api.apps.v1';
const NET = 'io.k8s.api.networking.v1';
const DISC = 'io.k8s.api.discovery.v1';
const AUTOSCALING = 'io.k8s.api.autoscaling.v1';
const INTSTR = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';
const QUANTITY = 'io.k8s.apimachinery.pkg.api.resource.Quantity';
const TIME = `${META}.Time`;
const MICROTIME = `${META}.MicroTime`;
const OBJECT_META = `${META}.ObjectMeta`;
const LIST_META = `${META}.ListMeta`;
const LABEL_SELECTOR = `${META}.LabelSelector`;

/** Upstream definition names of the kinds the document defines, by `group/version/Kind`. */
export const KIND_DEFINITIONS: Record<string, string> = {};

// --- small schema builders -------------------------------------------------------------------

const str = (description?: string): Schema => ({ type: 'string', ...(description ? { description } : {}) });
const int32: Schema = { type: 'integer', format: 'int32' };
const int64: Schema = { type: 'integer', format: 'int64' };
const bool: Schema = { type: 'boolean' };
const ref = (name: string, description?: string): Schema => ({
  $ref: `#/definitions/${name}`,
  ...(description ? { description } : {}),
});
const strMap: Schema = { type: 'object', additionalProperties: { type: 'string' } };
const quantityMap: Schema = { type: 'object', additionalProperties: ref(QUANTITY) };
const strList: Schema = { type: 'array', items: { type: 'string' } };
/** Accepts any value: kube-openapi parses a schema without type or properties as Arbitrary. */
const anything = (description = 'Not modelled by podnet; any value is accepted.'): Schema => ({
  description,
});

interface ListOpts {
  /** `x-kubernetes-patch-merge-key` */
  mergeKey?: string;
  /** `x-kubernetes-patch-strategy` */
  strategy?: string;
  /** `x-kubernetes-list-type` */
  listType?: 'atomic' | 'map' | 'set';
  /** `x-kubernetes-list-map-keys` */
  mapKeys?: string[];
}

function list(items: Schema, o: ListOpts = {}): Schema {
  const s: Schema = { type: 'array', items };
  if (o.listType) s['x-kubernetes-list-type'] = o.listType;
  if (o.mapKeys) s['x-kubernetes-list-map-keys'] = o.mapKeys;
  if (o.mergeKey) s['x-kubernetes-patch-merge-key'] = o.mergeKey;
  if (o.strategy) s['x-kubernetes-patch-strategy'] = o.strategy;
  return s;
}

function obj(description: string, properties: Record<string, Schema>, required?: string[]): Schema {
  return {
    description,
    type: 'object',
    properties,
    ...(required?.length ? { required } : {}),
  };
}

const defs: Record<string, Schema> = {};

function def(name: string, schema: Schema): void {
  if (defs[name]) throw new Error(`openapi: definition ${name} declared twice`);
  defs[name] = schema;
}

/** apiVersion/kind/metadata, the envelope every top-level object carries. */
function envelope(listMeta = false): Record<string, Schema> {
  return {
    apiVersion: str('APIVersion defines the versioned schema of this representation of an object.'),
    kind: str('Kind is a string value representing the REST resource this object represents.'),
    metadata: ref(listMeta ? LIST_META : OBJECT_META, 'Standard object metadata.'),
  };
}

/**
 * Declares a top-level kind and its List, both carrying `x-kubernetes-group-version-kind` (which is
 * how kubectl finds the schema for an object's apiVersion + kind).
 */
function kind(
  name: string,
  gv: { group: string; version: string },
  kindName: string,
  description: string,
  props: Record<string, Schema>,
  opts: { required?: string[]; noList?: boolean } = {},
): void {
  def(name, {
    ...obj(description, { ...envelope(), ...props }, opts.required),
    'x-kubernetes-group-version-kind': [{ group: gv.group, kind: kindName, version: gv.version }],
  });
  KIND_DEFINITIONS[`${gv.group}/${gv.version}/${kindName}`] = name;
  if (opts.noList) return;
  def(`${name}List`, {
    ...obj(
      `${kindName}List is a list of ${kindName} objects.`,
      {
        apiVersion: str('APIVersion defines the versioned schema of this representation of an object.'),
        items: list(ref(name), {}),
        kind: str('Kind is a string value representing the REST resource this object represents.'),
        metadata: ref(LIST_META, 'Standard list metadata.'),
      },
      ['items'],
    ),
    'x-kubernetes-group-version-kind': [{ group: gv.group, kind: `${kindName}List`, version: gv.version }],
  });
  KIND_DEFINITIONS[`${gv.group}/${gv.version}/${kindName}List`] = `${name}List`;
}

const core = { group: '', version: 'v1' };
const apps = { group: 'apps', version: 'v1' };
const networking = { group: 'networking.k8s.io', version: 'v1' };
const discovery = { group: 'discovery.k8s.io', version: 'v1' };

// --- apimachinery ----------------------------------------------------------------------------

def(INTSTR, {
  description: 'An int32 or a string (a port number or a port name, a count or a percentage).',
  type: 'string',
  format: 'int-or-string',
});
def(QUANTITY, { description: 'A fixed-point number with an optional suffix: 100m, 1Gi, 2.', type: 'string' });
def(TIME, {
  description: 'An RFC 3339 timestamp with second precision.',
  type: 'string',
  format: 'date-time',
});
def(MICROTIME, {
  description: 'An RFC 3339 timestamp with microsecond precision.',
  type: 'string',
  format: 'date-time',
});
def(
  `${META}.OwnerReference`,
  obj(
    'Identifies an owning object; the owned object is garbage collected with it.',
    {
      apiVersion: str(),
      blockOwnerDeletion: bool,
      controller: bool,
      kind: str(),
      name: str(),
      uid: str(),
    },
    ['apiVersion', 'kind', 'name', 'uid'],
  ),
);
def(
  `${META}.ManagedFieldsEntry`,
  obj('Which manager owns which fields of the object (server-side apply).', {
    apiVersion: str(),
    fieldsType: str(),
    fieldsV1: anything('The set of owned fields.'),
    manager: str(),
    operation: str(),
    subresource: str(),
    time: ref(TIME),
  }),
);
def(
  OBJECT_META,
  obj('Metadata every persisted object has: name, namespace, labels, annotations, owners, …', {
    annotations: strMap,
    clusterName: str(),
    creationTimestamp: ref(TIME),
    deletionGracePeriodSeconds: int64,
    deletionTimestamp: ref(TIME),
    finalizers: list({ type: 'string' }, { strategy: 'merge' }),
    generateName: str('A prefix the server completes into a unique name when `name` is empty.'),
    generation: int64,
    labels: strMap,
    managedFields: list(ref(`${META}.ManagedFieldsEntry`)),
    name: str('Unique within a namespace.'),
    namespace: str(),
    ownerReferences: list(ref(`${META}.OwnerReference`), { mergeKey: 'uid', strategy: 'merge' }),
    resourceVersion: str(),
    selfLink: str(),
    uid: str(),
  }),
);
def(
  LIST_META,
  obj('Metadata of a list: resourceVersion to watch from, continue token.', {
    continue: str(),
    remainingItemCount: int64,
    resourceVersion: str(),
    selfLink: str(),
  }),
);
def(
  `${META}.LabelSelectorRequirement`,
  obj(
    'A label key, an operator (In, NotIn, Exists, DoesNotExist) and values.',
    {
      key: str(),
      operator: str(),
      values: strList,
    },
    ['key', 'operator'],
  ),
);
def(
  LABEL_SELECTOR,
  obj('Selects objects by labels; matchLabels and matchExpressions are ANDed.', {
    matchExpressions: list(ref(`${META}.LabelSelectorRequirement`)),
    matchLabels: strMap,
  }),
);
def(`${META}.StatusCause`, obj('One cause of an error.', { field: str(), message: str(), reason: str() }));
def(
  `${META}.StatusDetails`,
  obj('Details of an error.', {
    causes: list(ref(`${META}.StatusCause`)),
    group: str(),
    kind: str(),
    name: str(),
    retryAfterSeconds: int32,
    uid: str(),
  }),
);
def(`${META}.Status`, {
  ...obj('The result of an operation that returns no object, most often an error.', {
    apiVersion: str(),
    code: int32,
    details: ref(`${META}.StatusDetails`),
    kind: str(),
    message: str(),
    metadata: ref(LIST_META),
    reason: str(),
    status: str(),
  }),
  'x-kubernetes-group-version-kind': [{ group: '', kind: 'Status', version: 'v1' }],
});
def(
  `${META}.Preconditions`,
  obj('Must hold for a delete to proceed.', { resourceVersion: str(), uid: str() }),
);
def(`${META}.DeleteOptions`, {
  ...obj('Options of a DELETE request.', {
    apiVersion: str(),
    dryRun: strList,
    gracePeriodSeconds: int64,
    kind: str(),
    orphanDependents: bool,
    preconditions: ref(`${META}.Preconditions`),
    propagationPolicy: str('Orphan, Background or Foreground.'),
  }),
  'x-kubernetes-group-version-kind': [
    { group: '', kind: 'DeleteOptions', version: 'v1' },
    { group: 'apps', kind: 'DeleteOptions', version: 'v1' },
    { group: 'autoscaling', kind: 'DeleteOptions', version: 'v1' },
    { group: 'discovery.k8s.io', kind: 'DeleteOptions', version: 'v1' },
    { group: 'networking.k8s.io', kind: 'DeleteOptions', version: 'v1' },
  ],
});

// --- core/v1: references and small shared types ----------------------------------------------

def(
  `${CORE}.ObjectReference`,
  obj('A reference to another object.', {
    apiVersion: str(),
    fieldPath: str(),
    kind: str(),
    name: str(),
    namespace: str(),
    resourceVersion: str(),
    uid: str(),
  }),
);
def(`${CORE}.LocalObjectReference`, obj('A reference to an object in the same namespace.', { name: str() }));
def(
  `${CORE}.TypedLocalObjectReference`,
  obj(
    'A typed reference to an object in the same namespace.',
    { apiGroup: str(), kind: str(), name: str() },
    ['kind', 'name'],
  ),
);

// --- core/v1: containers ---------------------------------------------------------------------

def(
  `${CORE}.ContainerPort`,
  obj(
    'A port a container listens on.',
    { containerPort: int32, hostIP: str(), hostPort: int32, name: str(), protocol: str('TCP, UDP or SCTP.') },
    ['containerPort'],
  ),
);
def(
  `${CORE}.ConfigMapKeySelector`,
  obj('A key of a ConfigMap.', { key: str(), name: str(), optional: bool }, ['key']),
);
def(
  `${CORE}.SecretKeySelector`,
  obj('A key of a Secret.', { key: str(), name: str(), optional: bool }, ['key']),
);
def(
  `${CORE}.ObjectFieldSelector`,
  obj('A field of the pod (downward API).', { apiVersion: str(), fieldPath: str() }, ['fieldPath']),
);
def(
  `${CORE}.ResourceFieldSelector`,
  obj(
    'A resource of a container (downward API).',
    {
      containerName: str(),
      divisor: ref(QUANTITY),
      resource: str(),
    },
    ['resource'],
  ),
);
def(
  `${CORE}.EnvVarSource`,
  obj('Where an environment variable takes its value from.', {
    configMapKeyRef: ref(`${CORE}.ConfigMapKeySelector`),
    fieldRef: ref(`${CORE}.ObjectFieldSelector`),
    resourceFieldRef: ref(`${CORE}.ResourceFieldSelector`),
    secretKeyRef: ref(`${CORE}.SecretKeySelector`),
  }),
);
def(
  `${CORE}.EnvVar`,
  obj('An environment variable.', { name: str(), value: str(), valueFrom: ref(`${CORE}.EnvVarSource`) }, [
    'name',
  ]),
);
def(
  `${CORE}.ConfigMapEnvSource`,
  obj('Every key of a ConfigMap as a variable.', { name: str(), optional: bool }),
);
def(`${CORE}.SecretEnvSource`, obj('Every key of a Secret as a variable.', { name: str(), optional: bool }));
def(
  `${CORE}.EnvFromSource`,
  obj('A source of several environment variables.', {
    configMapRef: ref(`${CORE}.ConfigMapEnvSource`),
    prefix: str(),
    secretRef: ref(`${CORE}.SecretEnvSource`),
  }),
);
def(`${CORE}.ExecAction`, obj('Run a command in the container.', { command: strList }));
def(`${CORE}.HTTPHeader`, obj('An HTTP header.', { name: str(), value: str() }, ['name', 'value']));
def(
  `${CORE}.HTTPGetAction`,
  obj(
    'An HTTP GET against the container.',
    {
      host: str(),
      httpHeaders: list(ref(`${CORE}.HTTPHeader`)),
      path: str(),
      port: ref(INTSTR),
      scheme: str('HTTP or HTTPS.'),
    },
    ['port'],
  ),
);
def(
  `${CORE}.TCPSocketAction`,
  obj('A TCP connection to the container.', { host: str(), port: ref(INTSTR) }, ['port']),
);
def(`${CORE}.GRPCAction`, obj('A gRPC health check.', { port: int32, service: str() }, ['port']));
def(
  `${CORE}.Probe`,
  obj('A health check run against a container.', {
    exec: ref(`${CORE}.ExecAction`),
    failureThreshold: int32,
    grpc: ref(`${CORE}.GRPCAction`),
    httpGet: ref(`${CORE}.HTTPGetAction`),
    initialDelaySeconds: int32,
    periodSeconds: int32,
    successThreshold: int32,
    tcpSocket: ref(`${CORE}.TCPSocketAction`),
    terminationGracePeriodSeconds: int64,
    timeoutSeconds: int32,
  }),
);
def(
  `${CORE}.ResourceRequirements`,
  obj('Compute resources a container requests and is limited to.', {
    claims: list(anything(), { listType: 'map', mapKeys: ['name'] }),
    limits: quantityMap,
    requests: quantityMap,
  }),
);
def(
  `${CORE}.VolumeMount`,
  obj(
    'Where a volume is mounted in the container.',
    {
      mountPath: str(),
      mountPropagation: str(),
      name: str(),
      readOnly: bool,
      recursiveReadOnly: str(),
      subPath: str(),
      subPathExpr: str(),
    },
    ['name', 'mountPath'],
  ),
);
def(
  `${CORE}.Container`,
  obj(
    'A container of a pod. podnet runs its command as a process in the pod network namespace.',
    {
      args: strList,
      command: strList,
      env: list(ref(`${CORE}.EnvVar`), { mergeKey: 'name', strategy: 'merge' }),
      envFrom: list(ref(`${CORE}.EnvFromSource`)),
      image: str(),
      imagePullPolicy: str(),
      lifecycle: anything(),
      livenessProbe: ref(`${CORE}.Probe`),
      name: str('Unique within the pod.'),
      ports: list(ref(`${CORE}.ContainerPort`), {
        listType: 'map',
        mapKeys: ['containerPort', 'protocol'],
        mergeKey: 'containerPort',
        strategy: 'merge',
      }),
      readinessProbe: ref(`${CORE}.Probe`),
      resizePolicy: list(anything(), { listType: 'atomic' }),
      resources: ref(`${CORE}.ResourceRequirements`),
      restartPolicy: str(),
      securityContext: anything(),
      startupProbe: ref(`${CORE}.Probe`),
      stdin: bool,
      stdinOnce: bool,
      terminationMessagePath: str(),
      terminationMessagePolicy: str(),
      tty: bool,
      volumeDevices: list(anything(), { mergeKey: 'devicePath', strategy: 'merge' }),
      volumeMounts: list(ref(`${CORE}.VolumeMount`), { mergeKey: 'mountPath', strategy: 'merge' }),
      workingDir: str(),
    },
    ['name'],
  ),
);

// --- core/v1: pods ---------------------------------------------------------------------------

const VOLUME_SOURCES = [
  'awsElasticBlockStore',
  'azureDisk',
  'azureFile',
  'cephfs',
  'cinder',
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'fc',
  'flexVolume',
  'flocker',
  'gcePersistentDisk',
  'gitRepo',
  'glusterfs',
  'hostPath',
  'image',
  'iscsi',
  'nfs',
  'persistentVolumeClaim',
  'photonPersistentDisk',
  'portworxVolume',
  'projected',
  'quobyte',
  'rbd',
  'scaleIO',
  'secret',
  'storageos',
  'vsphereVolume',
];
def(
  `${CORE}.Volume`,
  obj(
    'A named volume of a pod. podnet records volumes but does not mount them.',
    { name: str(), ...Object.fromEntries(VOLUME_SOURCES.map((v) => [v, anything()])) },
    ['name'],
  ),
);
def(
  `${CORE}.Toleration`,
  obj('Lets a pod schedule onto a node with a matching taint.', {
    effect: str(),
    key: str(),
    operator: str(),
    tolerationSeconds: int64,
    value: str(),
  }),
);
def(`${CORE}.HostAlias`, obj('An /etc/hosts entry.', { hostnames: strList, ip: str() }, ['ip']));
def(`${CORE}.PodDNSConfigOption`, obj('A resolver option.', { name: str(), value: str() }));
def(
  `${CORE}.PodDNSConfig`,
  obj('DNS settings merged into the pod resolv.conf.', {
    nameservers: strList,
    options: list(ref(`${CORE}.PodDNSConfigOption`)),
    searches: strList,
  }),
);
def(
  `${CORE}.PodReadinessGate`,
  obj('An extra condition for pod readiness.', { conditionType: str() }, ['conditionType']),
);
def(
  `${CORE}.PodSpec`,
  obj(
    'The desired behaviour of a pod.',
    {
      activeDeadlineSeconds: int64,
      affinity: anything(),
      automountServiceAccountToken: bool,
      containers: list(ref(`${CORE}.Container`), { mergeKey: 'name', strategy: 'merge' }),
      dnsConfig: ref(`${CORE}.PodDNSConfig`),
      dnsPolicy: str('ClusterFirst, ClusterFirstWithHostNet, Default or None.'),
      enableServiceLinks: bool,
      ephemeralContainers: list(anything(), { mergeKey: 'name', strategy: 'merge' }),
      hostAliases: list(ref(`${CORE}.HostAlias`), { mergeKey: 'ip', strategy: 'merge' }),
      hostIPC: bool,
      hostNetwork: bool,
      hostPID: bool,
      hostUsers: bool,
      hostname: str(),
      imagePullSecrets: list(ref(`${CORE}.LocalObjectReference`), { mergeKey: 'name', strategy: 'merge' }),
      initContainers: list(ref(`${CORE}.Container`), { mergeKey: 'name', strategy: 'merge' }),
      nodeName: str(),
      nodeSelector: strMap,
      os: anything(),
      overhead: quantityMap,
      preemptionPolicy: str(),
      priority: int32,
      priorityClassName: str(),
      readinessGates: list(ref(`${CORE}.PodReadinessGate`)),
      resourceClaims: list(anything(), { mergeKey: 'name', strategy: 'merge,retainKeys' }),
      restartPolicy: str('Always, OnFailure or Never.'),
      runtimeClassName: str(),
      schedulerName: str(),
      schedulingGates: list(anything(), { mergeKey: 'name', strategy: 'merge' }),
      securityContext: anything(),
      serviceAccount: str(),
      serviceAccountName: str(),
      setHostnameAsFQDN: bool,
      shareProcessNamespace: bool,
      subdomain: str(),
      terminationGracePeriodSeconds: int64,
      tolerations: list(ref(`${CORE}.Toleration`)),
      topologySpreadConstraints: list(anything(), { mergeKey: 'topologyKey', strategy: 'merge' }),
      volumes: list(ref(`${CORE}.Volume`), { mergeKey: 'name', strategy: 'merge,retainKeys' }),
    },
    ['containers'],
  ),
);
def(
  `${CORE}.PodCondition`,
  obj(
    'A condition of a pod (PodScheduled, Initialized, ContainersReady, Ready).',
    {
      lastProbeTime: ref(TIME),
      lastTransitionTime: ref(TIME),
      message: str(),
      reason: str(),
      status: str(),
      type: str(),
    },
    ['type', 'status'],
  ),
);
def(`${CORE}.ContainerStateRunning`, obj('A running container.', { startedAt: ref(TIME) }));
def(
  `${CORE}.ContainerStateTerminated`,
  obj(
    'A container that exited.',
    {
      containerID: str(),
      exitCode: int32,
      finishedAt: ref(TIME),
      message: str(),
      reason: str(),
      signal: int32,
      startedAt: ref(TIME),
    },
    ['exitCode'],
  ),
);
def(`${CORE}.ContainerStateWaiting`, obj('A container not yet running.', { message: str(), reason: str() }));
def(
  `${CORE}.ContainerState`,
  obj('Exactly one of running, terminated, waiting.', {
    running: ref(`${CORE}.ContainerStateRunning`),
    terminated: ref(`${CORE}.ContainerStateTerminated`),
    waiting: ref(`${CORE}.ContainerStateWaiting`),
  }),
);
def(
  `${CORE}.ContainerStatus`,
  obj(
    'The observed state of one container.',
    {
      allocatedResources: quantityMap,
      allocatedResourcesStatus: list(anything()),
      containerID: str(),
      image: str(),
      imageID: str(),
      lastState: ref(`${CORE}.ContainerState`),
      name: str(),
      ready: bool,
      resources: ref(`${CORE}.ResourceRequirements`),
      restartCount: int32,
      started: bool,
      state: ref(`${CORE}.ContainerState`),
      user: anything(),
      volumeMounts: list(anything()),
    },
    ['name', 'ready', 'restartCount', 'image', 'imageID'],
  ),
);
def(`${CORE}.PodIP`, obj('An IP address of a pod.', { ip: str() }));
def(`${CORE}.HostIP`, obj('An IP address of the node a pod runs on.', { ip: str() }));
def(
  `${CORE}.PodStatus`,
  obj('The observed state of a pod.', {
    conditions: list(ref(`${CORE}.PodCondition`), { mergeKey: 'type', strategy: 'merge' }),
    containerStatuses: list(ref(`${CORE}.ContainerStatus`)),
    ephemeralContainerStatuses: list(ref(`${CORE}.ContainerStatus`)),
    hostIP: str(),
    hostIPs: list(ref(`${CORE}.HostIP`), { mergeKey: 'ip', strategy: 'merge' }),
    initContainerStatuses: list(ref(`${CORE}.ContainerStatus`)),
    message: str(),
    nominatedNodeName: str(),
    phase: str('Pending, Running, Succeeded, Failed or Unknown.'),
    podIP: str(),
    podIPs: list(ref(`${CORE}.PodIP`), { mergeKey: 'ip', strategy: 'merge' }),
    qosClass: str(),
    reason: str(),
    resize: str(),
    resourceClaimStatuses: list(anything()),
    startTime: ref(TIME),
  }),
);
def(
  `${CORE}.PodTemplateSpec`,
  obj('The pods a workload controller creates.', {
    metadata: ref(OBJECT_META),
    spec: ref(`${CORE}.PodSpec`),
  }),
);
kind(`${CORE}.Pod`, core, 'Pod', 'A group of containers sharing one network namespace (one IP).', {
  spec: ref(`${CORE}.PodSpec`),
  status: ref(`${CORE}.PodStatus`),
});

kind(
  `${CORE}.Binding`,
  core,
  'Binding',
  'Binds a pod to a node (the body of POST pods/<name>/binding, sent by the scheduler).',
  { target: ref(`${CORE}.ObjectReference`) },
  { required: ['target'], noList: true },
);

// --- core/v1: namespaces and nodes -----------------------------------------------------------

def(`${CORE}.NamespaceSpec`, obj('Namespace finalizers.', { finalizers: strList }));
def(
  `${CORE}.NamespaceCondition`,
  obj(
    'A namespace condition.',
    {
      lastTransitionTime: ref(TIME),
      message: str(),
      reason: str(),
      status: str(),
      type: str(),
    },
    ['type', 'status'],
  ),
);
def(
  `${CORE}.NamespaceStatus`,
  obj('The observed state of a namespace.', {
    conditions: list(ref(`${CORE}.NamespaceCondition`), { mergeKey: 'type', strategy: 'merge' }),
    phase: str('Active or Terminating.'),
  }),
);
kind(`${CORE}.Namespace`, core, 'Namespace', 'A scope for names.', {
  spec: ref(`${CORE}.NamespaceSpec`),
  status: ref(`${CORE}.NamespaceStatus`),
});
def(
  `${CORE}.Taint`,
  obj(
    'Repels pods that do not tolerate it.',
    { effect: str(), key: str(), timeAdded: ref(TIME), value: str() },
    ['key', 'effect'],
  ),
);
def(
  `${CORE}.NodeSpec`,
  obj('The desired state of a node.', {
    configSource: anything(),
    externalID: str(),
    podCIDR: str('The pod IP range of this node.'),
    podCIDRs: list({ type: 'string' }, { strategy: 'merge' }),
    providerID: str(),
    taints: list(ref(`${CORE}.Taint`)),
    unschedulable: bool,
  }),
);
def(
  `${CORE}.NodeAddress`,
  obj('An address of a node.', { address: str(), type: str() }, ['type', 'address']),
);
def(
  `${CORE}.NodeCondition`,
  obj(
    'A node condition (Ready, …).',
    {
      lastHeartbeatTime: ref(TIME),
      lastTransitionTime: ref(TIME),
      message: str(),
      reason: str(),
      status: str(),
      type: str(),
    },
    ['type', 'status'],
  ),
);
def(
  `${CORE}.NodeSystemInfo`,
  obj('Versions and identifiers reported by the node.', {
    architecture: str(),
    bootID: str(),
    containerRuntimeVersion: str(),
    kernelVersion: str(),
    kubeProxyVersion: str(),
    kubeletVersion: str(),
    machineID: str(),
    operatingSystem: str(),
    osImage: str(),
    swap: anything(),
    systemUUID: str(),
  }),
);
def(
  `${CORE}.NodeStatus`,
  obj('The observed state of a node.', {
    addresses: list(ref(`${CORE}.NodeAddress`), { mergeKey: 'type', strategy: 'merge' }),
    allocatable: quantityMap,
    capacity: quantityMap,
    conditions: list(ref(`${CORE}.NodeCondition`), { mergeKey: 'type', strategy: 'merge' }),
    config: anything(),
    daemonEndpoints: anything(),
    features: anything(),
    images: list(anything()),
    nodeInfo: ref(`${CORE}.NodeSystemInfo`),
    phase: str(),
    runtimeHandlers: list(anything()),
    volumesAttached: list(anything()),
    volumesInUse: strList,
  }),
);
kind(`${CORE}.Node`, core, 'Node', 'A machine pods run on; in podnet, a network namespace.', {
  spec: ref(`${CORE}.NodeSpec`),
  status: ref(`${CORE}.NodeStatus`),
});

// --- core/v1: services and endpoints ---------------------------------------------------------

def(
  `${CORE}.ServicePort`,
  obj(
    'A port a Service exposes and where it forwards to.',
    {
      appProtocol: str(),
      name: str(),
      nodePort: int32,
      port: int32,
      protocol: str('TCP, UDP or SCTP.'),
      targetPort: ref(INTSTR, 'A container port number or name.'),
    },
    ['port'],
  ),
);
def(`${CORE}.ClientIPConfig`, obj('Client IP affinity settings.', { timeoutSeconds: int32 }));
def(
  `${CORE}.SessionAffinityConfig`,
  obj('Session affinity settings.', { clientIP: ref(`${CORE}.ClientIPConfig`) }),
);
def(
  `${CORE}.ServiceSpec`,
  obj('The desired behaviour of a Service.', {
    allocateLoadBalancerNodePorts: bool,
    clusterIP: str(),
    clusterIPs: list({ type: 'string' }, { listType: 'atomic' }),
    externalIPs: strList,
    externalName: str(),
    externalTrafficPolicy: str('Cluster or Local.'),
    healthCheckNodePort: int32,
    internalTrafficPolicy: str('Cluster or Local.'),
    ipFamilies: list({ type: 'string' }, { listType: 'atomic' }),
    ipFamilyPolicy: str(),
    loadBalancerClass: str(),
    loadBalancerIP: str(),
    loadBalancerSourceRanges: strList,
    ports: list(ref(`${CORE}.ServicePort`), {
      listType: 'map',
      mapKeys: ['port', 'protocol'],
      mergeKey: 'port',
      strategy: 'merge',
    }),
    publishNotReadyAddresses: bool,
    selector: strMap,
    sessionAffinity: str('None or ClientIP.'),
    sessionAffinityConfig: ref(`${CORE}.SessionAffinityConfig`),
    topologyKeys: strList,
    trafficDistribution: str(),
    type: str('ClusterIP, NodePort, LoadBalancer or ExternalName.'),
  }),
);
def(
  `${CORE}.LoadBalancerIngress`,
  obj('An address of a load balancer.', {
    hostname: str(),
    ip: str(),
    ipMode: str(),
    ports: list(anything(), { listType: 'atomic' }),
  }),
);
def(
  `${CORE}.LoadBalancerStatus`,
  obj('The addresses of a load balancer.', { ingress: list(ref(`${CORE}.LoadBalancerIngress`)) }),
);
def(
  `${CORE}.ServiceStatus`,
  obj('The observed state of a Service.', {
    conditions: list(anything(), { listType: 'map', mapKeys: ['type'], mergeKey: 'type', strategy: 'merge' }),
    loadBalancer: ref(`${CORE}.LoadBalancerStatus`),
  }),
);
kind(`${CORE}.Service`, core, 'Service', 'A stable virtual IP and name in front of a set of pods.', {
  spec: ref(`${CORE}.ServiceSpec`),
  status: ref(`${CORE}.ServiceStatus`),
});
def(
  `${CORE}.EndpointAddress`,
  obj(
    'One endpoint address.',
    {
      hostname: str(),
      ip: str(),
      nodeName: str(),
      targetRef: ref(`${CORE}.ObjectReference`),
    },
    ['ip'],
  ),
);
def(
  `${CORE}.EndpointPort`,
  obj('One endpoint port.', { appProtocol: str(), name: str(), port: int32, protocol: str() }, ['port']),
);
def(
  `${CORE}.EndpointSubset`,
  obj('Addresses that share a set of ports.', {
    addresses: list(ref(`${CORE}.EndpointAddress`)),
    notReadyAddresses: list(ref(`${CORE}.EndpointAddress`)),
    ports: list(ref(`${CORE}.EndpointPort`)),
  }),
);
kind(
  `${CORE}.Endpoints`,
  core,
  'Endpoints',
  'The addresses behind a Service (legacy API; see EndpointSlice).',
  {
    subsets: list(ref(`${CORE}.EndpointSubset`)),
  },
);

// --- core/v1: config, secrets, events --------------------------------------------------------

kind(`${CORE}.ConfigMap`, core, 'ConfigMap', 'Non-secret configuration data.', {
  binaryData: { type: 'object', additionalProperties: { type: 'string', format: 'byte' } },
  data: strMap,
  immutable: bool,
});
kind(`${CORE}.Secret`, core, 'Secret', 'Secret data, base64-encoded in `data`.', {
  data: { type: 'object', additionalProperties: { type: 'string', format: 'byte' } },
  immutable: bool,
  stringData: strMap,
  type: str(),
});
def(`${CORE}.EventSource`, obj('The component that reported an event.', { component: str(), host: str() }));
def(
  `${CORE}.EventSeries`,
  obj('A series of repeated events.', { count: int32, lastObservedTime: ref(MICROTIME) }),
);
kind(
  `${CORE}.Event`,
  core,
  'Event',
  'A report of something that happened to an object.',
  {
    action: str(),
    count: int32,
    eventTime: ref(MICROTIME),
    firstTimestamp: ref(TIME),
    involvedObject: ref(`${CORE}.ObjectReference`),
    lastTimestamp: ref(TIME),
    message: str(),
    reason: str(),
    related: ref(`${CORE}.ObjectReference`),
    reportingComponent: str(),
    reportingInstance: str(),
    series: ref(`${CORE}.EventSeries`),
    source: ref(`${CORE}.EventSource`),
    type: str('Normal or Warning.'),
  },
  { required: ['metadata', 'involvedObject'] },
);

// --- discovery.k8s.io/v1 ---------------------------------------------------------------------

def(
  `${DISC}.EndpointConditions`,
  obj('Readiness of one endpoint.', { ready: bool, serving: bool, terminating: bool }),
);
def(`${DISC}.ForZone`, obj('A zone an endpoint should serve.', { name: str() }, ['name']));
def(`${DISC}.ForNode`, obj('A node an endpoint should serve.', { name: str() }, ['name']));
def(
  `${DISC}.EndpointHints`,
  obj('Topology hints.', {
    forNodes: list(ref(`${DISC}.ForNode`), { listType: 'atomic' }),
    forZones: list(ref(`${DISC}.ForZone`), { listType: 'atomic' }),
  }),
);
def(
  `${DISC}.Endpoint`,
  obj(
    'One backend of a Service.',
    {
      addresses: list({ type: 'string' }, { listType: 'set' }),
      conditions: ref(`${DISC}.EndpointConditions`),
      deprecatedTopology: strMap,
      hints: ref(`${DISC}.EndpointHints`),
      hostname: str(),
      nodeName: str(),
      targetRef: ref(`${CORE}.ObjectReference`),
      zone: str(),
    },
    ['addresses'],
  ),
);
def(
  `${DISC}.EndpointPort`,
  obj('A port of the endpoints of a slice.', {
    appProtocol: str(),
    name: str(),
    port: int32,
    protocol: str(),
  }),
);
kind(
  `${DISC}.EndpointSlice`,
  discovery,
  'EndpointSlice',
  'A subset of the endpoints of a Service.',
  {
    addressType: str('IPv4, IPv6 or FQDN.'),
    endpoints: list(ref(`${DISC}.Endpoint`), { listType: 'atomic' }),
    ports: list(ref(`${DISC}.EndpointPort`), { listType: 'atomic' }),
  },
  { required: ['addressType', 'endpoints'] },
);

// --- apps/v1 ---------------------------------------------------------------------------------

def(
  `${APPS}.RollingUpdateDeployment`,
  obj('Rolling update parameters.', { maxSurge: ref(INTSTR), maxUnavailable: ref(INTSTR) }),
);
def(
  `${APPS}.DeploymentStrategy`,
  obj('How old pods are replaced by new ones.', {
    rollingUpdate: ref(`${APPS}.RollingUpdateDeployment`),
    type: str('Recreate or RollingUpdate.'),
  }),
);
def(
  `${APPS}.DeploymentSpec`,
  obj(
    'The desired state of a Deployment.',
    {
      minReadySeconds: int32,
      paused: bool,
      progressDeadlineSeconds: int32,
      replicas: int32,
      revisionHistoryLimit: int32,
      selector: ref(LABEL_SELECTOR),
      strategy: ref(`${APPS}.DeploymentStrategy`),
      template: ref(`${CORE}.PodTemplateSpec`),
    },
    ['selector', 'template'],
  ),
);
def(
  `${APPS}.DeploymentCondition`,
  obj(
    'A Deployment condition (Available, Progressing, ReplicaFailure).',
    {
      lastTransitionTime: ref(TIME),
      lastUpdateTime: ref(TIME),
      message: str(),
      reason: str(),
      status: str(),
      type: str(),
    },
    ['type', 'status'],
  ),
);
def(
  `${APPS}.DeploymentStatus`,
  obj('The observed state of a Deployment.', {
    availableReplicas: int32,
    collisionCount: int32,
    conditions: list(ref(`${APPS}.DeploymentCondition`), { mergeKey: 'type', strategy: 'merge' }),
    observedGeneration: int64,
    readyReplicas: int32,
    replicas: int32,
    terminatingReplicas: int32,
    unavailableReplicas: int32,
    updatedReplicas: int32,
  }),
);
kind(
  `${APPS}.Deployment`,
  apps,
  'Deployment',
  'Declarative updates of replicated pods through ReplicaSets.',
  {
    spec: ref(`${APPS}.DeploymentSpec`),
    status: ref(`${APPS}.DeploymentStatus`),
  },
);
def(
  `${APPS}.ReplicaSetSpec`,
  obj(
    'The desired state of a ReplicaSet.',
    {
      minReadySeconds: int32,
      replicas: int32,
      selector: ref(LABEL_SELECTOR),
      template: ref(`${CORE}.PodTemplateSpec`),
    },
    ['selector'],
  ),
);
def(
  `${APPS}.ReplicaSetCondition`,
  obj(
    'A ReplicaSet condition.',
    {
      lastTransitionTime: ref(TIME),
      message: str(),
      reason: str(),
      status: str(),
      type: str(),
    },
    ['type', 'status'],
  ),
);
def(
  `${APPS}.ReplicaSetStatus`,
  obj(
    'The observed state of a ReplicaSet.',
    {
      availableReplicas: int32,
      conditions: list(ref(`${APPS}.ReplicaSetCondition`), { mergeKey: 'type', strategy: 'merge' }),
      fullyLabeledReplicas: int32,
      observedGeneration: int64,
      readyReplicas: int32,
      replicas: int32,
      terminatingReplicas: int32,
    },
    ['replicas'],
  ),
);
kind(`${APPS}.ReplicaSet`, apps, 'ReplicaSet', 'Keeps a number of identical pods running.', {
  spec: ref(`${APPS}.ReplicaSetSpec`),
  status: ref(`${APPS}.ReplicaSetStatus`),
});

// --- autoscaling/v1 Scale --------------------------------------------------------------------

def(`${AUTOSCALING}.ScaleSpec`, obj('The desired scale.', { replicas: int32 }));
def(
  `${AUTOSCALING}.ScaleStatus`,
  obj('The observed scale.', { replicas: int32, selector: str() }, ['replicas']),
);
kind(
  `${AUTOSCALING}.Scale`,
  { group: 'autoscaling', version: 'v1' },
  'Scale',
  'The scale subresource of a Deployment or ReplicaSet.',
  { spec: ref(`${AUTOSCALING}.ScaleSpec`), status: ref(`${AUTOSCALING}.ScaleStatus`) },
  { noList: true },
);

// --- networking.k8s.io/v1 --------------------------------------------------------------------

def(`${NET}.ServiceBackendPort`, obj('A Service port, by number or name.', { name: str(), number: int32 }));
def(
  `${NET}.IngressServiceBackend`,
  obj('A Service an Ingress routes to.', { name: str(), port: ref(`${NET}.ServiceBackendPort`) }, ['name']),
);
def(
  `${NET}.IngressBackend`,
  obj('Where matching requests go: a Service port or a resource.', {
    resource: ref(`${CORE}.TypedLocalObjectReference`),
    service: ref(`${NET}.IngressServiceBackend`),
  }),
);
def(
  `${NET}.HTTPIngressPath`,
  obj(
    'A path and the backend it routes to.',
    {
      backend: ref(`${NET}.IngressBackend`),
      path: str(),
      pathType: str('Exact, Prefix or ImplementationSpecific.'),
    },
    ['pathType', 'backend'],
  ),
);
def(
  `${NET}.HTTPIngressRuleValue`,
  obj('The HTTP paths of a rule.', { paths: list(ref(`${NET}.HTTPIngressPath`), { listType: 'atomic' }) }, [
    'paths',
  ]),
);
def(
  `${NET}.IngressRule`,
  obj('The paths routed for one host (or every host).', {
    host: str(),
    http: ref(`${NET}.HTTPIngressRuleValue`),
  }),
);
def(
  `${NET}.IngressTLS`,
  obj('TLS settings for some hosts.', {
    hosts: list({ type: 'string' }, { listType: 'atomic' }),
    secretName: str(),
  }),
);
def(
  `${NET}.IngressSpec`,
  obj('The desired routing of an Ingress.', {
    defaultBackend: ref(`${NET}.IngressBackend`),
    ingressClassName: str(),
    rules: list(ref(`${NET}.IngressRule`), { listType: 'atomic' }),
    tls: list(ref(`${NET}.IngressTLS`), { listType: 'atomic' }),
  }),
);
def(
  `${NET}.IngressLoadBalancerIngress`,
  obj('An address of the Ingress load balancer.', {
    hostname: str(),
    ip: str(),
    ports: list(anything(), { listType: 'atomic' }),
  }),
);
def(
  `${NET}.IngressLoadBalancerStatus`,
  obj('The addresses of the Ingress load balancer.', {
    ingress: list(ref(`${NET}.IngressLoadBalancerIngress`)),
  }),
);
def(
  `${NET}.IngressStatus`,
  obj('The observed state of an Ingress.', { loadBalancer: ref(`${NET}.IngressLoadBalancerStatus`) }),
);
kind(`${NET}.Ingress`, networking, 'Ingress', 'HTTP routes from hosts and paths to Services.', {
  spec: ref(`${NET}.IngressSpec`),
  status: ref(`${NET}.IngressStatus`),
});
def(
  `${NET}.IngressClassParametersReference`,
  obj(
    'Controller-specific parameters of an IngressClass.',
    { apiGroup: str(), kind: str(), name: str(), namespace: str(), scope: str() },
    ['kind', 'name'],
  ),
);
def(
  `${NET}.IngressClassSpec`,
  obj('Which controller implements the class.', {
    controller: str(),
    parameters: ref(`${NET}.IngressClassParametersReference`),
  }),
);
kind(`${NET}.IngressClass`, networking, 'IngressClass', 'A kind of Ingress and the controller serving it.', {
  spec: ref(`${NET}.IngressClassSpec`),
});
def(
  `${NET}.IPBlock`,
  obj(
    'A CIDR, minus some exceptions.',
    { cidr: str(), except: list({ type: 'string' }, { listType: 'atomic' }) },
    ['cidr'],
  ),
);
def(
  `${NET}.NetworkPolicyPeer`,
  obj('Peers a rule allows: pods, namespaces or an IP block.', {
    ipBlock: ref(`${NET}.IPBlock`),
    namespaceSelector: ref(LABEL_SELECTOR),
    podSelector: ref(LABEL_SELECTOR),
  }),
);
def(
  `${NET}.NetworkPolicyPort`,
  obj('A port (or port range) a rule allows.', { endPort: int32, port: ref(INTSTR), protocol: str() }),
);
def(
  `${NET}.NetworkPolicyIngressRule`,
  obj('Allowed incoming traffic.', {
    from: list(ref(`${NET}.NetworkPolicyPeer`), { listType: 'atomic' }),
    ports: list(ref(`${NET}.NetworkPolicyPort`), { listType: 'atomic' }),
  }),
);
def(
  `${NET}.NetworkPolicyEgressRule`,
  obj('Allowed outgoing traffic.', {
    ports: list(ref(`${NET}.NetworkPolicyPort`), { listType: 'atomic' }),
    to: list(ref(`${NET}.NetworkPolicyPeer`), { listType: 'atomic' }),
  }),
);
def(
  `${NET}.NetworkPolicySpec`,
  obj(
    'Which pods the policy selects and what traffic it allows them.',
    {
      egress: list(ref(`${NET}.NetworkPolicyEgressRule`), { listType: 'atomic' }),
      ingress: list(ref(`${NET}.NetworkPolicyIngressRule`), { listType: 'atomic' }),
      podSelector: ref(LABEL_SELECTOR),
      policyTypes: list({ type: 'string' }, { listType: 'atomic' }),
    },
    ['podSelector'],
  ),
);
kind(`${NET}.NetworkPolicy`, networking, 'NetworkPolicy', 'Allowed traffic to and from selected pods.', {
  spec: ref(`${NET}.NetworkPolicySpec`),
  status: anything(),
});

// --- field descriptions (what `kubectl explain` prints) ---------------------------------------

/** Short descriptions of the fields people look up most, keyed `<definition suffix>.<field>`. */
const FIELD_DOCS: Record<string, string> = {
  'apps.v1.DeploymentSpec.replicas': 'How many pods the Deployment keeps running. Defaults to 1.',
  'apps.v1.DeploymentSpec.selector':
    'Which pods belong to this Deployment. Must match the labels of the pod template; immutable.',
  'apps.v1.DeploymentSpec.template': 'The pods to create: their labels and their spec.',
  'apps.v1.DeploymentSpec.strategy':
    'How pods of an old template are replaced: RollingUpdate (default) or Recreate.',
  'apps.v1.DeploymentSpec.minReadySeconds': 'How long a new pod must be ready before it counts as available.',
  'apps.v1.DeploymentSpec.revisionHistoryLimit': 'How many old ReplicaSets to keep for rollbacks.',
  'apps.v1.DeploymentSpec.progressDeadlineSeconds': 'After how long a stalled rollout is reported as failed.',
  'apps.v1.RollingUpdateDeployment.maxSurge':
    'How many pods (or what percentage) may exist above replicas during a rollout.',
  'apps.v1.RollingUpdateDeployment.maxUnavailable':
    'How many pods (or what percentage) may be unavailable during a rollout.',
  'apps.v1.ReplicaSetSpec.replicas': 'How many pods the ReplicaSet keeps running.',
  'apps.v1.ReplicaSetSpec.selector': 'Which pods belong to this ReplicaSet.',
  'core.v1.PodSpec.containers':
    'The containers of the pod. podnet runs each command as a process in the pod network namespace.',
  'core.v1.PodSpec.initContainers': 'Containers run to completion, in order, before the containers start.',
  'core.v1.PodSpec.nodeName': 'The node the pod runs on; set by the scheduler when empty.',
  'core.v1.PodSpec.hostNetwork': "Run in the node's network namespace instead of the pod's own.",
  'core.v1.PodSpec.restartPolicy':
    'When containers are restarted after they exit: Always, OnFailure or Never.',
  'core.v1.PodSpec.terminationGracePeriodSeconds': 'How long containers get between SIGTERM and SIGKILL.',
  'core.v1.PodSpec.hostname': 'The hostname of the pod; defaults to the pod name.',
  'core.v1.PodSpec.subdomain':
    'With a headless Service of that name: the pod gets <hostname>.<subdomain>.<ns>.svc.',
  'core.v1.PodSpec.nodeSelector': 'Labels a node must have for the pod to be scheduled there.',
  'core.v1.PodSpec.readinessGates': 'Extra pod conditions that must be True for the pod to be Ready.',
  'core.v1.Container.image': 'The container image. podnet runs the command without pulling images.',
  'core.v1.Container.command': 'The executable and its arguments (replaces the image entrypoint).',
  'core.v1.Container.args': 'Arguments to the command.',
  'core.v1.Container.ports':
    'Ports the container listens on. Informational, but named ports can be used as Service targetPort.',
  'core.v1.Container.env': 'Environment variables of the container.',
  'core.v1.Container.readinessProbe':
    'Decides whether the pod receives Service traffic: a failing probe removes it from the endpoints.',
  'core.v1.Container.livenessProbe': 'A failing liveness probe restarts the container.',
  'core.v1.Container.startupProbe': 'Holds off the other probes until the container has started.',
  'core.v1.ContainerPort.containerPort': 'The port number the container listens on.',
  'core.v1.ContainerPort.name': 'A name Services can use as targetPort.',
  'core.v1.Probe.periodSeconds': 'How often the probe runs. Defaults to 10.',
  'core.v1.Probe.initialDelaySeconds': 'How long to wait after the container starts before probing.',
  'core.v1.Probe.failureThreshold': 'Consecutive failures before the probe counts as failed. Defaults to 3.',
  'core.v1.Probe.successThreshold': 'Consecutive successes before the probe counts as passed. Defaults to 1.',
  'core.v1.Probe.timeoutSeconds': 'How long one probe may take. Defaults to 1.',
  'core.v1.HTTPGetAction.path': 'The HTTP path to GET; any 2xx or 3xx status is a success.',
  'core.v1.HTTPGetAction.port': 'A port number or a named container port.',
  'core.v1.ServiceSpec.type': 'ClusterIP (default), NodePort, LoadBalancer or ExternalName.',
  'core.v1.ServiceSpec.selector':
    'Pods with these labels are the endpoints of the Service. Without a selector, endpoints are managed by hand.',
  'core.v1.ServiceSpec.ports': 'The ports the Service exposes.',
  'core.v1.ServiceSpec.clusterIP':
    'The virtual IP of the Service, allocated from the service CIDR; "None" makes the Service headless.',
  'core.v1.ServiceSpec.externalTrafficPolicy':
    'Local keeps the client source IP and only uses endpoints on the receiving node; Cluster (default) may hop and SNATs.',
  'core.v1.ServiceSpec.internalTrafficPolicy':
    'Local sends in-cluster traffic only to endpoints on the same node.',
  'core.v1.ServiceSpec.sessionAffinity':
    'ClientIP sends each client to the same endpoint; None (default) balances.',
  'core.v1.ServiceSpec.publishNotReadyAddresses': 'Include pods that are not ready among the endpoints.',
  'core.v1.ServicePort.port': 'The port of the Service (on its cluster IP).',
  'core.v1.ServicePort.nodePort':
    'For NodePort and LoadBalancer: the port opened on every node (30000-32767).',
  'core.v1.ServicePort.protocol': 'TCP (default), UDP or SCTP.',
  'core.v1.ServicePort.name': 'Required when the Service has more than one port.',
  'networking.v1.IngressSpec.ingressClassName':
    'The IngressClass, and so the controller, that serves this Ingress.',
  'networking.v1.IngressSpec.rules': 'Host and path rules, matched against each request.',
  'networking.v1.IngressSpec.defaultBackend': 'Where requests that match no rule go.',
  'networking.v1.IngressSpec.tls': 'TLS termination for some hosts, with the certificate in a Secret.',
  'networking.v1.IngressRule.host':
    'The Host header to match; empty matches every host; "*.example.com" matches one label.',
  'networking.v1.HTTPIngressPath.path': 'The URL path to match.',
  'networking.v1.HTTPIngressPath.pathType':
    'Exact (the whole path), Prefix (path elements split by "/") or ImplementationSpecific.',
  'networking.v1.ServiceBackendPort.number': 'The Service port number.',
  'networking.v1.ServiceBackendPort.name': 'The Service port name.',
  'networking.v1.NetworkPolicySpec.podSelector':
    'The pods this policy applies to; {} selects every pod of the namespace.',
  'networking.v1.NetworkPolicySpec.policyTypes':
    'Ingress, Egress or both: which directions the policy restricts.',
  'discovery.v1.EndpointSlice.endpoints': 'The endpoints (pods) of the Service, with their readiness.',
  'discovery.v1.EndpointConditions.ready': 'The endpoint should receive traffic.',
  'discovery.v1.EndpointConditions.serving': 'The endpoint is ready, even if it is terminating.',
  'discovery.v1.EndpointConditions.terminating': 'The endpoint (pod) is being deleted.',
  'meta.v1.ObjectMeta.labels':
    'Key/value pairs that selectors match (Services, Deployments, NetworkPolicies).',
  'meta.v1.ObjectMeta.annotations': 'Key/value pairs for tools; not used for selection.',
  'meta.v1.ObjectMeta.namespace':
    'The namespace of the object; empty means the default namespace of the request.',
  'meta.v1.LabelSelector.matchLabels': 'Labels an object must all have.',
  'meta.v1.LabelSelector.matchExpressions': 'Requirements with In, NotIn, Exists or DoesNotExist.',
};

const PREFIXES: Record<string, string> = {
  'apps.v1.': 'io.k8s.api.apps.v1.',
  'core.v1.': 'io.k8s.api.core.v1.',
  'networking.v1.': 'io.k8s.api.networking.v1.',
  'discovery.v1.': 'io.k8s.api.discovery.v1.',
  'meta.v1.': 'io.k8s.apimachinery.pkg.apis.meta.v1.',
};

for (const [key, text] of Object.entries(FIELD_DOCS)) {
  const prefix = Object.keys(PREFIXES).find((p) => key.startsWith(p))!;
  const rest = key.slice(prefix.length);
  const dot = rest.lastIndexOf('.');
  const defName = PREFIXES[prefix] + rest.slice(0, dot);
  const field = rest.slice(dot + 1);
  const props = defs[defName]?.properties as Record<string, Schema> | undefined;
  if (!props?.[field]) throw new Error(`openapi: FIELD_DOCS names ${defName}.${field}, which is not defined`);
  props[field] = { ...props[field], description: text };
}

/** Every definition, keyed by upstream name. Treat as read-only. */
export const DEFINITIONS: Readonly<Record<string, Schema>> = defs;
