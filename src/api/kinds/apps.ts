/** apps/v1 Deployment and ReplicaSet: the workload controllers that create pods. */

import type { LabelSelector } from '../selectors.ts';
import type { KubeObject } from '../types.ts';
import type { Condition, IntOrString, PodTemplateSpec } from './core.ts';

/** apps/v1.DeploymentStrategy */
export interface DeploymentStrategy {
  type?: 'RollingUpdate' | 'Recreate';
  rollingUpdate?: { maxUnavailable?: IntOrString; maxSurge?: IntOrString };
}

/** apps/v1.DeploymentSpec */
export interface DeploymentSpec {
  replicas?: number;
  selector: LabelSelector;
  template: PodTemplateSpec;
  strategy?: DeploymentStrategy;
  minReadySeconds?: number;
  revisionHistoryLimit?: number;
  paused?: boolean;
  progressDeadlineSeconds?: number;
}

/** apps/v1.DeploymentStatus */
export interface DeploymentStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  unavailableReplicas?: number;
  terminatingReplicas?: number;
  conditions?: Array<Condition & { lastUpdateTime?: string }>;
  collisionCount?: number;
}

/** apps/v1.Deployment */
export interface Deployment extends KubeObject {
  spec?: DeploymentSpec;
  status?: DeploymentStatus;
}

/** apps/v1.ReplicaSetSpec */
export interface ReplicaSetSpec {
  replicas?: number;
  minReadySeconds?: number;
  selector: LabelSelector;
  template?: PodTemplateSpec;
}

/** apps/v1.ReplicaSetStatus */
export interface ReplicaSetStatus {
  replicas: number;
  fullyLabeledReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  terminatingReplicas?: number;
  observedGeneration?: number;
  conditions?: Condition[];
}

/** apps/v1.ReplicaSet */
export interface ReplicaSet extends KubeObject {
  spec?: ReplicaSetSpec;
  status?: ReplicaSetStatus;
}

/** Annotation holding a Deployment's / ReplicaSet's revision number. */
export const ANNOTATION_REVISION = 'deployment.kubernetes.io/revision';
/** Label carrying the pod-template hash that distinguishes a Deployment's ReplicaSets. */
export const LABEL_POD_TEMPLATE_HASH = 'pod-template-hash';
