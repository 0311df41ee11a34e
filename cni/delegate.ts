/**
 * Calling another plugin (the IPAM step, or any chained plugin): in-process when it is one of ours
 * and the caller allows it (the resident service and the self-contained entry both do), otherwise by
 * executing the binary named `type` found in CNI_PATH, exactly as a runtime would. Either way the
 * answer is read back through the protocol (stdout JSON, exit code), so the two paths behave alike.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { type CmdArgs, type CniCommand, type CniPlugin, pluginMain } from './skel.ts';
import { CniCode, CniError, type CniResult, parseResult } from './spec.ts';

/** Runs a delegated plugin; returns its Result for ADD, undefined otherwise; throws its error. */
export type Delegate = (
  type: string,
  command: CniCommand,
  stdin: string,
  a: CmdArgs,
) => Promise<CniResult | undefined>;

/** Finds `type` in the CNI_PATH directories. */
export function findInPath(type: string, path: string[]): string | undefined {
  if (!/^[A-Za-z0-9._-]+$/.test(type)) return undefined;
  for (const dir of path) {
    const p = join(dir, type);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next directory
    }
  }
  return undefined;
}

function execPlugin(file: string, env: Record<string, string | undefined>, stdin: string) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(file, [], { env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code: code ?? 128,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      }),
    );
    child.stdin.on('error', () => {});
    child.stdin.end(stdin);
  });
}

/** Reads a plugin's answer: a Result on success, its error as a CniError otherwise. */
export function readAnswer(
  type: string,
  command: CniCommand,
  code: number,
  stdout: string,
  stderr = '',
): CniResult | undefined {
  if (code !== 0) {
    let e: any;
    try {
      e = JSON.parse(stdout);
    } catch {
      e = undefined;
    }
    if (e && typeof e.code === 'number')
      throw new CniError(e.code, `${type}: ${e.msg ?? 'failed'}`, e.details);
    throw new CniError(CniCode.Internal, `${type} ${command} exited ${code}: ${(stderr || stdout).trim()}`);
  }
  if (command !== 'ADD') return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(stdout);
  } catch (e) {
    throw new CniError(CniCode.DecodingFailure, `${type}: cannot decode its result`, (e as Error).message);
  }
  return parseResult(raw, `${type} result`);
}

/** Builds a delegate that runs `inProcess` plugins by name in this process, others from CNI_PATH. */
export function makeDelegate(inProcess: Record<string, CniPlugin> = {}): Delegate {
  return async (type, command, stdin, a) => {
    const env = { ...a.env, CNI_COMMAND: command };
    const own = inProcess[type];
    if (own) {
      let out = '';
      const code = await pluginMain(own, { env, stdin, stdout: (s) => (out += s), host: a.host });
      return readAnswer(type, command, code, out);
    }
    const file = findInPath(type, a.path);
    if (!file)
      throw new CniError(
        CniCode.InvalidConfig,
        `failed to find plugin "${type}" in CNI_PATH ${a.path.join(':')}`,
      );
    const r = await execPlugin(file, env, stdin);
    return readAnswer(type, command, r.code, r.stdout, r.stderr);
  };
}
