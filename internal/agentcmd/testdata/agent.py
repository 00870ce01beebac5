#!/usr/bin/env python3
"""A second, independent agent: the OpenAI chat API over urllib, four tools
in the current directory, the prompt on stdin, the final answer on stdout."""
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

BASE = os.environ["OPENAI_BASE_URL"].rstrip("/")
KEY = os.environ["OPENAI_API_KEY"]
MODEL = os.environ["OPENAI_MODEL"]


def tool(name, desc, **props):
    return {"type": "function", "function": {"name": name, "description": desc, "parameters": {
        "type": "object", "properties": {k: {"type": "string"} for k in props}, "required": list(props)}}}


TOOLS = [
    tool("bash", "Run a bash command in the workspace.", command=1),
    tool("read_file", "Read a file.", path=1),
    tool("write_file", "Write a file.", path=1, content=1),
    tool("list_dir", "List a directory.", path=1),
]


def inside(path):
    full = os.path.realpath(path)
    if os.path.commonpath([full, os.getcwd()]) != os.getcwd():
        raise ValueError("path outside the workspace: " + path)
    return full


def run_tool(name, args):
    try:
        if name == "bash":
            p = subprocess.run(["bash", "-c", args["command"]], capture_output=True, text=True, timeout=60)
            return "exit code %d\n%s%s" % (p.returncode, p.stdout, p.stderr)
        if name == "read_file":
            with open(inside(args["path"])) as f:
                return f.read()
        if name == "write_file":
            path = inside(args["path"])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(args["content"])
            return "wrote %d bytes" % len(args["content"])
        if name == "list_dir":
            d = inside(args["path"])
            return "\n".join(e + ("/" if os.path.isdir(os.path.join(d, e)) else "") for e in sorted(os.listdir(d)))
        return "unknown tool " + name
    except Exception as e:  # the model gets the error and may correct itself
        return "error: %s" % e


def chat(messages):
    body = json.dumps({"model": MODEL, "messages": messages, "tools": TOOLS}).encode()
    req = urllib.request.Request(BASE + "/chat/completions", body, {
        "Content-Type": "application/json", "Authorization": "Bearer " + KEY})
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            return json.load(resp)["choices"][0]["message"]
    except urllib.error.HTTPError as e:
        sys.exit("model request failed: HTTP %d: %s" % (e.code, e.read().decode(errors="replace")[:300]))


def main():
    prompt = sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read()
    messages = [{"role": "user", "content": prompt.strip()}]
    for _ in range(int(os.environ.get("AGENT_MAX_TURNS", "20"))):
        msg = chat(messages)
        messages.append({k: v for k, v in msg.items() if v is not None})
        calls = msg.get("tool_calls") or []
        if not calls:
            print(msg.get("content") or "")
            return
        for c in calls:
            args = json.loads(c["function"]["arguments"] or "{}")
            out = run_tool(c["function"]["name"], args)
            messages.append({"role": "tool", "tool_call_id": c["id"], "content": out})
    sys.exit("no final answer")


if __name__ == "__main__":
    main()
