"""Every table, imported in one place so migrations and tests see the whole schema."""

from reclaim.analytics.models import (
    CohortDay,
    OrderDay,
    ReturnDay,
    ReturnFact,
    RollupCursor,
    SalesDay,
)
from reclaim.api.models import IdempotencyRecord
from reclaim.catalog.models import Product
from reclaim.db import Base
from reclaim.files.models import ReturnPhoto
from reclaim.logistics.models import Facility, Shipment, TrackingEvent
from reclaim.notifications.models import (
    Delivery,
    DeliveryAttempt,
    OutboxMessage,
    WebhookEndpoint,
)
from reclaim.orders.models import Customer, Order, OrderLine, OrderPayment
from reclaim.policy.models import PolicyVersion
from reclaim.prediction.models import PredictionModel
from reclaim.refunds.models import (
    CreditAccount,
    CreditPosting,
    CreditTransaction,
    Exchange,
    Refund,
    RefundPart,
)
from reclaim.returns.models import Return, ReturnEvent, ReturnLine
from reclaim.users.models import ApiKey, StaffSession, StaffUser
from reclaim.warehouse.models import (
    DispositionRecord,
    Inspection,
    InventoryMovement,
    Manifest,
    ManifestItem,
    Receipt,
    ReceivingFlag,
    RefurbWorkOrder,
)
from reclaim.web.models import FormSubmission, RateLimitWindow

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "CohortDay",
    "Customer",
    "Delivery",
    "DeliveryAttempt",
    "Facility",
    "IdempotencyRecord",
    "Order",
    "OrderLine",
    "OrderDay",
    "OrderPayment",
    "CreditAccount",
    "CreditPosting",
    "CreditTransaction",
    "Exchange",
    "Refund",
    "RefundPart",
    "OutboxMessage",
    "PolicyVersion",
    "PredictionModel",
    "Product",
    "Return",
    "ReturnDay",
    "ReturnEvent",
    "ReturnFact",
    "ReturnLine",
    "ReturnPhoto",
    "Shipment",
    "TrackingEvent",
    "WebhookEndpoint",
    "DispositionRecord",
    "Inspection",
    "InventoryMovement",
    "Manifest",
    "ManifestItem",
    "Receipt",
    "ReceivingFlag",
    "RefurbWorkOrder",
    "RollupCursor",
    "SalesDay",
    "StaffSession",
    "StaffUser",
    "FormSubmission",
    "RateLimitWindow",
    "metadata",
]
