"""The Quivo sandbox: an honest local fake of the Quivo API (docs/sandbox.md)."""

from pipeline.sandbox.app import STATE, Faults, SandboxConfig, SandboxState, Stats, create_app
from pipeline.sandbox.orders import FIRST_ORDER_ID, generate_order, load_orders
from pipeline.sandbox.serve import SandboxThread, running_sandbox

__all__ = [
    "FIRST_ORDER_ID",
    "STATE",
    "Faults",
    "SandboxConfig",
    "SandboxState",
    "SandboxThread",
    "Stats",
    "create_app",
    "generate_order",
    "load_orders",
    "running_sandbox",
]
