"""Every table, imported in one place so migrations and tests see the whole schema."""

from reclaim.api.models import IdempotencyRecord
from reclaim.catalog.models import Product
from reclaim.db import Base
from reclaim.notifications.models import OutboxMessage
from reclaim.orders.models import Customer, Order, OrderLine
from reclaim.returns.models import Return, ReturnEvent, ReturnLine
from reclaim.users.models import ApiKey

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "Customer",
    "IdempotencyRecord",
    "Order",
    "OrderLine",
    "OutboxMessage",
    "Product",
    "Return",
    "ReturnEvent",
    "ReturnLine",
    "metadata",
]
