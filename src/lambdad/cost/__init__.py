"""What the workload would cost on AWS Lambda: usage recorded per invocation and per
provisioned concurrency config, priced with AWS's published prices, read through a
subset of Cost Explorer's API (see README.md beside this file)."""

from lambdad.cost.bill import LineItem, price
from lambdad.cost.explorer import CostExplorer, Period, Query
from lambdad.cost.prices import BadPriceTable, PriceTable
from lambdad.cost.recorder import UsageRecorder

__all__ = [
    "BadPriceTable",
    "CostExplorer",
    "LineItem",
    "Period",
    "PriceTable",
    "Query",
    "UsageRecorder",
    "price",
]
