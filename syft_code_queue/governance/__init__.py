"""What the owner governs a queue with beyond one approval: diffs between versions of a
job (``diff``), code trusted to approve itself (``trust``), and notifications of what
happens to jobs, for owners and requesters alike (``notify``)."""
