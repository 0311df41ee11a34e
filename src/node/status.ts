/**
 * The pod status the agent reports, computed from its containers' statuses as the kubelet does:
 * the phase (Pending until a container has started, Running while one runs or restarts,
 * Succeeded/Failed once all have terminated for good), the conditions PodScheduled,
 * PodReadyToStartContainers, Initialized, ContainersReady and Ready (keeping each condition's
 * lastTransitionTime while its status is unchanged), and the addresses.
 */
import type { ContainerStatus, Pod, PodCondition, PodStatus } from '../api/index.ts';

/** What the agent knows about a pod right now. */
export interface PodRuntimeView {
  containers: ContainerStatus[];
  /** Init containers' statuses (in order), and whether they all succeeded / one failed for good. */
  initContainers?: ContainerStatus[];
  initDone?: boolean;
  initFailed?: boolean;
  /** True when every container has terminated and none will restart. */
  allFinished: boolean;
  sandboxReady: boolean;
  podIPs: string[];
  hostIP: string;
  startTime: string;
  /** Set when the pod cannot start at all (e.g. sandbox creation failed). */
  message?: string;
  reason?: string;
}

/** The phase from container statuses (kubelet's getPhase, simplified to what we run). */
export function podPhase(v: PodRuntimeView): NonNullable<PodStatus['phase']> {
  const cs = v.containers;
  if (v.initFailed) return 'Failed';
  if (v.initDone === false) return 'Pending';
  if (cs.length > 0 && v.allFinished) {
    return cs.some((c) => (c.state?.terminated?.exitCode ?? 0) !== 0) ? 'Failed' : 'Succeeded';
  }
  const runningOrRestarting = cs.some(
    (c) => c.state?.running || c.lastState?.terminated || c.state?.terminated,
  );
  return runningOrRestarting ? 'Running' : 'Pending';
}

function cond(
  prev: PodCondition[] | undefined,
  type: string,
  ok: boolean,
  now: string,
  reason?: string,
  message?: string,
): PodCondition {
  const status = ok ? 'True' : 'False';
  const old = prev?.find((c) => c.type === type);
  const c: PodCondition = {
    type,
    status,
    lastProbeTime: null,
    lastTransitionTime: old && old.status === status && old.lastTransitionTime ? old.lastTransitionTime : now,
  };
  if (!ok && reason) c.reason = reason;
  if (!ok && message) c.message = message;
  return c;
}

/** The full status to write for `pod`. */
export function computePodStatus(
  pod: Pod,
  v: PodRuntimeView,
  now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
): PodStatus {
  const prev = pod.status?.conditions;
  const phase = podPhase(v);
  const unready = v.containers.filter((c) => !c.ready).map((c) => c.name);
  const terminal = phase === 'Succeeded' || phase === 'Failed';
  const containersReady = unready.length === 0 && v.containers.length > 0 && !terminal;
  const msg = `containers with unready status: [${unready.join(' ')}]`;
  const conditions: PodCondition[] = [
    // Why there is no sandbox yet (a failed CNI ADD being retried) shows on this condition.
    cond(prev, 'PodReadyToStartContainers', v.sandboxReady, now, v.reason, v.message),
    cond(
      prev,
      'Initialized',
      v.initDone !== false,
      now,
      'ContainersNotInitialized',
      `containers with incomplete status: [${(v.initContainers ?? [])
        .filter((c) => c.state?.terminated?.exitCode !== 0)
        .map((c) => c.name)
        .join(' ')}]`,
    ),
    cond(
      prev,
      'Ready',
      containersReady,
      now,
      terminal ? 'PodCompleted' : 'ContainersNotReady',
      terminal ? undefined : msg,
    ),
    cond(
      prev,
      'ContainersReady',
      containersReady,
      now,
      terminal ? 'PodCompleted' : 'ContainersNotReady',
      terminal ? undefined : msg,
    ),
    cond(prev, 'PodScheduled', true, now),
  ];
  const st: PodStatus = {
    phase,
    conditions,
    hostIP: v.hostIP,
    hostIPs: [{ ip: v.hostIP }],
    startTime: v.startTime,
    containerStatuses: v.containers,
    ...(v.initContainers?.length ? { initContainerStatuses: v.initContainers } : {}),
    qosClass: pod.status?.qosClass ?? qosClass(pod),
  };
  if (v.podIPs.length) {
    st.podIP = v.podIPs[0];
    st.podIPs = v.podIPs.map((ip) => ({ ip }));
  }
  if (v.message) st.message = v.message;
  if (v.reason) st.reason = v.reason;
  return st;
}

/** The pod's QoS class from its containers' requests and limits. */
export function qosClass(pod: Pod): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const cs = pod.spec?.containers ?? [];
  let any = false;
  let guaranteed = cs.length > 0;
  for (const c of cs) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    if (Object.keys(req).length || Object.keys(lim).length) any = true;
    for (const r of ['cpu', 'memory']) {
      if (lim[r] === undefined || (req[r] !== undefined && String(req[r]) !== String(lim[r])))
        guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}
