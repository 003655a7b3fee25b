"""Output release: results of a run that may carry the owner's private data are held in
owner-private storage until the owner, or a rule the owner set, releases them file by file
(``desk``); each file gets a verdict from the output policy (``policy``) and from ACRO's
``results.json`` when there is one (``acro``); ``held`` keeps them and shows them.

Depends on ``protocol/`` (where files live and how they are published), ``lifecycle`` and
``models``; the server's workers and owner actions call into it.
"""

from .desk import ReleaseCallback, ReleaseDesk, reads_data, release_needed
from .held import CsvPreview, HeldFile, HeldOutputs, HeldResults
from .policy import Check, ColumnSummary, Finding, OutputPolicy

__all__ = [
    "Check",
    "ColumnSummary",
    "CsvPreview",
    "Finding",
    "HeldFile",
    "HeldOutputs",
    "HeldResults",
    "OutputPolicy",
    "ReleaseCallback",
    "ReleaseDesk",
    "reads_data",
    "release_needed",
]
