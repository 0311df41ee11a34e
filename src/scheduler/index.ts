/**
 * The public face of the scheduler: `startScheduler({ client })` binds every pending pod that
 * asks for `default-scheduler` to a node, and the pure filter/score functions it is built from.
 */

export * from './framework.ts';
export { DEFAULT_SCHEDULER_NAME, Scheduler, type SchedulerOptions, startScheduler } from './scheduler.ts';
