/**
 * The step registry: every step kind a scenario may use, by its YAML key. Adding a kind is one
 * line in STEP_KINDS (the parser, the JSON Schema and the docs table all read this list).
 */
import type { StepKind } from '../types.ts';
import { captureStep } from './capture.ts';
import { execStep } from './exec.ts';
import { killStep, partitionStep } from './faults.ts';
import { matrixStep } from './matrix.ts';
import { applyStep, deleteStep, scaleStep } from './objects.ts';
import { requestStep } from './request.ts';
import { waitStep } from './wait.ts';

/** Every step kind, in documentation order. */
export const STEP_KINDS: ReadonlyArray<StepKind<any>> = [
  applyStep,
  deleteStep,
  scaleStep,
  waitStep,
  execStep,
  requestStep,
  killStep,
  partitionStep,
  captureStep,
  matrixStep,
];

/** The step kind registered under `kind`, if any. */
export function stepKind(kind: string): StepKind<any> | undefined {
  return STEP_KINDS.find((s) => s.kind === kind);
}
