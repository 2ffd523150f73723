"""The version of nianbao, in a module of its own so that any module may import it without
importing the package's public face (nianbao/__init__.py), which imports them all."""

__version__ = "0.1.0"
