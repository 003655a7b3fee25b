"""Notebook widgets (anywidget): ``SubmitForm`` for requesters, ``JobTable`` for both sides,
``ApprovalPanel`` for data owners. They sit on top of the client and server APIs and keep
updating from one coalescing UI pump while other cells run."""

from .approval_panel import ApprovalPanel
from .job_table import JobTable
from .submit_form import SubmitForm

__all__ = ["ApprovalPanel", "JobTable", "SubmitForm"]
