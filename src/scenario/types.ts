/**
 * The contracts of the scenario runner, shared by every step kind:
 *   - `StepKind`: one kind of step (`request`, `wait`, `capture`, …): its JSON Schema, a parser that
 *     turns the YAML body into a typed, validated spec (errors name file:line:col and the field
 *     path), and `run`, which executes the spec against a running cluster.
 *   - `FieldReader`: the typed view of one YAML mapping a parser reads fields from; every error it
 *     raises points at the field's position in the scenario file.
 *   - `RunContext`: what a step sees of the running scenario: the API client, the cluster's nodes
 *     and namespaces, ways to run a command in a pod / node / outside-client namespace, a logger.
 * Step kinds register in `steps/index.ts` (one line each). Pure types: no side effects here.
 */
import type { Pod } from '../api/kinds/core.ts';
import type { ApiClient } from '../client/rest.ts';
import type { ClusterPlan } from '../cluster/plan.ts';
import type { ClusterSpec } from '../cluster/spec.ts';
import type { Exec, ExecResult } from '../kernel/exec.ts';

/** A path to a field of the scenario file: `['steps', 2, 'request', 'count']`. */
export type FieldPath = Array<string | number>;

/** A JSON Schema fragment (draft 2020-12 subset) describing a step body, for scenarios/schema.json. */
export type JsonSchema = Record<string, unknown>;

/**
 * A typed reader over one YAML mapping (a step body or a nested mapping in it). Each getter checks
 * the field and throws a `ScenarioError` naming `file:line:col: <path>: <reason>` when it is wrong.
 * Optional getters return `undefined` when the field is absent; `required` ones fail instead.
 */
export interface FieldReader {
  /** Where this mapping sits in the file. */
  readonly path: FieldPath;
  /** The raw (plain JS) value of the mapping. */
  readonly raw: Record<string, unknown>;
  /** True when `key` is present (even if null). */
  has(key: string): boolean;
  /** Raw value of `key` (no checks). */
  get(key: string): unknown;
  string(key: string, opts: { required: true }): string;
  string(key: string, opts?: { required?: boolean }): string | undefined;
  /** An integer within [min, max] (defaults: min -2^53, max 2^53). */
  int(key: string, opts: { required: true; min?: number; max?: number }): number;
  int(key: string, opts?: { required?: boolean; min?: number; max?: number }): number | undefined;
  /** A number within [min, max]. */
  number(key: string, opts?: { required?: boolean; min?: number; max?: number }): number | undefined;
  bool(key: string): boolean | undefined;
  /** One of `allowed` (a string). */
  oneOf<T extends string>(key: string, allowed: readonly T[], opts: { required: true }): T;
  oneOf<T extends string>(key: string, allowed: readonly T[], opts?: { required?: boolean }): T | undefined;
  /** A duration: a number of seconds or a string like `500ms`, `10s`, `2m`; returned in ms. */
  duration(key: string, opts?: { required?: boolean }): number | undefined;
  /** A list of strings (a single string is accepted as a one-element list). */
  strings(key: string, opts?: { required?: boolean }): string[] | undefined;
  /** A mapping of string → string (numbers and booleans are stringified, as labels are). */
  stringMap(key: string, opts?: { required?: boolean }): Record<string, string> | undefined;
  /** A nested mapping, as its own reader. */
  map(key: string, opts: { required: true }): FieldReader;
  map(key: string, opts?: { required?: boolean }): FieldReader | undefined;
  /** A list of mappings, one reader each. */
  list(key: string, opts?: { required?: boolean }): FieldReader[] | undefined;
  /** Fails on any field not in `known` (call once the parser knows its fields). */
  only(known: readonly string[]): void;
  /** Throws a ScenarioError at `key` (or at this mapping when omitted). */
  fail(reason: string, key?: string | number | FieldPath): never;
  /**
   * For a step written in its short scalar form (`- delete: pod/web`), a reader over
   * `{ [key]: <the scalar> }` whose errors point at the scalar itself. Returns this reader
   * unchanged when the body is a mapping.
   */
  scalarAs(key: string): FieldReader;
  /** True when the body was written as a scalar (see scalarAs). */
  readonly isScalar: boolean;
}

/** What a step run reports. */
export interface StepOutcome {
  ok: boolean;
  /** One line: why it failed, or what it established (`20/20 answered by 3 pods`). */
  message: string;
  /** Further lines for the report (per-pod counts, mismatches, a grid). */
  details?: string[];
  /** Structured data for `--json` (e.g. counts per pod). */
  data?: unknown;
  /** Files the step wrote (pcaps…), for the report. */
  artifacts?: string[];
}

/**
 * One kind of step. `S` is its parsed spec. Registered in `steps/index.ts` under `kind`, which
 * is the key that selects it in YAML (`- request: {…}`).
 */
export interface StepKind<S = unknown> {
  /** The YAML key (`request`). */
  readonly kind: string;
  /** One line for docs and `--help`. */
  readonly summary: string;
  /** JSON Schema of the step body (merged into scenarios/schema.json). */
  readonly schema: JsonSchema;
  /**
   * Validates the body and returns the spec. `body` reads the step's mapping (for a kind whose
   * body is a scalar, e.g. `- delete: pod/x`, `body.raw` is `{ value: <scalar> }` and
   * `body.path` still points at the step). Must not touch the cluster.
   */
  parse(body: FieldReader): S;
  /** A short label for progress and the report: `GET svc/echo:80 from pod:client ×20`. */
  describe(spec: S): string;
  /** Runs the step. Throwing counts as a failure with the error's message. */
  run(spec: S, ctx: RunContext): Promise<StepOutcome>;
}

/** A parsed step as the runner holds it. */
export interface ParsedStep {
  /** 0-based index in `steps`. */
  index: number;
  kind: string;
  /** The user's `name:`, else the kind's `describe`. */
  name: string;
  spec: unknown;
  /** `eventually:` — retry the step until it passes or this many ms have passed (0 = once). */
  eventuallyMs: number;
  /** Poll interval while retrying (ms). */
  intervalMs: number;
  /** `expectFailure: true` — the step is expected to fail (teaching negative cases). */
  expectFailure: boolean;
  /** Line of the step in the file (1-based), for the report. */
  line: number;
}

/** A place traffic starts from or a command runs in: a namespace with an address. */
export interface Place {
  kind: 'pod' | 'node' | 'outside' | 'underlay';
  /** `pod:default/client-7d9…`, `node:node-1`, `outside`. */
  label: string;
  /** The network namespace (under /run/netns). */
  netns: string;
  /** Its address (pod IP, node LAN IP, the outside client's LAN IP); absent for `underlay`. */
  ip?: string;
  /** The node name (pods: where they run; nodes: themselves). */
  node?: string;
  /** The pod, for `kind: 'pod'`. */
  pod?: Pod;
}

/** Options of the `exec*` helpers. */
export interface ContextExecOptions {
  /** Kill after this many ms (default 30 000). */
  timeoutMs?: number;
  /** Written to stdin. */
  input?: string;
}

/** One node of the running scenario cluster. */
export interface ScenarioNode {
  name: string;
  /** `pn-<cluster>-node-<i>`. */
  netns: string;
  lanIP: string;
  podCIDR: string;
  /** Pid of its node process (agent, CNI service, kube-proxy, DNS), if running. */
  pid?: number;
}

/** The running scenario, as a step sees it. */
export interface RunContext {
  /** The scenario's name (from the file). */
  readonly scenario: string;
  /** Directory of the scenario file (`file:` paths are relative to it). */
  readonly baseDir: string;
  /** Directory for artifacts (pcaps, logs) of this run; created on demand by steps. */
  readonly artifactsDir: string;
  /** The cluster: spec, kernel plan, kubeconfig. */
  readonly cluster: {
    name: string;
    spec: ClusterSpec;
    plan: ClusterPlan;
    kubeconfigPath: string;
    apiUrl: string;
  };
  /** Admin API client. */
  readonly client: ApiClient;
  readonly nodes: ScenarioNode[];
  /** The outside client on the LAN: a namespace attached to the LAN bridge, not a node. */
  readonly outside: { netns: string; ip: string };
  /** The underlay (LAN) namespace holding the LAN bridge `pn0`. */
  readonly underlay: { netns: string; bridge: string };
  /** Namespace used when a reference names none (`default`). */
  readonly defaultNamespace: string;
  /** Runs programs (the real Exec; `opts.netns` runs inside a namespace). */
  readonly exec: Exec;
  /** Aborted on SIGINT/SIGTERM or when the scenario's deadline passes. */
  readonly signal: AbortSignal;
  /**
   * Resolves a place reference:
   *   `pod:NAME`, `pod:NS/NAME` — that pod;
   *   `pod:app=web[,tier=x]`, `pod:NS/app=web` — the first Ready pod (by name) matching the selector;
   *   a `@NODE` suffix keeps only pods on that node (`pod:app=web@node-2`);
   *   `node:NAME` or `node:1` (1-based index) — a node namespace;
   *   `outside` — the outside LAN client; `underlay` — the LAN namespace.
   * Throws a PodnetError naming the reference when nothing matches.
   */
  place(ref: string): Promise<Place>;
  /** Every place a reference matches (a selector may match several pods; others give one). */
  places(ref: string): Promise<Place[]>;
  /** Runs `cmd` inside a place's namespace; never throws on non-zero exit. */
  execIn(place: Place | string, cmd: string[], opts?: ContextExecOptions): Promise<ExecResult>;
  /** Pods matching `selector` (label selector string) in `namespace` (default: defaultNamespace). */
  pods(selector: string, namespace?: string): Promise<Pod[]>;
  /** Live progress line (indented under the current step). */
  log(line: string): void;
  /** Registers cleanup run when the scenario ends (reverse order), e.g. stopping a tcpdump. */
  defer(fn: () => void | Promise<void>): void;
}
