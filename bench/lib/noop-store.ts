/**
 * R2 whose put does nothing (the events then point at no object): beside the
 * real one, what the local R2 simulator costs the callbacks consumer. Locally
 * it takes a put in 4,096-byte chunks through a JS stream inside workerd;
 * on Cloudflare a put is I/O the Worker waits on, not its CPU.
 */
export const noopStore = { put: async () => null } as unknown as R2Bucket;
