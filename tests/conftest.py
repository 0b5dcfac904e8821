import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample-images"
CORPUS = ROOT.parent / "shared" / "corpus"


@pytest.fixture(autouse=True)
def _no_user_cache(monkeypatch, tmp_path_factory):
    # Tests never read or write the user's cache; cache tests point it somewhere.
    monkeypatch.setenv("LAYERSCOPE_CACHE", "off")


@pytest.fixture(autouse=True)
def _unmap_archives():
    # each test's archives are unmapped after it, so the test process does not
    # grow with every archive the suite opens
    yield
    from layerscope.layers.blobs import close_all

    close_all()


def corpus_file(*parts) -> pathlib.Path:
    p = CORPUS.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"reference corpus not present ({p})")
    return p
