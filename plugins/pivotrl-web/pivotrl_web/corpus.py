"""A local document corpus with BM25 search (``rank_bm25.BM25Okapi``) and ``open``.

Any corpus of ``{id, title, content}`` records plugs in: a JSONL file (one record a line) or a
folder of ``<id>.json`` files (the tau2 banking knowledge base). Tokenisation is upstream tau2's
(``text.lower().split()``) and only ``content`` is indexed by default, so scores match tau2's
``KB_search``; ``fields=("title", "content")`` indexes titles too.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rank_bm25 import BM25Okapi

from pivotrl_core import InputError

__all__ = ["Corpus", "Document", "Hit", "load_corpus", "tokenize"]


def tokenize(text: str) -> list[str]:
    """Upstream tau2's BM25 tokenisation: lower-case, split on whitespace."""
    return text.lower().split()


@dataclass(frozen=True)
class Document:
    """One corpus record."""

    id: str
    title: str
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "title": self.title, "content": self.content}


@dataclass(frozen=True)
class Hit:
    """One search result: the document id, its title and its BM25 score."""

    id: str
    title: str
    score: float


def _document(row: Any, path: Path, line: int | None) -> Document:
    if not isinstance(row, dict):
        raise InputError("expected an object with id, title and content", path=path, line=line)
    for key in ("id", "title", "content"):
        if not isinstance(row.get(key), str):
            raise InputError("missing or not a string", path=path, line=line, field=key)
    return Document(row["id"], row["title"], row["content"])


def _read_jsonl(path: Path) -> list[Document]:
    docs = []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"not JSON ({e.msg})", path=path, line=line_no) from None
            docs.append(_document(row, path, line_no))
    return docs


def _read_folder(path: Path) -> list[Document]:
    docs = []
    for file in sorted(path.glob("*.json")):
        try:
            row = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise InputError(f"not JSON ({e.msg})", path=file, line=e.lineno) from None
        docs.append(_document(row, file, None))
    return docs


class Corpus:
    """Documents by id and a BM25 index over them; per-term score columns and ``search`` results
    are memoised (a query's scores are the sum of its terms' columns, as in ``get_scores``)."""

    def __init__(self, documents: Iterable[Document], fields: Sequence[str] = ("content",)) -> None:
        self.documents: dict[str, Document] = {}
        for doc in documents:
            if doc.id in self.documents:
                raise InputError(f"duplicate document id {doc.id!r}", field="id")
            self.documents[doc.id] = doc
        if not self.documents:
            raise InputError("the corpus has no documents")
        self.fields = tuple(fields)
        self.ids = list(self.documents)
        texts = [" ".join(getattr(d, f) for f in self.fields) for d in self.documents.values()]
        self._bm25 = BM25Okapi([tokenize(t) for t in texts])
        self._column = functools.lru_cache(maxsize=4096)(self._term_scores)
        self.search = functools.lru_cache(maxsize=65536)(self._search)  # type: ignore[method-assign]

    def _term_scores(self, term: str) -> np.ndarray:
        """One term's BM25 scores over all documents (``get_scores`` sums these over the query)."""
        column = self._bm25.get_scores([term])
        column.setflags(write=False)
        return column

    def scores(self, query: str) -> np.ndarray:
        """BM25 scores of every document for ``query`` (equal to ``BM25Okapi.get_scores``)."""
        total = np.zeros(len(self.ids))
        for term in tokenize(query):
            total += self._column(term)
        return total

    def __len__(self) -> int:
        return len(self.documents)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self.documents

    def _search(self, query: str, k: int = 10) -> tuple[Hit, ...]:
        """The top ``k`` documents for ``query`` (ties broken by corpus order); none for no terms."""
        if not tokenize(query) or k < 1:
            return ()
        scores = self.scores(query)
        top = np.argsort(-scores, kind="stable")[:k]
        return tuple(
            Hit(self.ids[i], self.documents[self.ids[i]].title, round(float(scores[i]), 4))
            for i in top
            if scores[i] > 0
        )

    def open(self, doc_id: str) -> Document | None:
        """The document with this id, or ``None``."""
        return self.documents.get(doc_id)


@functools.lru_cache(maxsize=8)
def load_corpus(path: str | Path, fields: tuple[str, ...] = ("content",)) -> Corpus:
    """Read a corpus (JSONL file or folder of JSON files) and index it; cached per path."""
    p = Path(path)
    if p.is_dir():
        return Corpus(_read_folder(p), fields)
    if p.is_file():
        return Corpus(_read_jsonl(p), fields)
    raise InputError(f"corpus {p} is neither a JSONL file nor a folder of JSON documents")
