// Runs an "ag-ui" endpoint with the AG-UI client's own HttpAgent and prints what it saw.
//
//   node agui_run.mjs <url> [<forwardedProps JSON>]
//
// HttpAgent POSTs a RunAgentInput (threadId "thread-1", runId "run-1"), parses the SSE body,
// verifies the event sequence and applies it to its messages, as CopilotKit does.  Every
// event is also checked against @ag-ui/core's EventSchemas.  Prints one JSON object: the
// events (as received), the agent's messages afterwards, the run's result, the error the run
// raised (or null), the message its onRunErrorEvent got (or null) and the events that failed
// the schema.
import { HttpAgent } from "@ag-ui/client";
import { EventSchemas } from "@ag-ui/core/schemas";

const url = process.argv[2];
const forwardedProps = JSON.parse(process.argv[3] ?? "{}");
const agent = new HttpAgent({ url, threadId: "thread-1" });
const events = [];
const invalid = [];
let error = null;
let runError = null;
let result;
try {
  const run = await agent.runAgent(
    { runId: "run-1", forwardedProps },
    {
      onEvent({ event }) {
        events.push(event);
        const parsed = EventSchemas.safeParse(event);
        if (!parsed.success) invalid.push({ event, issues: parsed.error.issues });
      },
      onRunErrorEvent({ event }) {
        runError = event.message;
      },
      onRunFailed({ error: failure }) {
        error = String(failure && failure.message ? failure.message : failure);
      },
    },
  );
  result = run.result;
} catch (failure) {
  error = error ?? String(failure && failure.message ? failure.message : failure);
}
console.log(JSON.stringify({ events, messages: agent.messages, result, error, runError, invalid }));
