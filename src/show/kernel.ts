/**
 * The link to the tslab kernel this code runs in, if any. tslab has no display protocol of its
 * own: the value of a cell is `console.log`-ed, and rich outputs go through the `display_data`
 * writer of the request being executed, which tslab keeps in `lastWriteDisplayData` of its module
 * `tslab/dist/jupyter` (reassigned for every execute request, null before the first one).
 *
 * That module is read from Node's module cache, never loaded here: outside a kernel, loading it
 * would start zeromq for nothing. Reading the cache also finds a kernel started from another tslab
 * installation than this project's. The property is read at call time (as a namespace import
 * would), never copied, because tslab replaces it for every cell.
 */

/** One Jupyter `display_data` / `update_display_data` message content. */
export interface DisplayMessage {
  /** MIME type → representation (base64 for binary formats, an object for JSON formats). */
  data: Record<string, string | object>;
  metadata: Record<string, object>;
  /** `display_id` makes a display updatable in place. */
  transient: { display_id?: string };
}

type DisplayWriter = (message: DisplayMessage, update: boolean) => void;

/** The part of tslab's `dist/jupyter` module used here. */
interface TslabJupyter {
  lastWriteDisplayData: DisplayWriter | null;
}

const TSLAB_JUPYTER = /[\\/]tslab[\\/]dist[\\/]jupyter\.js$/;
let found: TslabJupyter | undefined;

/** The exports of a module already in Node's module cache whose file matches `file`. */
function cachedModule<T>(file: RegExp): T | undefined {
  const key = Object.keys(require.cache).find((f) => file.test(f));
  return key ? (require.cache[key]?.exports as T | undefined) : undefined;
}

/** tslab's jupyter module, from the module cache; the first time it is found, its sends are serialized. */
function tslabJupyter(): TslabJupyter | undefined {
  if (!found) {
    found = cachedModule<TslabJupyter>(TSLAB_JUPYTER);
    // tslab's output socket is a zeromq Publisher (zeromq: loaded by the kernel, never here).
    const publisher = found && cachedModule<{ Publisher?: SendingSocket }>(/[\\/]zeromq[\\/]lib[\\/]index\.js$/)?.Publisher;
    if (publisher) serializeSends(publisher);
  }
  return found;
}

/** A zeromq socket class, as far as sends go. */
interface SendingSocket {
  prototype: { send(message: unknown): Promise<void> };
}

const serialized = new WeakSet<object>();

/**
 * Makes sends on `socket` wait for the previous one instead of failing. zeromq resolves at most
 * 512 sends in a row synchronously and postpones the next to a turn of Node's event loop; a send
 * before that turn throws "Socket is busy writing" (EBUSY). tslab never awaits its sends, so a
 * cell that ends right after a postponed send kills the kernel with its own status message. Here
 * a send made while another is in flight is chained after it (order kept, nothing dropped).
 */
export function serializeSends(socket: SendingSocket): void {
  const proto = socket.prototype;
  if (serialized.has(proto)) return;
  serialized.add(proto);
  const send = proto.send;
  const inFlight = new WeakMap<object, Promise<void>>();
  proto.send = function (this: object, message: unknown): Promise<void> {
    const previous = inFlight.get(this);
    const sent = previous ? previous.then(() => send.call(this, message)) : send.call(this, message);
    inFlight.set(this, sent);
    const settled = () => {
      if (inFlight.get(this) === sent) inFlight.delete(this);
    };
    sent.then(settled, settled);
    return sent;
  };
}

/** Whether this code runs inside a tslab kernel that is executing a cell. */
export function inKernel(): boolean {
  return typeof tslabJupyter()?.lastWriteDisplayData === 'function';
}

/**
 * Sends one display message to the front end of the running cell: `display_data`, or
 * `update_display_data` of an earlier message with the same `display_id` when `update`.
 * @returns false (and sends nothing) outside a kernel, or when the kernel's output socket is still
 *   busy with an earlier message (zeromq's EBUSY: the message is dropped, a later one follows)
 */
export function sendDisplay(message: DisplayMessage, update = false): boolean {
  const write = tslabJupyter()?.lastWriteDisplayData;
  if (typeof write !== 'function') return false;
  try {
    write(message, update);
  } catch (e) {
    if ((e as { code?: string }).code === 'EBUSY') return false;
    throw e;
  }
  return true;
}
