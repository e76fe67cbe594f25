// claude-ingest: forwards OpenCode events to `claude-ingest opencode-event`, which stores them in
// the same SQLite database as Claude Code's sessions (datasette-claude).
//
// Put in place by `claude-ingest install-hooks --opencode`. OpenCode awaits every plugin hook in
// sequence, and a hook that throws can block a tool, so this plugin never throws, never changes
// what it is given, and never waits: each event is handed to a detached `claude-ingest` process on
// its stdin and forgotten.

import { spawn } from "node:child_process"

// Filled in by install-hooks: the absolute claude-ingest (hooks run with OpenCode's PATH, not ours).
const COMMAND = "__CLAUDE_INGEST_COMMAND__"
const ARGS = ["__CLAUDE_INGEST_ARGS__"]

// Streaming chatter with nothing to keep: forwarding it would start a process per token.
const SKIP = new Set([
  "message.part.delta", "file.watcher.updated", "lsp.updated", "lsp.client.diagnostics",
  "installation.updated", "installation.update-available", "server.connected", "server.instance.disposed",
  "global.disposed", "tui.prompt.append", "tui.command.execute", "tui.toast.show", "pty.created",
  "pty.updated", "pty.exited", "pty.deleted", "vcs.branch.updated", "mcp.tools.changed",
])

// Parts and messages are re-sent as they grow: forward the states worth a row, not every chunk.
function worthForwarding(type, properties) {
  if (SKIP.has(type)) return false
  if (type === "message.part.updated") {
    const part = properties && properties.part
    if (!part) return false
    if (part.type === "text" || part.type === "reasoning") return Boolean(part.time && part.time.end) || part.synthetic === true
    if (part.type === "tool") return Boolean(part.state && part.state.status !== "pending")
    return part.type !== "step-start" && part.type !== "snapshot"
  }
  if (type === "message.updated") {
    const info = properties && properties.info
    if (!info) return false
    return info.role === "user" || Boolean(info.error) || Boolean(info.time && info.time.completed) || info.summary === true
  }
  return true
}

function forward(type, properties) {
  try {
    if (!worthForwarding(type, properties)) return false
    const line = JSON.stringify({ type, properties })
    const child = spawn(COMMAND, ARGS, { detached: true, stdio: ["pipe", "ignore", "ignore"], windowsHide: true })
    if (child && typeof child.on === "function") child.on("error", () => {})
    if (child && child.stdin) {
      child.stdin.on("error", () => {})
      child.stdin.end(line)
    }
    if (child && typeof child.unref === "function") child.unref()
    return true
  } catch (_) {
    return false // telemetry must never get in OpenCode's way
  }
}

function copyOf(value) {
  // What the plugin reads, it reads from a copy: nothing OpenCode handed over is changed.
  try {
    return value === undefined ? undefined : JSON.parse(JSON.stringify(value))
  } catch (_) {
    return undefined
  }
}

// The only export: OpenCode calls every function a plugin module exports as a plugin.
export const ClaudeIngest = async () => ({
  event: async ({ event } = {}) => {
    try {
      if (event && typeof event.type === "string") forward(event.type, copyOf(event.properties) || {})
    } catch (_) {}
  },
  "tool.execute.before": async (input, output) => {
    try {
      forward("tool.execute.before", { ...copyOf(input), args: copyOf(output && output.args) })
    } catch (_) {}
  },
  "tool.execute.after": async (input, output) => {
    try {
      const result = copyOf(output) || {}
      forward("tool.execute.after", { ...copyOf(input), title: result.title, output: result.output, metadata: result.metadata })
    } catch (_) {}
  },
  "chat.message": async (input, output) => {
    try {
      forward("chat.message", { ...copyOf(input), message: copyOf(output && output.message), parts: copyOf(output && output.parts) })
    } catch (_) {}
  },
})
