"""Full-text search over the archive: complete for 1- and 2-character Chinese queries.

``text``: normalisation, tokens and the exact match rule; ``query``: the query language;
``index``: the on-disk index (tantivy, keyed-hash terms only); ``engine``: running a query,
verifying candidates against the decrypted text, highlighting hits. See docs/search.md.
"""
