/**
 * The Deployment controller: owns ReplicaSets named `<deployment>-<pod-template-hash>`, one per
 * distinct pod template. The ReplicaSet whose template equals the Deployment's is the new one;
 * RollingUpdate grows it and shrinks the old ones within maxSurge/maxUnavailable, Recreate
 * scales the old ones to zero and waits for their pods to go before growing the new one. It
 * stamps revisions (`deployment.kubernetes.io/revision`), deletes old zero-sized ReplicaSets
 * beyond revisionHistoryLimit once a rollout completes, and reports status and the Available /
 * Progressing conditions. `rolloutUndo` (used by `podnet rollout undo`) rolls the template back.
 */

import { errors, isApiError } from '../api/errors.ts';
import {
  ANNOTATION_REVISION,
  type Deployment,
  type DeploymentStatus,
  LABEL_POD_TEMPLATE_HASH,
  type ReplicaSet,
} from '../api/kinds/apps.ts';
import type { Pod } from '../api/kinds/core.ts';
import { labelSelectorFromObject, matchesLabels } from '../api/selectors.ts';
import { deletedObject, realClock, retryOnConflict, type SharedInformer } from '../client/index.ts';
import type { ApiClient } from '../client/rest.ts';
import { type Disposable, DisposableStore } from '../util/disposable.ts';
import {
  type Controller,
  type ControllerOptions,
  clone,
  controllerOf,
  controllerRef,
  keyOf,
  newQueue,
  R,
  recordEvent,
  rfc3339,
  runQueue,
  splitKey,
} from './base.ts';
import {
  fenceposts,
  maxRevision,
  newRSReplicas,
  planRollingUpdate,
  podTemplateHash,
  revisionOf,
  templatesEqual,
} from './deployutil.ts';

/** Annotation upstream puts on ReplicaSets: the Deployment's replicas when last scaled. */
export const ANNOTATION_DESIRED_REPLICAS = 'deployment.kubernetes.io/desired-replicas';
/** Annotation upstream puts on ReplicaSets: replicas + maxSurge when last scaled. */
export const ANNOTATION_MAX_REPLICAS = 'deployment.kubernetes.io/max-replicas';

/** The annotation `kubectl rollout history` shows as CHANGE-CAUSE. */
export const ANNOTATION_CHANGE_CAUSE = 'kubernetes.io/change-cause';

const NOT_COPIED = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  ANNOTATION_REVISION,
  'deployment.kubernetes.io/revision-history',
  ANNOTATION_DESIRED_REPLICAS,
  ANNOTATION_MAX_REPLICAS,
]);

/** The Deployment annotations a new ReplicaSet inherits (change-cause and the user's own). */
export function copiedAnnotations(d: Deployment): Record<string, string> {
  return Object.fromEntries(Object.entries(d.metadata.annotations ?? {}).filter(([k]) => !NOT_COPIED.has(k)));
}

type Cond = NonNullable<DeploymentStatus['conditions']>[number];

/**
 * The status a Deployment reports for its ReplicaSets, with Available and Progressing conditions
 * (kept from `prev` when unchanged, so lastTransitionTime means what it says).
 */
export function computeDeploymentStatus(
  d: Deployment,
  all: readonly ReplicaSet[],
  newRS: ReplicaSet | undefined,
  nowMs: number,
  progressing?: { reason: string; message: string },
): DeploymentStatus {
  const replicas = d.spec?.replicas ?? 1;
  const sum = (f: (r: ReplicaSet) => number | undefined) => all.reduce((s, r) => s + (f(r) ?? 0), 0);
  const st: DeploymentStatus = {
    observedGeneration: d.metadata.generation ?? 1,
    replicas: sum((r) => r.status?.replicas),
    updatedReplicas: newRS?.status?.replicas ?? 0,
    readyReplicas: sum((r) => r.status?.readyReplicas),
    availableReplicas: sum((r) => r.status?.availableReplicas),
  };
  st.unavailableReplicas = Math.max(0, replicas - (st.availableReplicas ?? 0));
  if (d.status?.collisionCount) st.collisionCount = d.status.collisionCount;
  const now = rfc3339(nowMs);
  const prev = d.status?.conditions ?? [];
  const setCond = (c: Omit<Cond, 'lastTransitionTime' | 'lastUpdateTime'>, touch: boolean): Cond => {
    const old = prev.find((p) => p.type === c.type);
    const sameStatus = old?.status === c.status;
    const sameAll = sameStatus && old?.reason === c.reason && old?.message === c.message;
    return {
      ...c,
      lastUpdateTime: sameAll && !touch ? (old?.lastUpdateTime ?? now) : now,
      lastTransitionTime: sameStatus ? (old?.lastTransitionTime ?? now) : now,
    };
  };
  const minAvailable = replicas - fenceposts(d).unavailable;
  const availableCond = setCond(
    (st.availableReplicas ?? 0) >= minAvailable
      ? {
          type: 'Available',
          status: 'True',
          reason: 'MinimumReplicasAvailable',
          message: 'Deployment has minimum availability.',
        }
      : {
          type: 'Available',
          status: 'False',
          reason: 'MinimumReplicasUnavailable',
          message: 'Deployment does not have minimum availability.',
        },
    false,
  );
  const rsName = newRS?.metadata.name ?? '';
  const complete =
    !!newRS &&
    st.updatedReplicas === replicas &&
    st.replicas === replicas &&
    st.availableReplicas === replicas;
  let prog: Omit<Cond, 'lastTransitionTime' | 'lastUpdateTime'>;
  let touch = false;
  const oldProg = prev.find((p) => p.type === 'Progressing');
  if (d.spec?.paused) {
    prog = {
      type: 'Progressing',
      status: 'Unknown',
      reason: 'DeploymentPaused',
      message: 'Deployment is paused',
    };
  } else if (complete) {
    prog = {
      type: 'Progressing',
      status: 'True',
      reason: 'NewReplicaSetAvailable',
      message: `ReplicaSet "${rsName}" has successfully progressed.`,
    };
  } else if (progressing) {
    prog = { type: 'Progressing', status: 'True', ...progressing };
    touch = true;
  } else {
    const deadline = d.spec?.progressDeadlineSeconds ?? 600;
    const since = Date.parse(oldProg?.lastUpdateTime ?? '') || nowMs;
    if (
      oldProg?.reason === 'ProgressDeadlineExceeded' ||
      (oldProg?.status === 'True' &&
        since + deadline * 1000 < nowMs &&
        oldProg.reason !== 'NewReplicaSetAvailable')
    ) {
      prog = {
        type: 'Progressing',
        status: 'False',
        reason: 'ProgressDeadlineExceeded',
        message: `ReplicaSet "${rsName}" has timed out progressing.`,
      };
    } else {
      prog = {
        type: 'Progressing',
        status: 'True',
        reason: 'ReplicaSetUpdated',
        message: `ReplicaSet "${rsName}" is progressing.`,
      };
    }
  }
  st.conditions = [availableCond, setCond(prog, touch)];
  return st;
}

/** The Deployment controller. */
export class DeploymentController implements Controller {
  readonly name = 'deployment-controller';
  private readonly clock;
  private readonly queue;
  private dInf!: SharedInformer<Deployment>;
  private rsInf!: SharedInformer<ReplicaSet>;
  private podInf!: SharedInformer<Pod>;

  constructor(private readonly o: ControllerOptions) {
    this.clock = o.clock ?? realClock;
    this.queue = newQueue(this.name, this.clock);
  }

  async start(): Promise<Disposable> {
    const d = new DisposableStore();
    this.dInf = this.o.informers.informerFor<Deployment>(R.deployments);
    this.rsInf = this.o.informers.informerFor<ReplicaSet>(R.replicaSets);
    this.podInf = this.o.informers.informerFor<Pod>(R.pods);
    const enqueue = (x: Deployment) => this.queue.add(keyOf(x));
    d.add(
      this.dInf.addEventHandler({
        onAdd: enqueue,
        onUpdate: (_o, n) => enqueue(n),
        onDelete: (x) => enqueue(deletedObject(x)),
      }),
    );
    const rsChanged = (rs: ReplicaSet) => {
      const ref = controllerOf(rs);
      if (ref?.kind === 'Deployment') this.queue.add(`${rs.metadata.namespace}/${ref.name}`);
      else if (!ref) this.enqueueMatching(rs);
    };
    d.add(
      this.rsInf.addEventHandler({
        onAdd: rsChanged,
        onUpdate: (_o, n) => rsChanged(n),
        onDelete: (x) => rsChanged(deletedObject(x)),
      }),
    );
    // Recreate waits for old pods to be gone: a pod deletion may unblock a rollout.
    d.add(
      this.podInf.addEventHandler({
        onDelete: (x) => {
          const p = deletedObject(x);
          const ref = controllerOf(p);
          if (ref?.kind !== 'ReplicaSet') return;
          const rs = this.rsInf.get(p.metadata.namespace, ref.name);
          if (rs) rsChanged(rs);
        },
      }),
    );
    this.o.informers.start();
    await this.o.informers.waitForSync();
    d.add(runQueue(this.name, this.queue, (k) => this.reconcile(k), this.o));
    return d;
  }

  private enqueueMatching(rs: ReplicaSet): void {
    for (const dep of this.dInf.list(rs.metadata.namespace)) {
      try {
        if (matchesLabels(labelSelectorFromObject(dep.spec?.selector), rs.metadata.labels))
          this.queue.add(keyOf(dep));
      } catch {
        // Invalid selector: matches nothing.
      }
    }
  }

  private event(d: Deployment, reason: string, message: string): void {
    void recordEvent(this.o.client, d, 'Normal', reason, message, this.name, this.clock);
  }

  /** ReplicaSets this Deployment controls, adopting matching orphans. */
  private async claimReplicaSets(d: Deployment): Promise<ReplicaSet[]> {
    const reqs = labelSelectorFromObject(d.spec?.selector);
    const out: ReplicaSet[] = [];
    for (const rs of this.rsInf.list(d.metadata.namespace)) {
      const ref = controllerOf(rs);
      const matches = reqs.length > 0 && matchesLabels(reqs, rs.metadata.labels);
      if (ref) {
        if (ref.uid === d.metadata.uid) out.push(rs);
      } else if (matches && !d.metadata.deletionTimestamp && !rs.metadata.deletionTimestamp) {
        try {
          out.push(
            await this.o.client.patch<ReplicaSet>(R.replicaSets, rs.metadata.namespace, rs.metadata.name!, {
              metadata: {
                uid: rs.metadata.uid,
                resourceVersion: rs.metadata.resourceVersion,
                ownerReferences: [...(rs.metadata.ownerReferences ?? []), controllerRef(d)],
              },
            }),
          );
        } catch (e) {
          if (!isApiError(e, 'NotFound') && !isApiError(e, 'Conflict')) throw e;
        }
      }
    }
    return out;
  }

  /** Converges one Deployment. */
  async reconcile(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const d = this.dInf.get(namespace, name);
    if (!d || d.metadata.deletionTimestamp) return;
    let all = await this.claimReplicaSets(d);
    let newRS = all.find((rs) => templatesEqual(rs.spec?.template, d.spec?.template));
    let olds = all.filter((rs) => rs !== newRS);
    let progressing: { reason: string; message: string } | undefined;

    if (d.spec?.paused) {
      await this.syncStatus(d, all, newRS);
      return;
    }
    const wantRevision = maxRevision(olds) + 1;
    if (!newRS) {
      const replicas = d.spec?.strategy?.type === 'Recreate' ? 0 : newRSReplicas(d, all, undefined);
      newRS = await this.createNewReplicaSet(d, replicas, wantRevision);
      if (!newRS) return; // hash collision: status updated, we run again
      all = [...all, newRS];
      progressing = {
        reason: 'NewReplicaSetCreated',
        message: `Created new replica set "${newRS.metadata.name}"`,
      };
      if (replicas > 0)
        this.event(d, 'ScalingReplicaSet', `Scaled up replica set ${newRS.metadata.name} to ${replicas}`);
    } else if (revisionOf(newRS) < wantRevision) {
      // A rollback to an older template: that ReplicaSet becomes the newest revision.
      newRS = await this.setRSAnnotations(newRS, { [ANNOTATION_REVISION]: String(wantRevision) });
      all = [...olds, newRS];
    }
    // minReadySeconds is not part of the template: carry changes over to the current ReplicaSet.
    const minReady = d.spec?.minReadySeconds ?? 0;
    if ((newRS.spec?.minReadySeconds ?? 0) !== minReady) {
      newRS = await this.o.client.patch<ReplicaSet>(
        R.replicaSets,
        newRS.metadata.namespace,
        newRS.metadata.name!,
        {
          spec: { minReadySeconds: minReady },
        },
      );
      all = [...olds, newRS];
    }
    await this.setDeploymentRevision(d, revisionOf(newRS));

    if (d.spec?.strategy?.type === 'Recreate') {
      const changed = await this.rolloutRecreate(d, newRS, olds);
      if (changed)
        progressing ??= {
          reason: 'ReplicaSetUpdated',
          message: `ReplicaSet "${newRS.metadata.name}" is progressing.`,
        };
    } else {
      const step = planRollingUpdate(d, newRS, olds);
      if (step.kind === 'scaleNew') {
        newRS = await this.scale(d, newRS, step.replicas);
        progressing ??= {
          reason: 'ReplicaSetUpdated',
          message: `ReplicaSet "${newRS.metadata.name}" is progressing.`,
        };
      } else if (step.kind === 'scaleOld') {
        olds = await Promise.all(
          olds.map((rs) => {
            const c = step.changes.find((x) => x.name === rs.metadata.name);
            return c ? this.scale(d, rs, c.replicas) : rs;
          }),
        );
        progressing ??= {
          reason: 'ReplicaSetUpdated',
          message: `ReplicaSet "${newRS.metadata.name}" is progressing.`,
        };
      }
    }
    all = [...olds, newRS];
    const st = await this.syncStatus(d, all, newRS, progressing);
    const prog = st.conditions?.find((c) => c.type === 'Progressing');
    if (prog?.reason === 'NewReplicaSetAvailable') {
      await this.cleanup(d, olds);
    } else if (prog?.status === 'True') {
      // Look again when the progress deadline would pass, to report ProgressDeadlineExceeded.
      const deadlineMs = (d.spec?.progressDeadlineSeconds ?? 600) * 1000;
      const since = Date.parse(prog.lastUpdateTime ?? '') || this.clock.now();
      this.queue.addAfter(key, Math.max(0, since + deadlineMs - this.clock.now()) + 1000);
    }
  }

  private async rolloutRecreate(d: Deployment, newRS: ReplicaSet, olds: ReplicaSet[]): Promise<boolean> {
    let changed = false;
    for (const rs of olds) {
      if ((rs.spec?.replicas ?? 0) > 0) {
        await this.scale(d, rs, 0);
        changed = true;
      }
    }
    if (changed) return true;
    // Wait until no pod of an old ReplicaSet remains (Recreate guarantees no overlap).
    const oldUids = new Set(olds.map((r) => r.metadata.uid));
    const oldPods = this.podInf
      .list(d.metadata.namespace)
      .filter(
        (p) =>
          oldUids.has(controllerOf(p)?.uid) &&
          p.status?.phase !== 'Succeeded' &&
          p.status?.phase !== 'Failed',
      );
    if (oldPods.length > 0 || olds.some((r) => (r.status?.replicas ?? 0) > 0)) return true;
    const want = d.spec?.replicas ?? 1;
    if ((newRS.spec?.replicas ?? 0) !== want) {
      await this.scale(d, newRS, want);
      return true;
    }
    return false;
  }

  private async createNewReplicaSet(
    d: Deployment,
    replicas: number,
    revision: number,
  ): Promise<ReplicaSet | undefined> {
    const hash = podTemplateHash(d.spec?.template, d.status?.collisionCount);
    const template = clone(d.spec!.template);
    template.metadata = { ...(template.metadata ?? {}) };
    template.metadata.labels = { ...(template.metadata.labels ?? {}), [LABEL_POD_TEMPLATE_HASH]: hash };
    const selector = clone(d.spec!.selector);
    selector.matchLabels = { ...(selector.matchLabels ?? {}), [LABEL_POD_TEMPLATE_HASH]: hash };
    const { surge } = fenceposts(d);
    const rs: ReplicaSet = {
      apiVersion: 'apps/v1',
      kind: 'ReplicaSet',
      metadata: {
        name: `${d.metadata.name}-${hash}`,
        namespace: d.metadata.namespace,
        labels: template.metadata.labels,
        annotations: {
          ...copiedAnnotations(d),
          [ANNOTATION_REVISION]: String(revision),
          [ANNOTATION_DESIRED_REPLICAS]: String(d.spec?.replicas ?? 1),
          [ANNOTATION_MAX_REPLICAS]: String((d.spec?.replicas ?? 1) + surge),
        },
        ownerReferences: [controllerRef(d)],
      },
      spec: {
        replicas,
        minReadySeconds: d.spec?.minReadySeconds ?? 0,
        selector,
        template,
      },
    };
    try {
      return await this.o.client.create<ReplicaSet>(R.replicaSets, rs);
    } catch (e) {
      if (!isApiError(e, 'AlreadyExists')) throw e;
      const existing = await this.o.client.get<ReplicaSet>(
        R.replicaSets,
        d.metadata.namespace,
        rs.metadata.name!,
      );
      if (
        controllerOf(existing)?.uid === d.metadata.uid &&
        templatesEqual(existing.spec?.template, d.spec?.template)
      ) {
        return existing; // our own, the cache had not seen it yet
      }
      // A different template hashed to the same name: bump collisionCount and try again.
      const next = clone(d);
      next.status = { ...(next.status ?? {}), collisionCount: (d.status?.collisionCount ?? 0) + 1 };
      await this.o.client.updateStatus(R.deployments, next);
      return undefined;
    }
  }

  private async setRSAnnotations(rs: ReplicaSet, ann: Record<string, string>): Promise<ReplicaSet> {
    return this.o.client.patch<ReplicaSet>(R.replicaSets, rs.metadata.namespace, rs.metadata.name!, {
      metadata: { annotations: ann },
    });
  }

  private async setDeploymentRevision(d: Deployment, revision: number): Promise<void> {
    if (!revision || d.metadata.annotations?.[ANNOTATION_REVISION] === String(revision)) return;
    await this.o.client.patch(R.deployments, d.metadata.namespace, d.metadata.name!, {
      metadata: { annotations: { [ANNOTATION_REVISION]: String(revision) } },
    });
  }

  private async scale(d: Deployment, rs: ReplicaSet, replicas: number): Promise<ReplicaSet> {
    const cur = rs.spec?.replicas ?? 0;
    const { surge } = fenceposts(d);
    const desired = String(d.spec?.replicas ?? 1);
    const max = String((d.spec?.replicas ?? 1) + surge);
    const ann = rs.metadata.annotations ?? {};
    if (
      cur === replicas &&
      ann[ANNOTATION_DESIRED_REPLICAS] === desired &&
      ann[ANNOTATION_MAX_REPLICAS] === max
    )
      return rs;
    const next = clone(rs);
    next.spec = { ...next.spec!, replicas };
    next.metadata.annotations = {
      ...ann,
      [ANNOTATION_DESIRED_REPLICAS]: desired,
      [ANNOTATION_MAX_REPLICAS]: max,
    };
    // A CAS on the cached resourceVersion: if the cache is stale we fail and retry from fresh state.
    const out = await this.o.client.update<ReplicaSet>(R.replicaSets, next);
    if (cur !== replicas)
      this.event(
        d,
        'ScalingReplicaSet',
        `Scaled ${replicas > cur ? 'up' : 'down'} replica set ${rs.metadata.name} from ${cur} to ${replicas}`,
      );
    return out;
  }

  private async syncStatus(
    d: Deployment,
    all: ReplicaSet[],
    newRS: ReplicaSet | undefined,
    progressing?: { reason: string; message: string },
  ): Promise<DeploymentStatus> {
    const st = computeDeploymentStatus(d, all, newRS, this.clock.now(), progressing);
    const { conditions: a, ...restNew } = st;
    const { conditions: b, ...restOld } = d.status ?? {};
    const strip = (cs: Cond[] | undefined) =>
      JSON.stringify((cs ?? []).map(({ lastUpdateTime, lastTransitionTime, ...c }) => c));
    if (JSON.stringify(restNew) === JSON.stringify(restOld) && strip(a) === strip(b) && !progressing)
      return st;
    const next = clone(d);
    next.status = st;
    try {
      await this.o.client.updateStatus(R.deployments, next);
    } catch (e) {
      if (!isApiError(e, 'NotFound') && !isApiError(e, 'Conflict')) throw e;
    }
    return st;
  }

  /** Deletes the oldest unused ReplicaSets beyond revisionHistoryLimit. */
  private async cleanup(d: Deployment, olds: ReplicaSet[]): Promise<void> {
    const limit = d.spec?.revisionHistoryLimit ?? 10;
    const idle = olds
      .filter(
        (r) =>
          !r.metadata.deletionTimestamp && (r.spec?.replicas ?? 0) === 0 && (r.status?.replicas ?? 0) === 0,
      )
      .sort((a, b) => revisionOf(a) - revisionOf(b));
    for (const rs of idle.slice(0, Math.max(0, idle.length - limit))) {
      try {
        await this.o.client.delete(R.replicaSets, rs.metadata.namespace, rs.metadata.name!, {
          preconditions: { uid: rs.metadata.uid },
        });
      } catch (e) {
        if (!isApiError(e, 'NotFound')) throw e;
      }
    }
  }
}

/** What rolloutUndo did. */
export interface RolloutUndoResult {
  /** The revision whose template is now the Deployment's. */
  revision: number;
  /** True when the template already matched (nothing was written). */
  skipped: boolean;
  /** kubectl-style line: `deployment.apps/web rolled back`. */
  message: string;
}

/**
 * Rolls a Deployment back to `toRevision` (default: the revision before the current one) by
 * copying that ReplicaSet's pod template (minus pod-template-hash) into the Deployment, as
 * `kubectl rollout undo` does. The controller then rolls forward to it as a new revision.
 * Throws 400 BadRequest when no such revision is kept.
 */
export async function rolloutUndo(
  client: ApiClient,
  namespace: string,
  name: string,
  toRevision?: number,
): Promise<RolloutUndoResult> {
  return retryOnConflict(async () => {
    const d = await client.get<Deployment>(R.deployments, namespace, name);
    const list = await client.list<ReplicaSet>(R.replicaSets, namespace);
    const owned = list.items.filter((rs) => controllerOf(rs)?.uid === d.metadata.uid);
    if (owned.length === 0) throw errors.badRequest(`no rollout history found for deployment "${name}"`);
    let target: ReplicaSet | undefined;
    if (toRevision) {
      target = owned.find((rs) => revisionOf(rs) === toRevision);
      if (!target) throw errors.badRequest(`unable to find specified revision ${toRevision} in history`);
    } else {
      const current = revisionOf(d) || maxRevision(owned);
      target = owned
        .filter((rs) => revisionOf(rs) < current && revisionOf(rs) > 0)
        .sort((a, b) => revisionOf(b) - revisionOf(a))[0];
      if (!target) throw errors.badRequest('no revision found to roll back to');
    }
    const revision = revisionOf(target);
    if (templatesEqual(target.spec?.template, d.spec?.template)) {
      return {
        revision,
        skipped: true,
        message: `deployment.apps/${name} skipped rollback (current template already matches revision ${revision})`,
      };
    }
    const template = clone(target.spec!.template!);
    if (template.metadata?.labels) delete template.metadata.labels[LABEL_POD_TEMPLATE_HASH];
    const next = clone(d);
    next.spec = { ...next.spec!, template };
    // The change-cause travels with the template, so `rollout history` reads true.
    const cause = target.metadata.annotations?.[ANNOTATION_CHANGE_CAUSE];
    next.metadata.annotations = { ...(next.metadata.annotations ?? {}) };
    if (cause) next.metadata.annotations[ANNOTATION_CHANGE_CAUSE] = cause;
    else delete next.metadata.annotations[ANNOTATION_CHANGE_CAUSE];
    await client.update(R.deployments, next);
    return { revision, skipped: false, message: `deployment.apps/${name} rolled back` };
  });
}
