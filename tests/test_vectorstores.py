"""Vector stores by name: the same calls against a Chroma folder and a real Chroma server on 127.0.0.1."""

from __future__ import annotations

import numpy as np
import pytest
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)
from test_store import chroma_server  # noqa: F401 (a fixture)

from qa.config import Settings
from qa.store import IndexUnavailable
from qa.vectorstores import ChromaFile, ChromaServer, make_vector_store


def unit(*values: float) -> list[float]:
    vector = np.array(values, dtype=float)
    return (vector / np.linalg.norm(vector)).tolist()


def node(chunk_id: str, article: str, vector: list[float]) -> TextNode:
    return TextNode(id_=chunk_id, text=f"text of {chunk_id}", embedding=vector,
                    metadata={"paragraph_id": f"p-{chunk_id}", "article_id": article})


def test_the_settings_choose_the_store_and_an_unknown_name_is_refused(tmp_path):
    assert isinstance(make_vector_store(Settings(index_dir=tmp_path)), ChromaFile)
    server = make_vector_store(Settings(index_dir=tmp_path, chroma_host="127.0.0.1", chroma_port=8123))
    assert isinstance(server, ChromaServer) and server.location == "http://127.0.0.1:8123"
    with pytest.raises(ValueError, match="chroma-file, chroma-server"):
        make_vector_store(Settings(index_dir=tmp_path), "faiss")


@pytest.fixture(params=["chroma-file", "chroma-server"])
def backend(request, tmp_path):
    if request.param == "chroma-server":
        port = request.getfixturevalue("chroma_server")
        return make_vector_store(Settings(index_dir=tmp_path, chroma_host="127.0.0.1", chroma_port=port)), None
    return make_vector_store(Settings(index_dir=tmp_path)), tmp_path / "vectors"


def test_a_collection_is_written_read_filtered_relabelled_cleaned_and_dropped(backend):
    store, folder = backend
    with pytest.raises(IndexUnavailable, match="missing or unreadable"):
        store.open("qa-000000000001", folder, create=False)
    with pytest.raises(IndexUnavailable, match="no collection of ours"):
        store.open("someone-elses", folder, create=True)

    collection = store.open("qa-000000000001", folder, create=True)
    collection.add([node("a1", "A", unit(1, 0, 0)), node("a2", "A", unit(1, 1, 0)), node("b1", "B", unit(0, 0, 1))])
    assert collection.count() == 3
    assert collection.metadata()["b1"].items() >= {"paragraph_id": "p-b1", "article_id": "B"}.items()

    only_b = MetadataFilters(filters=[MetadataFilter(key="article_id", value=["B"], operator=FilterOperator.IN)])
    found = collection.query_store.query(VectorStoreQuery(query_embedding=unit(1, 0, 0), similarity_top_k=2))
    assert found.ids == ["a1", "a2"]
    found = collection.query_store.query(
        VectorStoreQuery(query_embedding=unit(1, 0, 0), similarity_top_k=2, filters=only_b))
    assert found.ids == ["b1"]
    # our own calls, which retrieval uses: a search by ids, and the stored vectors themselves
    assert [chunk_id for chunk_id, _ in collection.search(unit(1, 0, 0), 2)] == ["a1", "a2"]
    nearest = collection.search(unit(1, 0, 0), 2, ids=["a2", "b1"])
    assert [chunk_id for chunk_id, _ in nearest] == ["a2", "b1"]
    assert nearest[0][1] == pytest.approx(np.exp(-(1 - np.sqrt(0.5))), abs=1e-5)  # llama-index's similarity
    vectors = collection.vectors(["b1", "a1", "missing"])
    assert sorted(vectors) == ["a1", "b1"] and np.allclose(vectors["b1"], unit(0, 0, 1), atol=1e-6)

    collection.update_metadata(["a2"], [{"paragraph_id": "p-a2", "article_id": "B"}])
    collection.delete(["b1"])
    collection.close()

    reopened = store.open("qa-000000000001", folder, create=False)
    assert sorted(reopened.ids()) == ["a1", "a2"]
    assert reopened.metadata()["a2"]["article_id"] == "B"
    reopened.close()

    store.drop("qa-000000000001", folder)
    store.drop("qa-000000000001", folder)  # already gone: no error
    with pytest.raises(IndexUnavailable, match="missing or unreadable"):
        store.open("qa-000000000001", folder, create=False)
