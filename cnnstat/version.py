"""cnnstat's version (pyproject.toml says the same); a module of its own so that every layer may
name it without importing the package's interface (cnnstat/__init__.py)."""

__version__ = "0.1.0"
