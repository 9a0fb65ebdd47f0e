"""A helper module app.py imports by its own name: serve puts app.py's folder on sys.path."""


def cents_of(items: list[int]) -> int:
    return sum(items) * 100
