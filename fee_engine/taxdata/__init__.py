"""Where summert skattegrunnlag comes from: files now; the HTTP client and emulator plug in here.

Every source answers :meth:`TaxSource.lookup` with a :class:`Lookup`, so income
aggregation does not know whether the data came from a folder or over HTTP.
"""

from .base import Lookup, TaxSource, fallback_plan, fetch_with_fallback
from .files import FileSource

__all__ = ["Lookup", "TaxSource", "FileSource", "fallback_plan", "fetch_with_fallback"]
