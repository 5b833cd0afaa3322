"""error_count.txt holds the number of ERROR lines of logs/app.log (3)."""

from pathlib import Path

path = Path("error_count.txt")
assert path.is_file(), "error_count.txt does not exist"
assert path.read_text().strip() == "3", f"expected 3, found {path.read_text().strip()!r}"
print("PASSED")
