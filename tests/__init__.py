"""The test suite. Its helper modules (tests.labeling, tests.helpers, ...) are not test modules, so
pytest would leave their ``assert`` bare: a failure there would read only "AssertionError"."""

import pkgutil

import pytest

pytest.register_assert_rewrite(*(f"tests.{module.name}" for module in pkgutil.iter_modules(__path__)))
