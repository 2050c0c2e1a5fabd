// A page that chats with a "vercel-ui" endpoint through useChat (@ai-sdk/react), as a Next.js
// or Vite app would.  Bundled at test time by bundle.mjs; tests/test_protocol_vercel_browser.py
// loads it in headless Chromium.  On load it sends one message and shows:
//   #state   useChat's status ("submitted", "streaming", "ready" or "error")
//   #answer  the assistant message's text parts, joined
//   #parts   the part types of the assistant message, comma-separated
//   #error   the error's message, if any
import { useChat } from "@ai-sdk/react";
import { DefaultChatTransport } from "ai";
import { useEffect, useRef } from "react";
import { createRoot } from "react-dom/client";

function Chat() {
  const { messages, sendMessage, status, error } = useChat({
    transport: new DefaultChatTransport({ api: "/api/chat" }),
  });
  const sent = useRef(false);
  useEffect(() => {
    if (!sent.current) {
      sent.current = true;
      sendMessage({ text: "What is it?" });
    }
  }, [sendMessage]);
  const reply = messages.filter((message) => message.role === "assistant").at(-1);
  const parts = reply ? reply.parts : [];
  const answer = parts
    .filter((part) => part.type === "text")
    .map((part) => part.text)
    .join("");
  return (
    <main>
      <p id="state">{status}</p>
      <p id="answer">{answer}</p>
      <p id="parts">{parts.map((part) => part.type).join(",")}</p>
      <p id="error">{error ? error.message : ""}</p>
    </main>
  );
}

createRoot(document.getElementById("root")).render(<Chat />);
