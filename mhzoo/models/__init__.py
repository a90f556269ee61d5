"""Built-in architectures, one readable table per model (importing registers them)."""

from mhzoo.models import (  # noqa: F401
    mobilenet_edgetpu,
    mobilenet_v1,
    mobilenet_v2,
    mobilenet_v3,
    multi_hardware,
    proxylessnas,
)
from mhzoo.models._table import table

__all__ = ["table"]
