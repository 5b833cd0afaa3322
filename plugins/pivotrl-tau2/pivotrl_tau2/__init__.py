"""pivotrl-tau2: the real tau2-Bench (airline, retail, telecom solo) as pivotrl domains."""

__all__: list[str] = []
