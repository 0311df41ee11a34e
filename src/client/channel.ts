/**
 * A push-to-pull bridge: producers `push` values and finally `end` (optionally with an error);
 * one consumer reads them with `for await`. Watches are built on it, so a store callback, a fake
 * test source and an HTTP body all look alike to the reflector.
 */

/** An unbounded single-consumer async queue. */
export class Channel<T> implements AsyncIterable<T> {
  private buf: T[] = [];
  private ended = false;
  private error: unknown;
  private waiter: (() => void) | undefined;
  private onReturn: (() => void) | undefined;

  /** `onClose` runs once when the consumer stops early (break/return) or the channel ends. */
  constructor(onClose?: () => void) {
    this.onReturn = onClose;
  }

  /** Queues a value; ignored after `end`. */
  push(v: T): void {
    if (this.ended) return;
    this.buf.push(v);
    this.wake();
  }

  /** Ends the stream; the consumer sees `error` (if given) after the queued values. */
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    this.wake();
    this.close();
  }

  get isEnded(): boolean {
    return this.ended;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private close(): void {
    const f = this.onReturn;
    this.onReturn = undefined;
    f?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    try {
      for (;;) {
        if (this.buf.length > 0) {
          yield this.buf.shift()!;
          continue;
        }
        if (this.ended) {
          if (this.error !== undefined) throw this.error;
          return;
        }
        await new Promise<void>((resolve) => {
          this.waiter = resolve;
        });
      }
    } finally {
      // The consumer left (normally or early): stop the producer.
      this.ended = true;
      this.buf = [];
      this.close();
    }
  }
}
