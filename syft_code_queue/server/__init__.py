"""The data owner's queue server (``server``), and its parts: intake, workers, recovery,
cleanup, the start journal, the scratch slots and the serve thread's wake-up."""

from ..errors import ServerAlreadyRunning
from .intake import ApprovalCallback
from .server import CodeQueueServer, create_server

__all__ = ["ApprovalCallback", "CodeQueueServer", "ServerAlreadyRunning", "create_server"]
