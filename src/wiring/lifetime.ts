/**
 * What an app opened, closed in the reverse order: the same list serves a start that fails half
 * way and the shutdown of a running app, so cleanup is written once.
 */
export interface Lifetime {
  /** registers `close` to run when the lifetime ends (after everything registered later) */
  defer(close: () => unknown): void;
  /** runs every registered close, newest first, once; rejects with the first failure after running them all */
  close(): Promise<void>;
}

export function createLifetime(): Lifetime {
  const closers: (() => unknown)[] = [];
  let closing: Promise<void> | undefined;
  return {
    defer(close) {
      if (closing) throw new Error('the lifetime has ended');
      closers.push(close);
    },
    close() {
      closing ??= (async () => {
        let failure: { err: unknown } | undefined;
        for (const close of closers.reverse()) {
          try {
            await close();
          } catch (err) {
            failure ??= { err };
          }
        }
        if (failure) throw failure.err;
      })();
      return closing;
    },
  };
}
