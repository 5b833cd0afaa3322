"""The file view/edit tool, run INSIDE the sandbox (stdlib only; never imported by the plugin).

Usage: ``python3 sandbox_editor.py <base64 of a JSON object>``; the object holds the
``str_replace_editor`` arguments (``command``: view | create | str_replace | insert, ``path``,
``view_range``, ``file_text``, ``old_str``, ``new_str``, ``insert_line``). Prints the observation;
exit status 0 on success, 1 when the call is rejected (its message starts with ``Error:``).
"""

import base64
import json
import os
import sys


class ToolError(Exception):
    pass


def _numbered(lines, start):
    return "\n".join(f"{i:6d}\t{line}" for i, line in enumerate(lines, start))


def view(path, args):
    if os.path.isdir(path):
        names = []
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            depth = root[len(path) :].count(os.sep)
            if depth >= 2:
                dirs[:] = []
            names += [os.path.join(root, n) for n in sorted(dirs + files) if not n.startswith(".")]
        return f"Files and directories in {path} (2 levels, hidden ones left out):\n" + "\n".join(names)
    with open(path) as fh:
        lines = fh.read().split("\n")
    rng = args.get("view_range")
    if rng is None:
        return f"Here's the result of running `cat -n` on {path}:\n" + _numbered(lines, 1)
    if not (isinstance(rng, list) and len(rng) == 2 and all(isinstance(x, int) for x in rng)):
        raise ToolError("`view_range` must be a list of two integers")
    lo, hi = rng
    if lo < 1 or lo > len(lines) or (hi != -1 and hi < lo):
        raise ToolError(f"Invalid `view_range` {rng}: the file has {len(lines)} lines")
    chunk = lines[lo - 1 :] if hi == -1 else lines[lo - 1 : hi]
    return f"Here's the result of running `cat -n` on {path}:\n" + _numbered(chunk, lo)


def create(path, args):
    if os.path.exists(path):
        raise ToolError(f"File already exists at: {path}. Cannot overwrite files using command `create`.")
    if "file_text" not in args:
        raise ToolError("Parameter `file_text` is required for command: create")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(str(args["file_text"]))
    return f"File created successfully at: {path}"


def str_replace(path, args):
    if "old_str" not in args:
        raise ToolError("Parameter `old_str` is required for command: str_replace")
    with open(path) as fh:
        text = fh.read()
    old, new = str(args["old_str"]), str(args.get("new_str", ""))
    count = text.count(old) if old else 0
    if count == 0:
        raise ToolError(f"No replacement was performed, old_str `{old}` did not appear verbatim in {path}.")
    if count > 1:
        raise ToolError(f"No replacement was performed. Multiple occurrences of old_str `{old}` in {path}.")
    with open(path, "w") as fh:
        fh.write(text.replace(old, new, 1))
    return f"The file {path} has been edited."


def insert(path, args):
    with open(path) as fh:
        lines = fh.read().split("\n")
    at = args.get("insert_line")
    if not isinstance(at, int) or not 0 <= at <= len(lines):
        raise ToolError(f"Invalid `insert_line` {at!r}: it must be in [0, {len(lines)}]")
    lines[at:at] = str(args.get("new_str", "")).split("\n")
    with open(path, "w") as fh:
        fh.write("\n".join(lines))
    return f"The file {path} has been edited."


COMMANDS = {"view": view, "create": create, "str_replace": str_replace, "insert": insert}


def main(argv):
    args = json.loads(base64.b64decode(argv[1]).decode())
    command, path = args.get("command"), args.get("path")
    if command not in COMMANDS:
        raise ToolError(f"Unrecognized command {command!r}. Allowed: {', '.join(COMMANDS)}")
    if not isinstance(path, str) or not path:
        raise ToolError("Parameter `path` is required")
    if command != "create" and not os.path.exists(path):
        raise ToolError(f"The path {path} does not exist.")
    return COMMANDS[command](path, args)


if __name__ == "__main__":
    try:
        print(main(sys.argv))
    except ToolError as e:
        print(f"Error: {e}")
        sys.exit(1)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        print(f"Error: {type(e).__name__}: {e}")
        sys.exit(1)
