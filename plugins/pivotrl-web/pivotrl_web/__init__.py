"""pivotrl's web-search domain: a search environment over a local corpus, a functional verifier
for search turns, a task benchmark on the tau2 banking knowledge base and a BrowseComp adapter."""

__all__: list[str] = []
