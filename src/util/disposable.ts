/**
 * Lifetimes. Everything that holds a resource (server, watch, timer, socket, child process,
 * namespace) is a Disposable registered with an owner that disposes in reverse order, once.
 */

/** Something that can be released. Disposing twice must be harmless. */
export interface Disposable {
  dispose(): void | Promise<void>;
}

/** Wraps a function as a Disposable that runs at most once. */
export function toDisposable(fn: () => void | Promise<void>): Disposable {
  let done = false;
  return {
    dispose() {
      if (done) return;
      done = true;
      return fn();
    },
  };
}

/**
 * Owns disposables and releases them in reverse order of registration. Errors from one
 * disposable do not stop the others; the first is rethrown after all have run.
 */
export class DisposableStore implements Disposable {
  private items: Disposable[] = [];
  private disposed = false;

  /** Registers `d`; if the store is already disposed, `d` is disposed at once. */
  add<T extends Disposable>(d: T): T {
    if (this.disposed) {
      void Promise.resolve(d.dispose()).catch(() => {});
      return d;
    }
    this.items.push(d);
    return d;
  }

  /** Registers a cleanup function. */
  defer(fn: () => void | Promise<void>): Disposable {
    return this.add(toDisposable(fn));
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    let first: unknown;
    while (this.items.length > 0) {
      const d = this.items.pop()!;
      try {
        await d.dispose();
      } catch (e) {
        first ??= e;
      }
    }
    if (first !== undefined) throw first;
  }
}
