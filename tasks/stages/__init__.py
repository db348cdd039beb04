"""One module per stage: the function that computes it (see tasks/catalog.py).

A stage's module is the root of its code version: keep its imports to what
the stage needs, so that an edit elsewhere does not recompute it.
"""
