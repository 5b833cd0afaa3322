import random

rng = random.Random(7)
with open("sales.csv", "w") as fh:
    fh.write("id,region,amount\n")
    for i in range(1, 41):
        fh.write(f"{i},{rng.choice(['north', 'south', 'east', 'west'])},{rng.randint(5, 500)}\n")
