/**
 * Stopping long work on a notebook's Kernel → Interrupt. Jupyter interrupts a kernel with SIGINT;
 * tslab then rejects the running cell's promise, but the async loop the cell started (a fit, a
 * grid, a feature pass) would go on in the background, training and printing after the cell has
 * "stopped". So in a kernel the library also listens for SIGINT, and the loops that call
 * {@link yieldToEventLoop} once per iteration stop there with an {@link InterruptedError}:
 * a training step always finishes its update first, so the trainer stays usable.
 *
 * Only work that is running can be interrupted: a SIGINT while no {@link interruptible} work
 * runs is ignored, so it cannot stop a cell run later. Outside a kernel nothing is installed, and
 * Ctrl-C ends a command-line process as usual.
 */

/** Thrown by long work stopped by Kernel → Interrupt (SIGINT in a kernel). */
export class InterruptedError extends Error {
  override name = 'InterruptedError';
}

/** How many interruptible works are running (they nest: a grid runs fits that run steps). */
let depth = 0;
/** When the outermost running work began, and when the last SIGINT during work arrived (performance.now()). */
let outerStart = 0;
let interruptedAt = -Infinity;
const onSigint = () => {
  if (depth > 0) interruptedAt = performance.now();
};

/**
 * Listens for SIGINT (the entry point does it in a kernel; once however often it is called).
 * Returns what stops listening. While it listens, SIGINT no longer ends the process.
 */
export function installInterruptHandler(): () => void {
  if (!process.listeners('SIGINT').includes(onSigint)) process.on('SIGINT', onSigint);
  return () => process.off('SIGINT', onSigint);
}

/** Throws {@link InterruptedError} if an interrupt arrived since the running work began. */
export function throwIfInterrupted(): void {
  if (depth > 0 && interruptedAt >= outerStart) {
    throw new InterruptedError('interrupted (Kernel → Interrupt): stopped after the last finished step or batch; trainers and models are as that step left them');
  }
}

/**
 * Runs `work` as interruptible: an interrupt while it runs makes its next
 * {@link yieldToEventLoop} throw, and if none comes, it throws when `work` returns.
 */
export async function interruptible<T>(work: () => Promise<T>): Promise<T> {
  if (depth === 0) outerStart = performance.now();
  depth++;
  try {
    const result = await work();
    throwIfInterrupted();
    return result;
  } finally {
    depth--;
  }
}

/**
 * Lets Node's event loop run once, then stops the running work if it was interrupted. A loop of
 * `await`s on synchronous (wasm/cpu) work never lets the loop run: its promises resolve as
 * microtasks, so sockets, timers and a notebook's interrupt wait until the loop ends, and zeromq
 * (tslab's output socket) postpones every 513th send to a turn of the loop, failing any send
 * before it ("Socket is busy writing", which kills the kernel). Long loops call this once per
 * iteration.
 */
export async function yieldToEventLoop(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  throwIfInterrupted();
}
