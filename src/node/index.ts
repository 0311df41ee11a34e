/**
 * The node agent (the networking half of the kubelet): `startNodeAgent` runs one emulated node's
 * pods — sandboxes as network namespaces wired by CNI, containers as processes, probes, status —
 * and `podLogs` / `podExec` serve the CLI's `podnet logs` and `podnet exec`.
 */
export { type NodeAgent, type NodeAgentOptions, type SandboxRecord, startNodeAgent } from './agent.ts';
export {
  CniInvokeError,
  type CniResultJson,
  type CniTypes,
  invokeConflist,
  type NetConfList,
  nodeConflist,
} from './cni.ts';
export { BUILTIN_IMAGES, planWorkload, type WorkloadPlan } from './images.ts';
export { type PodExecOptions, type PodLogsOptions, podExec, podLogPath, podLogs } from './logs.ts';
export { containerLogPath, podDir, sandboxName, sandboxPrefix } from './names.ts';
export {
  graceAfterPreStop,
  type HookContext,
  type HookResult,
  type LifecycleHandler,
  runLifecycleHook,
} from './runtime.ts';
