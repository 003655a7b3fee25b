"""The on-disk protocol between a requester and a data owner: where files live
(``layout``), how documents are read (``documents``), manifests, SyftBox permissions, and
the two sides' stores (``requester``, ``owner``)."""
