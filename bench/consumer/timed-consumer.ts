/**
 * A Worker's callbacks consumer, timed batch by batch inside workerd (used by
 * `npm run bench:consumer`; never deployed). Callbacks come in through the
 * Worker's own fetch handler, whose queue send is caught here instead of
 * queued; then POST /bench/consumer/run hands them to the Worker's queue
 * handler in full batches and answers how long each took, with nothing else
 * running on the thread, and how many are stored by then.
 */
export function timedConsumer<E extends object, Body>(worker: {
  fetch: (request: Request, env: E, ctx: ExecutionContext) => Response | Promise<Response>;
  queue: (batch: MessageBatch<Body>, env: E, ctx: ExecutionContext) => Promise<void>;
  /** The producer binding the fetch handler sends to, and the name of its queue. */
  queueBinding: keyof E & string;
  queueName: string;
  /** Callbacks stored so far. */
  stored: (env: E) => Promise<number>;
  /** Other environments a run can ask for by name (?variant=). */
  variants?: Record<string, (env: E) => E>;
}): ExportedHandler<E> {
  const caught: Body[] = [];
  const catchingQueue = { send: async (message: Body) => void caught.push(JSON.parse(JSON.stringify(message)) as Body) };
  const batchOf = (bodies: Body[], first: number): MessageBatch<Body> => ({
    queue: worker.queueName,
    metadata: { metrics: { backlogCount: 0, backlogBytes: 0 } },
    messages: bodies.map((body, i) => ({ id: `bench-${first + i}`, timestamp: new Date(), attempts: 1, body, ack() {}, retry() {} })),
    ackAll() {},
    retryAll() {},
  });
  return {
    fetch: async (request, env, ctx) => {
      const url = new URL(request.url);
      if (url.pathname !== "/bench/consumer/run") return worker.fetch(request, { ...env, [worker.queueBinding]: catchingQueue }, ctx);
      const size = Number(url.searchParams.get("size") ?? 100);
      const variant = url.searchParams.get("variant");
      const runEnv = variant ? worker.variants![variant]!(env) : env;
      const pending = caught.splice(0);
      const msPerBatch: number[] = [];
      for (let first = 0; first + size <= pending.length; first += size) {
        const started = Date.now();
        await worker.queue(batchOf(pending.slice(first, first + size), first), runEnv, ctx);
        msPerBatch.push(Date.now() - started);
      }
      return Response.json({ size, msPerBatch, stored: await worker.stored(env) });
    },
  };
}
