// Reads a "vercel-ui" response with the AI SDK's own client code and prints what it rebuilt.
//
//   node vercel_read.mjs <url>
//
// The body goes through parseJsonEventStream with the SDK's uiMessageChunkSchema (every
// chunk must validate), then readUIMessageStream rebuilds the assistant message, as useChat
// does.  Prints one JSON object: the response headers, the chunk types in order, the last
// message snapshot, the errors reported and the chunks that failed validation.
import { parseJsonEventStream, readUIMessageStream, uiMessageChunkSchema } from "ai";

const url = process.argv[2];
const response = await fetch(url);
const invalid = [];
const types = [];
const chunks = parseJsonEventStream({ stream: response.body, schema: uiMessageChunkSchema })
  .pipeThrough(
    new TransformStream({
      transform(result, controller) {
        if (!result.success) {
          invalid.push(String(result.error));
          return;
        }
        types.push(result.value.type);
        controller.enqueue(result.value);
      },
    }),
  );
const errors = [];
let message = null;
for await (const snapshot of readUIMessageStream({
  stream: chunks,
  onError: (error) => errors.push(String(error && error.message ? error.message : error)),
})) {
  message = snapshot;
}
console.log(
  JSON.stringify({
    status: response.status,
    headers: Object.fromEntries(response.headers.entries()),
    types,
    message,
    errors,
    invalid,
  }),
);
