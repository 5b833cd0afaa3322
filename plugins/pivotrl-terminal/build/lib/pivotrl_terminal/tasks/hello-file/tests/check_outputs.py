"""hello.txt exists and holds exactly 'Hello, world!'."""

from pathlib import Path

path = Path("hello.txt")
assert path.is_file(), "hello.txt does not exist"
assert path.read_text().strip() == "Hello, world!", f"unexpected content: {path.read_text()!r}"
print("PASSED")
