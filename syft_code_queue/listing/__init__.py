"""Listings of jobs: the exact index kept current by change feeds (``index``), its
versioned snapshots (``snapshot``), and the table and DataFrame a notebook shows (``table``)."""
