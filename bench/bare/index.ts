/** Answers 200 without reading the body: the cost of the runtime and the HTTP stack alone. */
export default {
  fetch: () => Response.json({ ok: true }),
} satisfies ExportedHandler;
