"""total.txt holds the sum of the amount column of sales.csv."""

import csv
from pathlib import Path

with open("sales.csv") as fh:
    expected = sum(int(row["amount"]) for row in csv.DictReader(fh))
path = Path("total.txt")
assert path.is_file(), "total.txt does not exist"
assert path.read_text().strip() == str(expected), f"expected {expected}, found {path.read_text().strip()!r}"
print("PASSED")
