"""calc.py prints the sum of its two arguments."""

import subprocess

for a, b in [(2, 3), (-4, 10), (0, 0), (123, 877)]:
    out = subprocess.run(["python3", "calc.py", str(a), str(b)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(a + b), f"calc.py {a} {b} printed {out.stdout.strip()!r}"
print("PASSED")
