"""Thin shim: the project is described in pyproject.toml (PEP 621)."""
from setuptools import setup

setup()
